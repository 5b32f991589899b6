// minemap's map: the OGC vector tiles of hazards, releases, remaining land and districts,
// drawn by MapLibre from minemap's own origin. Nothing is fetched from anywhere else.
"use strict";

maplibregl.setWorkerUrl("/static/vendor/maplibre-gl-csp-worker.js");

// Okabe & Ito's palette: told apart by readers with any common colour-vision deficiency.
const COLOURS = {
  SHA: "#E69F00", CHA: "#D55E00",
  cancelled: "#56B4E9", reduced: "#009E73", cleared: "#0072B2",
  remaining: "#CC79A7", border: "#444444", land: "#FAFAF7", water: "#DCE9F2",
};

function tiles(collection) {
  return {
    type: "vector",
    tiles: [`${location.origin}/ogc/collections/${collection}/tiles/WebMercatorQuad/{z}/{y}/{x}`],
    maxzoom: 16,
  };
}

const style = {
  version: 8,
  sources: {
    districts: tiles("districts"), remaining: tiles("remaining"),
    hazards: tiles("hazards"), releases: tiles("releases"),
  },
  layers: [
    {id: "background", type: "background", paint: {"background-color": COLOURS.water}},
    {id: "districts", type: "fill", source: "districts", "source-layer": "districts",
     paint: {"fill-color": COLOURS.land}},
    {id: "remaining", type: "fill", source: "remaining", "source-layer": "remaining",
     paint: {"fill-color": COLOURS.remaining, "fill-opacity": 0.45}},
    {id: "hazards", type: "fill", source: "hazards", "source-layer": "hazards",
     paint: {"fill-color": ["match", ["get", "classification"],
                            "CHA", COLOURS.CHA, "SHA", COLOURS.SHA, "#999999"],
             "fill-opacity": 0.7}},
    {id: "releases", type: "fill", source: "releases", "source-layer": "releases",
     paint: {"fill-color": ["match", ["get", "method"], "cancelled", COLOURS.cancelled,
                            "reduced", COLOURS.reduced, "cleared", COLOURS.cleared, "#999999"],
             "fill-opacity": 0.7}},
    {id: "district-borders", type: "line", source: "districts", "source-layer": "districts",
     paint: {"line-color": COLOURS.border, "line-width": 0.8}},
  ],
};

const map = new maplibregl.Map({
  container: "map", style, center: [46.9, 39.8], zoom: 8, hash: true,
  attributionControl: false,
});
map.addControl(new maplibregl.NavigationControl({showCompass: false}));
window.minemapMap = map; // for the browser tests, and for anyone at the console

// ?district=AZ-FUZ (a link from the dashboard's table) shows that district whole.
const district = new URLSearchParams(location.search).get("district");
if (district) {
  const filter = encodeURIComponent(`iso_3166_2 = '${district.replaceAll("'", "''")}'`);
  fetch(`/ogc/collections/districts/items?filter=${filter}`,
        {headers: {Accept: "application/geo+json"}})
    .then(response => response.json())
    .then(({features: [found]}) => {
      if (!found) return;
      const points = found.geometry.coordinates.flat(2);
      const lons = points.map(p => p[0]), lats = points.map(p => p[1]);
      map.fitBounds([[Math.min(...lons), Math.min(...lats)], [Math.max(...lons), Math.max(...lats)]],
                    {padding: 20, animate: false});
    });
}

// The legend's swatches take the map's colours, so that the two cannot disagree.
for (const swatch of document.querySelectorAll("#legend [data-colour]")) {
  swatch.style.background = COLOURS[swatch.dataset.colour];
}

// The layers a reader can switch, from the legend's checkboxes.
for (const box of document.querySelectorAll("#legend input[data-layer]")) {
  box.addEventListener("change", () => map.setLayoutProperty(
    box.dataset.layer, "visibility", box.checked ? "visible" : "none"));
}

// Clicking a feature shows its properties, as the tile carries them.
map.on("click", (event) => {
  const [feature] = map.queryRenderedFeatures(event.point,
                                               {layers: ["releases", "hazards", "remaining"]});
  if (!feature) return;
  const table = document.createElement("table");
  for (const [name, value] of Object.entries(feature.properties)) {
    const row = table.insertRow();
    row.insertCell().textContent = name;
    row.insertCell().textContent = String(value);
  }
  new maplibregl.Popup().setLngLat(event.lngLat).setDOMContent(table).addTo(map);
});
