// minemap's map: the OGC vector tiles of hazards, releases, remaining land and districts,
// drawn by MapLibre from minemap's own origin, at any date. Nothing is fetched from anywhere
// else: the labels are the page's own text (no font glyphs), the places a file of minemap's.
"use strict";

const {t, area, km2, share, report, today, monthEnds, view, setView, COLOURS} = minemap;
maplibregl.setWorkerUrl("/static/vendor/maplibre-gl/maplibre-gl-csp-worker.js");

// The choropleth's classes: sequential ramps of one hue (ColorBrewer YlOrBr and PuBu), read
// by lightness, which every colour-vision deficiency keeps.
const SHADES = {
  remaining: {value: row => row.remaining_m2, breaks: [1e6, 1e7, 5e7, 2e8],
              colours: ["#ffffd4", "#fed98e", "#fe9929", "#d95f0e", "#993404"],
              label: (low, high) => high === undefined ? `≥ ${km2(low / 1e6)}`
                : `${km2(low / 1e6)} – ${km2(high / 1e6)}`},
  released: {value: row => row.mapped_m2 > 0 ? row.released_m2 / row.mapped_m2 : null,
             breaks: [0.2, 0.4, 0.6, 0.8],
             colours: ["#f1eef6", "#bdc9e1", "#74a9cf", "#2b8cbe", "#045a8d"],
             label: (low, high) => high === undefined ? `≥ ${share(low)}`
               : `${share(low)} – ${share(high)}`},
};
const TOGGLED = ["hazards", "releases", "remaining", "choropleth", "district-borders", "labels"];
const SHOWN_BY_DEFAULT = ["hazards", "releases", "remaining", "district-borders", "labels"];

// The dates the map can show, and the one it shows (the link's, else today).
const ENDS = monthEnds();
const asDate = view().get("date");
let shownDate = /^\d{4}-\d{2}-\d{2}$/.test(asDate ?? "") && asDate < today() ? asDate : today();

// The tiles of a collection at a date: hazards and releases recorded by then, the land
// remaining then. Today's are the undated tiles, cached by the server.
function tilesAt(collection, date) {
  const past = date !== null && date < today();
  const datetime = !past ? null : collection === "remaining" ? date : `../${date}`;
  const query = datetime ? `?datetime=${encodeURIComponent(datetime)}` : "";
  return [`${location.origin}/ogc/collections/${collection}/tiles/WebMercatorQuad/{z}/{y}/{x}${query}`];
}
const DATED = ["hazards", "releases", "remaining"];
const source = collection => ({type: "vector", maxzoom: 16,
                               tiles: tilesAt(collection, DATED.includes(collection) ? shownDate : null)});

const style = {
  version: 8,
  sources: {
    districts: source("districts"), remaining: source("remaining"),
    hazards: source("hazards"), releases: source("releases"),
  },
  layers: [
    {id: "background", type: "background", paint: {"background-color": COLOURS.water}},
    {id: "districts", type: "fill", source: "districts", "source-layer": "districts",
     paint: {"fill-color": COLOURS.land}},
    {id: "choropleth", type: "fill", source: "districts", "source-layer": "districts",
     layout: {visibility: "none"}, paint: {"fill-color": COLOURS.land, "fill-opacity": 0.85}},
    {id: "remaining", type: "fill", source: "remaining", "source-layer": "remaining",
     paint: {"fill-color": COLOURS.remaining, "fill-opacity": 0.45}},
    {id: "hazards", type: "fill", source: "hazards", "source-layer": "hazards",
     paint: {"fill-color": ["match", ["get", "classification"],
                            "CHA", COLOURS.CHA, "SHA", COLOURS.SHA, "#999999"],
             // Closed hazards fade: the land is released, the record stays.
             "fill-opacity": ["match", ["get", "status"], "closed", 0.25, 0.7]}},
    {id: "releases", type: "fill", source: "releases", "source-layer": "releases",
     paint: {"fill-color": ["match", ["get", "method"], "cancelled", COLOURS.cancelled,
                            "reduced", COLOURS.reduced, "cleared", COLOURS.cleared, "#999999"],
             "fill-opacity": 0.7}},
    {id: "district-borders", type: "line", source: "districts", "source-layer": "districts",
     paint: {"line-color": COLOURS.border, "line-width": 0.8}},
  ],
};

const linkedPosition = Boolean(location.hash); // before the map writes its own there
const map = new maplibregl.Map({
  container: "map", style, center: [46.9, 39.8], zoom: 8, hash: true,
  attributionControl: false,
});
map.addControl(new maplibregl.NavigationControl({showCompass: false}));
map.addControl(new maplibregl.AttributionControl({compact: false,
                                                  customAttribution: t("attribution")}));
window.minemapMap = map; // for the browser tests, and for anyone at the console

// --- the date --------------------------------------------------------------------------

const slider = document.getElementById("date");
slider.max = String(ENDS.length - 1);
let districtRows = null; // /api/v1/reports/districts at shownDate, when the choropleth asks

// The map at `date`: the tiles (hazards recorded and releases completed by then, the land
// remaining then), the national figures, and the choropleth, which all come from the API.
async function showDate(date) {
  shownDate = date;
  const container = document.getElementById("map");
  container.dataset.date = date;
  delete container.dataset.drawn;
  drawTiles();
  slider.value = String(Math.max(0, ENDS.findIndex(end => end >= date)));
  document.getElementById("date-shown").textContent = date;
  setView({date: date < today() ? date : null});
  await Promise.all([figures(date), shade()]);
}

// A tile whose URL changes while it loads keeps its old data (MapLibre's worker re-parses
// what it fetched), so the tiles of the date shown are set only when none is loading.
let tilesDate = shownDate, tilesWaiting = false;
function drawTiles() {
  if (!map.loaded()) {
    if (!tilesWaiting) {
      tilesWaiting = true;
      map.once("idle", () => { tilesWaiting = false; drawTiles(); });
    }
    return;
  }
  // Says when the tiles of the date are drawn (the tests wait on it).
  const date = shownDate, drawn = () => {
    if (shownDate === date) document.getElementById("map").dataset.drawn = date;
  };
  if (date === tilesDate) { drawn(); return; }
  for (const collection of DATED) map.getSource(collection).setTiles(tilesAt(collection, date));
  tilesDate = date;
  map.once("idle", drawn);
}

async function figures(date) {
  const summary = await report(`/api/v1/reports/summary?as_of=${date}`);
  if (date !== shownDate) return; // a later date was asked for meanwhile
  document.getElementById("figures-title").textContent = t("figures", {date});
  for (const cell of document.querySelectorAll("#figures [data-key]")) {
    const value = summary[cell.dataset.key];
    cell.dataset.value = value ?? "";
    cell.textContent = cell.dataset.unit === "share" ? share(value)
      : cell.dataset.unit === "date" ? (value ?? t("figures.none")) : area(value);
  }
  document.getElementById("figures").dataset.date = date;
}

async function districtsAt(date) {
  if (districtRows === null || districtRows.date !== date) {
    const {districts: rows} = await report(`/api/v1/reports/districts?as_of=${date}`);
    districtRows = {date, byIso: new Map(rows.filter(r => r.iso_3166_2).map(r => [r.iso_3166_2, r]))};
  }
  return districtRows.byIso;
}

// --- the choropleth ----------------------------------------------------------------------

function classOf(shade, value) {
  const index = shade.breaks.findIndex(limit => value < limit);
  return index === -1 ? shade.breaks.length : index;
}

async function shade() {
  if (map.getLayoutProperty("choropleth", "visibility") !== "visible") return;
  const date = shownDate, name = document.getElementById("shade").value;
  const rows = await districtsAt(date);
  if (date !== shownDate) return;
  const spec = SHADES[name], colours = ["match", ["get", "iso_3166_2"]];
  for (const [iso, row] of rows) {
    const value = spec.value(row);
    if (value !== null) colours.push(iso, spec.colours[classOf(spec, value)]);
  }
  colours.push(COLOURS.land);
  map.setPaintProperty("choropleth", "fill-color", colours.length > 3 ? colours : COLOURS.land);
  const classes = document.getElementById("classes");
  classes.replaceChildren(...spec.colours.map((colour, i) => {
    const item = document.createElement("li"), swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colour;
    item.append(swatch, " ", spec.label(i === 0 ? 0 : spec.breaks[i - 1], spec.breaks[i]));
    return item;
  }));
  map.getContainer().dataset.shaded = `${name}@${date}`;
}

// --- layers, from the legend and the URL ---------------------------------------------------

const boxes = new Map([...document.querySelectorAll("#legend input[data-layer]")]
  .map(box => [box.dataset.layer, box]));
const asked = view().get("layers");
const visible = new Set(asked === null ? SHOWN_BY_DEFAULT : asked.split(",").filter(Boolean));

function setVisible(layer, on) {
  boxes.get(layer).checked = on;
  if (layer === "labels") document.getElementById("map").classList.toggle("unlabelled", !on);
  else map.setLayoutProperty(layer, "visibility", on ? "visible" : "none");
  if (on) visible.add(layer); else visible.delete(layer);
  const wanted = TOGGLED.filter(name => visible.has(name));
  setView({layers: wanted.join(",") === SHOWN_BY_DEFAULT.join(",") ? null : wanted.join(",")});
}

for (const [layer, box] of boxes) {
  box.addEventListener("change", () => { setVisible(layer, box.checked); shade(); });
}
const shadeChoice = document.getElementById("shade");
shadeChoice.value = SHADES[view().get("shade")] ? view().get("shade") : "remaining";
shadeChoice.addEventListener("change", () => {
  setView({shade: shadeChoice.value === "remaining" ? null : shadeChoice.value});
  shade();
});

// The legend's swatches take the map's colours, so that the two cannot disagree.
for (const swatch of document.querySelectorAll("#legend [data-colour]")) {
  swatch.style.background = COLOURS[swatch.dataset.colour];
}

// --- names: districts and settlements, as text over the map ---------------------------------

// A point well inside a district to write its name at: the centroid of its largest ring.
function labelPoint(geometry) {
  const polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
  let best = null;
  for (const [ring] of polygons) {
    let twice = 0, x = 0, y = 0;
    for (let i = 0; i < ring.length - 1; i++) {
      const [x0, y0] = ring[i], [x1, y1] = ring[i + 1], cross = x0 * y1 - x1 * y0;
      twice += cross; x += (x0 + x1) * cross; y += (y0 + y1) * cross;
    }
    if (twice !== 0 && (best === null || Math.abs(twice) > best.size)) {
      best = {size: Math.abs(twice), point: [x / (3 * twice), y / (3 * twice)]};
    }
  }
  return best && best.point;
}

function label(text, lngLat, className) {
  const element = document.createElement("div");
  element.className = `label ${className}`;
  element.textContent = text;
  return new maplibregl.Marker({element, anchor: "center"}).setLngLat(lngLat).addTo(map);
}

// Settlements by size, more of them as the map zooms in.
const PLACES_AT = [[11, 0], [10, 2000], [9, 10000], [8, 40000], [0, 200000]];
let places = [];
function showPlaces() {
  const zoom = map.getZoom();
  const least = PLACES_AT.find(([from]) => zoom >= from)[1];
  for (const place of places) {
    place.marker.getElement().hidden = place.population < least;
  }
}

async function names() {
  const [districts, settlements] = await Promise.all([
    fetch("/ogc/collections/districts/items?limit=1000&properties=name,name_az,iso_3166_2",
          {headers: {Accept: "application/geo+json"}}).then(r => r.json()),
    fetch("/static/places.json").then(r => r.json()),
  ]);
  for (const district of districts.features) {
    const point = labelPoint(district.geometry);
    const name = minemap.locale === "az" && district.properties.name_az
      ? district.properties.name_az : district.properties.name;
    if (point) label(name, point, "district-label");
  }
  places = settlements.places.map(place => ({
    population: place.population,
    marker: label(place.name, [place.lon, place.lat], "place-label"),
  }));
  showPlaces();
  map.on("zoomend", showPlaces);
  document.getElementById("map").dataset.labelled = "true";
  return districts.features;
}

// ?district=AZ-FUZ (a link from the dashboard's table) shows that district whole, unless
// the link also says where to look (#zoom/lat/lon).
function fitDistrict(features) {
  const wanted = view().get("district");
  const found = features.find(f => f.properties.iso_3166_2 === wanted);
  if (!found || linkedPosition) return;
  const points = (found.geometry.type === "Polygon" ? [found.geometry.coordinates]
    : found.geometry.coordinates).flat(2);
  const lons = points.map(p => p[0]), lats = points.map(p => p[1]);
  map.fitBounds([[Math.min(...lons), Math.min(...lats)], [Math.max(...lons), Math.max(...lats)]],
                {padding: 20, animate: false});
}

// --- inspecting ------------------------------------------------------------------------------

function table(rows) {
  const element = document.createElement("table");
  for (const [name, value] of rows) {
    const row = element.insertRow();
    row.insertCell().textContent = t(`field.${name}`);
    row.insertCell().textContent = value;
  }
  return element;
}

function shown(name, value) {
  if (value === null || value === undefined || value === "") return "–";
  if (name.endsWith("_m2")) return area(value);
  if (name === "classification") return t(`classification.${value}`);
  if (name === "status") return t(`status.${value}`);
  if (name === "method") return t(`method.${value}`);
  return Array.isArray(value) ? value.join(", ") : String(value);
}

function section(title, ...content) {
  const element = document.createElement("section"), heading = document.createElement("h3");
  heading.textContent = title;
  element.append(heading, ...content);
  return element;
}

function historyList(changes) {
  const list = document.createElement("ol");
  for (const change of changes) {
    const item = document.createElement("li");
    const who = change.organisation ? `${change.actor} (${change.organisation})` : change.actor;
    item.textContent = [String(change.at).slice(0, 10), change.action, who, change.reason]
      .filter(Boolean).join(" · ");
    list.append(item);
  }
  return list;
}

const HAZARD_FIELDS = ["code", "classification", "status", "hazard_types", "recorded_on",
                       "organisation", "district", "area_m2", "remaining_m2", "review"];
const RELEASE_FIELDS = ["code", "method", "hazard", "completed_on", "organisation", "area_m2",
                        "review"];

// A hazard: its properties and remaining area, the releases of it, and its history.
async function inspectRecord(kind, id, popup) {
  const [record, changes] = await Promise.all([
    report(`/api/v1/${kind}/${id}`), report(`/api/v1/${kind}/${id}/history`)]);
  const p = record.properties, fields = kind === "hazards" ? HAZARD_FIELDS : RELEASE_FIELDS;
  const parts = [table(fields.filter(name => name in p).map(name => [name, shown(name, p[name])]))];
  if (kind === "hazards") {
    const {features} = await report(`/api/v1/releases?hazard=${encodeURIComponent(p.code)}&limit=100`);
    const list = document.createElement("ul");
    for (const release of features) {
      const item = document.createElement("li"), r = release.properties;
      item.textContent = `${r.code}: ${shown("method", r.method)}, ${r.completed_on}, ${area(r.area_m2)}`;
      list.append(item);
    }
    parts.push(section(t("popup.releases"), features.length ? list : t("popup.no_releases")));
  }
  parts.push(section(t("popup.history"), historyList(changes)));
  popup.setDOMContent(section(p.code, ...parts));
}

async function inspectDistrict(properties, popup) {
  const date = shownDate, row = (await districtsAt(date)).get(properties.iso_3166_2);
  const title = t("popup.district", {name: properties.name, date});
  const body = row
    ? table(["remaining_m2", "released_m2", "mapped_m2"].map(name => [name, area(row[name])]))
    : t("popup.no_figures");
  const content = section(title, body);
  content.dataset.iso = properties.iso_3166_2;
  content.dataset.remaining = row ? row.remaining_m2 : "";
  popup.setDOMContent(content);
}

map.on("click", (event) => {
  const [feature] = map.queryRenderedFeatures(event.point, {layers: [
    "releases", "hazards", "remaining", "choropleth", "districts"].filter(
    layer => map.getLayoutProperty(layer, "visibility") !== "none")});
  if (!feature) return;
  const popup = new maplibregl.Popup({maxWidth: "24em"}).setLngLat(event.lngLat)
    .setText(t("popup.loading")).addTo(map);
  const layer = feature.layer.id, failed = error => popup.setText(String(error));
  if ((layer === "hazards" || layer === "releases") && feature.id !== undefined) {
    inspectRecord(layer, feature.id, popup).catch(failed);
  } else if (layer === "choropleth" || layer === "districts") {
    inspectDistrict(feature.properties, popup).catch(failed);
  } else {
    // Remaining land, or the merged coverage of low zooms: what the tile says of it.
    popup.setDOMContent(table(Object.entries(feature.properties)
      .map(([name, value]) => [name, shown(name, value)])));
  }
});

// --- replay: month by month, from January 2021 to today ---------------------------------------

const replay = document.getElementById("replay");
let playing = null;
function stop() {
  clearInterval(playing);
  playing = null;
  replay.textContent = t("date.play");
  replay.setAttribute("aria-pressed", "false");
}
replay.addEventListener("click", () => {
  if (playing !== null) { stop(); return; }
  let index = Number(slider.value) >= ENDS.length - 1 ? 0 : Number(slider.value);
  showDate(ENDS[index]);
  replay.textContent = t("date.pause");
  replay.setAttribute("aria-pressed", "true");
  // A step a second and a half: a slow tile is drawn late, the replay does not wait for it.
  playing = setInterval(() => {
    index += 1;
    if (index >= ENDS.length) { stop(); return; }
    showDate(ENDS[index]);
  }, 1500);
});
slider.addEventListener("input", () => { stop(); showDate(ENDS[Number(slider.value)]); });
document.getElementById("latest").addEventListener("click", () => { stop(); showDate(today()); });

map.on("load", () => {
  for (const layer of TOGGLED) setVisible(layer, visible.has(layer));
  showDate(shownDate);
  names().then(fitDistrict);
});
