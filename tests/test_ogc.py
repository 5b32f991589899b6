"""/ogc over HTTP against a real PostGIS: metadata, items, paging, CQL2, CRS, ETags, HTML.

The data are built here from specs (shapely polygons and attributes); what each request
should return is computed from the same specs with shapely and pyproj, never read back from
minemap. The GIS clients (GDAL, OWSLib, QGIS) are in test_ogc_clients.py, tiles in
test_ogc_tiles.py; both reuse the data of this module.
"""

import datetime as dt
import json
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pyproj
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Geod
from pytest_postgresql.janitor import DatabaseJanitor
from shapely.geometry import box, mapping, shape
from sqlalchemy import create_engine, text

from minemap import accounting
from minemap.settings import Settings, sqlalchemy_url
from minemap.store import districts
from serving import serving

ROOT = Path(__file__).parents[1]
GEOD = Geod(ellps="WGS84")
GEOJSON = "application/geo+json"
PROBLEM = "application/problem+json"
LOADED = ("AZ-AGM", "AZ-AGC")  # Aghdam holds every record; Aghjabadi is its neighbour
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"


# --- the data, as specs -------------------------------------------------------------------

class Reviewed:
    """What the public layers show: approved and not deleted."""

    @property
    def visible(self) -> bool:
        return self.review == "approved" and not self.deleted


@dataclass
class Hazard(Reviewed):
    code: str
    geom: shapely.Polygon
    classification: str
    hazard_types: list[str]
    recorded_on: dt.date
    organisation: str
    description: str | None = None
    review: str = "approved"
    deleted: bool = False
    id: int | None = None


@dataclass
class Release(Reviewed):
    code: str
    geom: shapely.Polygon
    method: str
    completed_on: dt.date
    hazard: str | None = None
    review: str = "approved"
    deleted: bool = False
    id: int | None = None


@dataclass
class World:
    hazards: list[Hazard]
    releases: list[Release]
    district_shapes: dict[str, shapely.Geometry]
    url: str
    engine: object = None
    settings: Settings | None = None
    extra: dict = field(default_factory=dict)

    def visible(self, kind: str = "hazards") -> list:
        return [r for r in getattr(self, kind) if r.visible]

    def by_id(self, kind: str = "hazards") -> dict:
        return {r.id: r for r in self.visible(kind)}

    def released(self) -> shapely.Geometry:
        return shapely.union_all([r.geom for r in self.visible("releases")])

    def status(self, hazard: Hazard) -> str:
        return "closed" if area(hazard.geom.difference(self.released())) < 1 else "active"


def area(g) -> float:
    """Geodesic area on WGS84, in m², of any polygonal geometry."""
    return sum(abs(GEOD.geometry_area_perimeter(shapely.geometry.polygon.orient(p))[0])
               for p in shapely.get_parts(g) if p.geom_type == "Polygon")


def project(geom, transformer: pyproj.Transformer):
    """Return `geom` through a pyproj transformer (x, y order)."""
    return shapely.transform(geom, lambda xy: np.column_stack(
        transformer.transform(xy[:, 0], xy[:, 1])))


def square(lon: float, lat: float, half: float) -> shapely.Polygon:
    # Edges of a few hundred metres: the accounting grid cuts them without moving areas.
    return shapely.segmentize(box(lon - half, lat - half, lon + half, lat + half), 0.001)


def specs() -> tuple[list[Hazard], list[Release]]:
    """Hazards on a grid inside Aghdam, with every review state; releases over some."""
    hazards = []
    start = dt.date(2019, 1, 15)
    types = (["AP"], ["AP", "AT"], ["UXO"], ["CMR", "IED"])
    for i in range(40):
        lon, lat = 46.86 + (i % 8) * 0.022, 39.97 + (i // 8) * 0.02
        hazards.append(Hazard(
            code=f"AZ-AGM-{'CHA' if i % 3 == 0 else 'SHA'}-{i + 1}",
            geom=square(lon, lat, 0.002 + (i % 5) * 0.0005),
            classification="CHA" if i % 3 == 0 else "SHA",
            hazard_types=types[i % 4],
            recorded_on=start + dt.timedelta(days=40 * i),
            organisation="ANAMA" if i % 2 == 0 else "HALO",
            description=None if i % 4 else f"Field {i}: O'Brien's \"orchard\"",
            review="submitted" if i % 7 == 3 else "rejected" if i % 11 == 5 else "approved",
            deleted=i % 13 == 12,
        ))
    # Two hazards overlapping others: remaining land must not count the overlap twice.
    for j, base in enumerate((hazards[0], hazards[9])):
        c = base.geom.centroid
        hazards.append(Hazard(code=f"AZ-AGM-SHA-{100 + j}", geom=square(c.x + 0.002, c.y, 0.002),
                              classification="SHA", hazard_types=["AP"],
                              recorded_on=dt.date(2022, 6, 1), organisation="ANAMA"))
    h = hazards
    releases = [
        Release("R-1", h[0].geom.buffer(0.0005, join_style="mitre"), "cleared",
                dt.date(2022, 3, 1), hazard=h[0].code),                      # closes h[0]
        Release("R-2", box(*h[1].geom.bounds[:2], h[1].geom.centroid.x, h[1].geom.bounds[3]),
                "reduced", dt.date(2022, 4, 1), hazard=h[1].code),           # half of h[1]
        Release("R-3", h[2].geom, "cancelled", dt.date(2022, 5, 1), hazard=h[2].code,
                review="submitted"),                                         # does not count yet
        Release("R-4", h[4].geom, "cleared", dt.date(2022, 5, 1), deleted=True),
        Release("R-5", square(46.95, 40.09, 0.002), "cleared", dt.date(2023, 1, 10)),
    ]
    return hazards, releases


INSERT_HAZARDS = text("""
INSERT INTO hazards (code, classification, hazard_types, organisation_id, recorded_on,
                     description, geom, review, deleted_at)
SELECT f->>'code', CAST(f->>'classification' AS classification),
       CAST(ARRAY(SELECT jsonb_array_elements_text(f->'hazard_types')) AS hazard_type[]),
       o.id, CAST(f->>'recorded_on' AS date), f->>'description',
       ST_Multi(ST_GeomFromText(f->>'wkt', 4326)), CAST(f->>'review' AS review_state),
       CASE WHEN CAST(f->>'deleted' AS boolean) THEN now() END
FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS f
JOIN organisations AS o ON o.name = f->>'organisation'
RETURNING code, id
""")

INSERT_RELEASES = text("""
INSERT INTO releases (code, method, hazard_id, organisation_id, completed_on, geom, review,
                      deleted_at)
SELECT f->>'code', CAST(f->>'method' AS release_method), h.id, o.id,
       CAST(f->>'completed_on' AS date), ST_Multi(ST_GeomFromText(f->>'wkt', 4326)),
       CAST(f->>'review' AS review_state), CASE WHEN CAST(f->>'deleted' AS boolean) THEN now() END
FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS f
JOIN organisations AS o ON o.name = 'ANAMA'
LEFT JOIN hazards AS h ON h.code = f->>'hazard'
RETURNING code, id
""")


def load(conn, hazards: list[Hazard], releases: list[Release]) -> None:
    """Insert the specs (and set their ids) and refresh the accounting, as every writer does;
    organisations ANAMA and HALO must exist."""
    rows = [{"code": h.code, "classification": h.classification, "hazard_types": h.hazard_types,
             "organisation": h.organisation, "recorded_on": h.recorded_on.isoformat(),
             "description": h.description, "wkt": h.geom.wkt, "review": h.review,
             "deleted": h.deleted} for h in hazards]
    ids = dict(conn.execute(INSERT_HAZARDS, {"rows": json.dumps(rows)}).all()) if rows else {}
    for h in hazards:
        h.id = ids[h.code]
    rows = [{"code": r.code, "method": r.method, "hazard": r.hazard, "wkt": r.geom.wkt,
             "completed_on": r.completed_on.isoformat(), "review": r.review,
             "deleted": r.deleted} for r in releases]
    ids = dict(conn.execute(INSERT_RELEASES, {"rows": json.dumps(rows)}).all()) if rows else {}
    for r in releases:
        r.id = ids[r.code]
    accounting.refresh(conn)


def build_world(cluster, template, tmp_path) -> tuple[World, DatabaseJanitor]:
    """Return a fresh database with the specs loaded and accounted for (and its janitor)."""
    name = f"ogc_{tmp_path.name}"[:60]
    janitor = DatabaseJanitor(user=cluster.account, host=str(cluster.sockdir), port=cluster.port,
                              dbname=name, template_dbname=template)
    janitor.init()
    url = sqlalchemy_url(cluster.url(name))
    everything = json.loads((ROOT / "data/districts/azerbaijan_districts.geojson").read_text())
    chosen = [f for f in everything["features"] if f["properties"]["iso_3166_2"] in LOADED]
    subset = tmp_path / "districts.geojson"
    subset.write_text(json.dumps({"type": "FeatureCollection", "features": chosen}))
    hazards, releases = specs()
    engine = create_engine(url)
    with engine.begin() as conn:
        districts.load(conn, subset)
        conn.execute(text("INSERT INTO organisations (name) VALUES ('ANAMA'), ('HALO')"))
        load(conn, hazards, releases)
        accounting.refresh(conn)
    shapes = {f["properties"]["iso_3166_2"]: shape(f["geometry"]) for f in chosen}
    settings = Settings(database_url=url, home=str(tmp_path / "home"), _env_file=None)
    return World(hazards, releases, shapes, url, engine, settings), janitor


@pytest.fixture(scope="module")
def world(cluster, template, tmp_path_factory):
    found, janitor = build_world(cluster, template, tmp_path_factory.mktemp("ogc"))
    yield found
    found.engine.dispose()
    janitor.drop()


@pytest.fixture(scope="module")
def client(world):
    from minemap.app import create_app

    with TestClient(create_app(world.settings)) as test_client:
        yield test_client


# --- helpers ------------------------------------------------------------------------------

def get(client, path: str, **params):
    return client.get(path, params=params)


def items(client, collection: str, **params) -> dict:
    response = client.get(f"/ogc/collections/{collection}/items", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(GEOJSON)
    return response.json()


def ids(collection_doc: dict) -> set[int]:
    return {f["id"] for f in collection_doc["features"]}


def all_pages(client, collection: str, limit: int, **params) -> list[dict]:
    """Follow next links from the first page; return every feature."""
    found, url = [], f"/ogc/collections/{collection}/items"
    query = {"limit": limit, **params}
    while url:
        response = client.get(url, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["numberReturned"] == len(page["features"]) <= limit
        found += page["features"]
        following = [link["href"] for link in page["links"]
                     if link["rel"] == "next" and link["type"] == GEOJSON]
        url, query = (following[0], None) if following else (None, None)
    return found


def counts(world) -> dict:
    with world.engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("hazards", "releases", "districts", "organisations", "pieces")}


# --- metadata -----------------------------------------------------------------------------

def test_landing_page_links_the_api_conformance_and_data(client):
    doc = get(client, "/ogc").json()
    rels = {link["rel"]: link for link in doc["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    api = client.get(urllib.parse.urlparse(rels["service-desc"]["href"]).path)
    assert api.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    spec = api.json()
    assert spec["openapi"].startswith("3.0")
    assert spec["servers"][0]["url"].endswith("/ogc")
    items_op = spec["paths"]["/collections/{collectionId}/items"]["get"]
    limit = next(p for p in items_op["parameters"] if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100}
    # No JSON Schema 2020-12 idioms left in a 3.0 document.
    assert '"type": "null"' not in json.dumps(spec) and '"const"' not in json.dumps(spec)
    conformance = get(client, urllib.parse.urlparse(rels["conformance"]["href"]).path).json()
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conformance["conformsTo"]
    assert "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json" in conformance["conformsTo"]


def test_every_ogc_path_answers_with_a_trailing_slash_too(world):
    # Conformance tools request `{root}/` and do not follow redirects: 200, the same document.
    from minemap.app import create_app

    paths = ["/ogc", "/ogc/conformance", "/ogc/api", "/ogc/collections",
             "/ogc/collections/hazards", "/ogc/collections/hazards/queryables",
             "/ogc/collections/hazards/items", "/ogc/collections/hazards/tiles"]
    with serving(create_app(world.settings), log_level="warning") as base, \
            httpx.Client(base_url=base, follow_redirects=False, trust_env=False) as http:
        for path in paths:
            plain, slashed = http.get(path), http.get(path + "/")
            assert (plain.status_code, slashed.status_code) == (200, 200), path
            assert slashed.headers["content-type"] == plain.headers["content-type"], path
            if "items" in path:
                ids = [[f["id"] for f in r.json()["features"]] for r in (plain, slashed)]
                assert ids[0] == ids[1] and ids[0], path
            else:
                assert slashed.json() == plain.json(), path
        assert http.get("/ogc/collections/nothing/").status_code == 404


def test_collections_describe_extent_crs_and_links(client, world):
    doc = get(client, "/ogc/collections").json()
    assert [c["id"] for c in doc["collections"]] == ["hazards", "releases", "districts",
                                                      "remaining"]
    hazards = get(client, "/ogc/collections/hazards").json()
    visible = world.visible()
    bounds = shapely.union_all([h.geom for h in visible]).bounds
    assert hazards["extent"]["spatial"]["bbox"][0] == pytest.approx(list(bounds), abs=1e-9)
    dates = sorted(h.recorded_on.isoformat() for h in visible)
    assert hazards["extent"]["temporal"]["interval"] == [[dates[0], dates[-1]]]
    assert hazards["storageCrs"] == CRS84
    assert set(hazards["crs"]) == {CRS84, EPSG.format(4326), EPSG.format(3857), EPSG.format(32638)}
    rels = {link["rel"] for link in hazards["links"]}
    assert {"self", "items", "http://www.opengis.net/def/rel/ogc/1.0/queryables"} <= rels
    assert get(client, "/ogc/collections/nothing").status_code == 404


def test_queryables_list_the_fields_with_their_types(client):
    response = get(client, "/ogc/collections/hazards/queryables")
    assert response.headers["content-type"].startswith("application/schema+json")
    doc = response.json()
    assert doc["properties"]["classification"]["enum"] == ["SHA", "CHA"]
    assert doc["properties"]["recorded_on"] == {"title": "recorded_on", "type": "string",
                                                "format": "date",
                                                "description": "Date of the survey"}
    assert doc["properties"]["hazard_types"]["type"] == "array"
    assert "geometry" in doc["properties"] and doc["additionalProperties"] is False


# --- items --------------------------------------------------------------------------------

def test_items_are_the_visible_records_with_their_attributes_and_geometry(client, world):
    doc = items(client, "hazards", limit=1000)
    visible = world.by_id()
    assert ids(doc) == set(visible) and doc["numberMatched"] == len(visible)
    for feature in doc["features"]:
        spec = visible[feature["id"]]
        p = feature["properties"]
        assert p["code"] == spec.code and p["classification"] == spec.classification
        assert p["hazard_types"] == spec.hazard_types and p["organisation"] == spec.organisation
        assert p["recorded_on"] == spec.recorded_on.isoformat()
        assert p["description"] == spec.description and p["review"] == "approved"
        assert p["area_m2"] == pytest.approx(area(spec.geom), rel=1e-9)
        assert p["status"] == world.status(spec) and p["district"] == "Aghdam"
        geometry = shape(feature["geometry"])
        assert geometry.equals_exact(shapely.MultiPolygon([spec.geom]).normalize(), 1e-8) or \
            geometry.normalize().equals_exact(shapely.MultiPolygon([spec.geom]).normalize(), 1e-8)
        # RFC 7946: exterior rings counter-clockwise.
        assert all(shapely.Polygon(poly.exterior).exterior.is_ccw for poly in geometry.geoms)
    closed = {h.code for h in world.visible() if world.status(h) == "closed"}
    assert closed == {world.hazards[0].code}


def test_a_plain_json_accept_gets_geojson_and_a_browser_gets_html(client):
    plain = client.get("/ogc/collections/hazards/items", headers={"Accept": "application/json"})
    assert plain.headers["content-type"].startswith(GEOJSON)
    assert plain.json()["type"] == "FeatureCollection"
    browser = client.get("/ogc/collections/hazards/items", headers={
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"})
    assert browser.headers["content-type"].startswith("text/html")
    assert "<table>" in browser.text and "<svg" in browser.text and "<script" not in browser.text
    for path in ("/ogc", "/ogc/conformance", "/ogc/collections", "/ogc/collections/releases",
                 "/ogc/collections/districts/queryables"):
        page = client.get(path, params={"f": "html"})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    one = items(client, "hazards", limit=1)["features"][0]
    page = client.get(f"/ogc/collections/hazards/items/{one['id']}", params={"f": "html"})
    assert one["properties"]["code"] in page.text
    assert client.get("/ogc/collections/hazards/items", params={"f": "xml"}).status_code == 400


def test_paging_through_next_links_returns_every_feature_once(client, world):
    for collection, kind in (("hazards", "hazards"), ("releases", "releases")):
        found = all_pages(client, collection, limit=4)
        assert len(found) == len({f["id"] for f in found}) == len(world.visible(kind))
    # Offset paging and prev links.
    second = items(client, "hazards", limit=5, offset=5)
    assert [f["id"] for f in second["features"]] == sorted(world.by_id())[5:10]
    prev = [link for link in second["links"] if link["rel"] == "prev" and link["type"] == GEOJSON]
    back = client.get(prev[0]["href"]).json()
    assert [f["id"] for f in back["features"]] == sorted(world.by_id())[:5]
    # Beyond the end: empty, no next.
    last = items(client, "hazards", limit=5, offset=1000)
    assert last["features"] == [] and not [k for k in last["links"] if k["rel"] == "next"]
    # Keyset paging (what next links use) continues after an id, and ends.
    after = sorted(world.by_id())[-3]
    tail = items(client, "hazards", limit=5, after=after)
    assert [f["id"] for f in tail["features"]] == sorted(world.by_id())[-2:]
    assert not [k for k in tail["links"] if k["rel"] == "next"]
    assert client.get("/ogc/collections/hazards/items",
                      params={"after": 1, "sortby": "code"}).status_code == 400


def test_limit_is_capped_and_bad_values_are_400(client):
    assert items(client, "hazards", limit=50000)["numberReturned"] <= 10000
    for params in ({"limit": 0}, {"limit": "ten"}, {"offset": -1}, {"bbox": "1,2,3"},
                   {"bbox": "47,40,46,39"}, {"datetime": "yesterday"}, {"crs": "EPSG:9999"},
                   {"unknown": "1"}, {"filter-lang": "sql", "filter": "x = 1"}):
        response = client.get("/ogc/collections/hazards/items", params=params)
        assert response.status_code == 400, params
        assert response.headers["content-type"].startswith(PROBLEM)


def test_properties_selects_and_sortby_orders(client, world):
    doc = items(client, "hazards", properties="code,status", limit=1000)
    assert all(set(f["properties"]) == {"code", "status"} for f in doc["features"])
    assert all(f["properties"] == {} for f in items(client, "hazards", properties="")["features"])
    doc = items(client, "hazards", sortby="-recorded_on,code", limit=1000)
    expected = sorted(world.visible(), key=lambda h: (-h.recorded_on.toordinal(), h.code))
    assert [f["properties"]["code"] for f in doc["features"]] == [h.code for h in expected]
    doc = items(client, "hazards", sortby="+area_m2", limit=1000)  # '+' sent encoded
    areas = [f["properties"]["area_m2"] for f in doc["features"]]
    assert areas == sorted(areas)
    found = all_pages(client, "hazards", limit=3, sortby="classification,-recorded_on")
    assert len(found) == len({f["id"] for f in found}) == len(world.visible())


def test_bbox_and_datetime_select_like_the_specs(client, world):
    window = (46.86, 39.96, 46.92, 40.00)
    inside = {h.id for h in world.visible() if h.geom.intersects(box(*window))}
    assert inside and ids(items(client, "hazards", bbox=",".join(map(str, window)),
                                limit=1000)) == inside
    # The same box in EPSG:4326 (latitude first) and EPSG:3857.
    lat_first = (window[1], window[0], window[3], window[2])
    assert ids(items(client, "hazards", bbox=",".join(map(str, lat_first)),
                     **{"bbox-crs": EPSG.format(4326)}, limit=1000)) == inside
    to_3857 = pyproj.Transformer.from_crs(4326, 3857, always_xy=True)
    x0, y0 = to_3857.transform(window[0], window[1])
    x1, y1 = to_3857.transform(window[2], window[3])
    assert ids(items(client, "hazards", bbox=f"{x0},{y0},{x1},{y1}",
                     **{"bbox-crs": "EPSG:3857"}, limit=1000)) == inside
    first, last = dt.date(2020, 1, 1), dt.date(2021, 6, 30)
    during = {h.id for h in world.visible() if first <= h.recorded_on <= last}
    assert ids(items(client, "hazards", datetime=f"{first}/{last}", limit=1000)) == during
    assert ids(items(client, "hazards", datetime=f"../{last}T23:59:59Z", limit=1000)) == {
        h.id for h in world.visible() if h.recorded_on <= last}
    day = world.visible()[3].recorded_on
    assert ids(items(client, "hazards", datetime=f"{day}T12:00:00Z")) == {
        h.id for h in world.visible() if h.recorded_on == day}
    assert items(client, "districts", datetime="2021-01-01")["features"] == []


# --- CQL2 ---------------------------------------------------------------------------------

def cql(client, collection: str, text_filter: str, json_filter: dict, **params) -> set[int]:
    """Return the ids the filter selects, checking that both encodings agree."""
    as_text = ids(items(client, collection, filter=text_filter, limit=1000, **params))
    as_json = ids(items(client, collection, filter=json.dumps(json_filter),
                        **{"filter-lang": "cql2-json"}, limit=1000, **params))
    assert as_text == as_json, text_filter
    return as_text


def test_cql2_text_and_json_equal_the_equivalent_selections(client, world):
    visible = world.visible()
    window = (46.86, 39.96, 46.92, 40.00)
    spatial = cql(client, "hazards", f"S_INTERSECTS(geometry, BBOX({','.join(map(str, window))}))",
                  {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": list(window)}]})
    assert spatial == ids(items(client, "hazards", bbox=",".join(map(str, window)), limit=1000))
    polygon = box(46.85, 39.98, 46.90, 40.03)
    assert cql(client, "hazards", f"S_WITHIN(geometry, {polygon.wkt})",
               {"op": "s_within", "args": [{"property": "geometry"}, mapping(polygon)]}) == {
        h.id for h in visible if h.geom.within(polygon)}
    assert cql(client, "hazards",
               "classification = 'CHA' AND recorded_on >= DATE('2021-01-01')",
               {"op": "and", "args": [
                   {"op": "=", "args": [{"property": "classification"}, "CHA"]},
                   {"op": ">=", "args": [{"property": "recorded_on"}, {"date": "2021-01-01"}]}]}
               ) == {h.id for h in visible
                     if h.classification == "CHA" and h.recorded_on >= dt.date(2021, 1, 1)}
    assert cql(client, "hazards", "code LIKE '%-SHA-1_' OR organisation IN ('NONE')",
               {"op": "or", "args": [
                   {"op": "like", "args": [{"property": "code"}, "%-SHA-1_"]},
                   {"op": "in", "args": [{"property": "organisation"}, ["NONE"]]}]}) == {
        h.id for h in visible if "-SHA-1" in h.code and len(h.code.split("-")[-1]) == 2}
    assert cql(client, "hazards", "CASEI(organisation) = casei('halo') AND NOT status = 'closed'",
               {"op": "and", "args": [
                   {"op": "=", "args": [{"op": "casei", "args": [{"property": "organisation"}]},
                                        {"op": "casei", "args": ["halo"]}]},
                   {"op": "not", "args": [{"op": "=", "args": [{"property": "status"}, "closed"]}]}]}
               ) == {h.id for h in visible if h.organisation == "HALO" and world.status(h) != "closed"}
    assert cql(client, "hazards", "A_CONTAINS(hazard_types, ('AT'))",
               {"op": "a_contains", "args": [{"property": "hazard_types"}, ["AT"]]}) == {
        h.id for h in visible if "AT" in h.hazard_types}
    assert cql(client, "hazards", "area_m2 BETWEEN 200000 AND 300000 AND description IS NULL",
               {"op": "and", "args": [
                   {"op": "between", "args": [{"property": "area_m2"}, 200000, 300000]},
                   {"op": "isNull", "args": [{"property": "description"}]}]}) == {
        h.id for h in visible if 200000 <= area(h.geom) <= 300000 and h.description is None}
    assert cql(client, "hazards", "T_AFTER(recorded_on, DATE('2022-01-01'))",
               {"op": "t_after", "args": [{"property": "recorded_on"}, {"date": "2022-01-01"}]}
               ) == ids(items(client, "hazards", datetime="2022-01-02/..", limit=1000))
    assert cql(client, "releases", "method = 'cleared' AND hazard IS NOT NULL",
               {"op": "and", "args": [
                   {"op": "=", "args": [{"property": "method"}, "cleared"]},
                   {"op": "not", "args": [{"op": "isNull", "args": [{"property": "hazard"}]}]}]}
               ) == {r.id for r in world.visible("releases") if r.method == "cleared" and r.hazard}


def test_filter_crs_reads_geometry_literals_in_that_crs(client, world):
    window = box(46.86, 39.96, 46.92, 40.00)
    utm = pyproj.Transformer.from_crs(4326, 32638, always_xy=True)
    projected = project(shapely.segmentize(window, 0.001), utm)
    expected = {h.id for h in world.visible()
                if project(h.geom, utm).intersects(projected)}
    found = ids(items(client, "hazards", filter=f"S_INTERSECTS(geometry, {projected.wkt})",
                      **{"filter-crs": EPSG.format(32638)}, limit=1000))
    assert found == expected and found


@pytest.mark.parametrize("bad", [
    "classification = 'CHA'; DROP TABLE hazards",
    "code = 'x' OR 1=1 --",
    "\"code; DROP TABLE hazards\" = 'x'",
    "pg_sleep(1) = 1",
    "secret = 'x'",
    "classification = 1",
    "recorded_on > DATE('2021-13-45')",
    "S_INTERSECTS(geometry, POLYGON((1 2, 3 4)))",
    "code",
    # Found by sweeping the bounds: each was a 500.
    "area_m2 * 1e308 * 1e308 > 1",
    "ap_mines / 0 > 1",
    "code LIKE '%\\'",
])
def test_hostile_or_malformed_filters_are_400_and_change_nothing(client, world, bad):
    before = counts(world)
    response = client.get("/ogc/collections/hazards/items", params={"filter": bad})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert counts(world) == before


def test_quotes_inside_a_literal_are_data_not_sql(client, world):
    before = counts(world)
    doc = items(client, "hazards", filter="description = 'x''; DROP TABLE hazards; --'")
    assert doc["features"] == []
    spec = next(h for h in world.visible() if h.description)
    quoted = spec.description.replace("'", "''")
    assert ids(items(client, "hazards", filter=f"description = '{quoted}'")) == {
        h.id for h in world.visible() if h.description == spec.description}
    assert counts(world) == before


@pytest.mark.parametrize("params", [
    {"sortby": "id;DROP TABLE hazards"}, {"sortby": "geom"}, {"sortby": "hazard_types"},
    {"properties": "code,(SELECT 1)"}, {"properties": "geom"},
    {"crs": "EPSG:4326'); DROP TABLE hazards; --"},
    # Found by sweeping the bounds: each was a 500.
    {"bbox": "-1e300,-1e300,1e300,1e300", "bbox-crs": EPSG.format(32638)},
    {"filter": "S_INTERSECTS(geometry, POINT(1e30 1e30))", "filter-crs": EPSG.format(32638)},
    {"datetime": "0001-01-01T00:00:00+14:00"}, {"datetime": "9999-12-31T23:59:59-14:00"},
    {"offset": str(2**63)}, {"after": str(2**64)},
])
def test_hostile_sortby_properties_and_crs_are_400(client, world, params):
    before = counts(world)
    response = client.get("/ogc/collections/hazards/items", params=params)
    assert response.status_code == 400 and response.headers["content-type"].startswith(PROBLEM)
    assert counts(world) == before


# --- CRS ----------------------------------------------------------------------------------

@pytest.mark.parametrize("epsg", [3857, 32638])
def test_projected_output_equals_pyproj(client, world, epsg):
    response = client.get("/ogc/collections/hazards/items",
                          params={"crs": EPSG.format(epsg), "limit": 1000})
    assert response.headers["content-crs"] == f"<{EPSG.format(epsg)}>"
    projection = pyproj.Transformer.from_crs(4326, epsg, always_xy=True)
    specs_by_id = world.by_id()
    for feature in response.json()["features"]:
        expected = project(specs_by_id[feature["id"]].geom, projection)
        got = shape(feature["geometry"])
        assert got.normalize().equals_exact(shapely.MultiPolygon([expected]).normalize(), 2e-3)


def test_epsg_4326_is_latitude_first_and_crs84_longitude_first(client, world):
    spec = world.visible()[0]
    path = f"/ogc/collections/hazards/items/{spec.id}"
    lon_lat = client.get(path)
    assert lon_lat.headers["content-crs"] == f"<{CRS84}>"
    lat_lon = client.get(path, params={"crs": "EPSG:4326"})
    assert lat_lon.headers["content-crs"] == f"<{EPSG.format(4326)}>"
    a = shape(lon_lat.json()["geometry"])
    b = shapely.transform(shape(lat_lon.json()["geometry"]), lambda xy: xy[:, ::-1])
    assert a.equals_exact(b, 0) and a.normalize().equals_exact(
        shapely.MultiPolygon([spec.geom]).normalize(), 1e-8)
    assert client.get("/ogc/collections/hazards/items/999999").status_code == 404
    assert client.get("/ogc/collections/hazards/items/abc").status_code == 404
    hidden = next(h for h in world.hazards if not h.visible)
    assert client.get(f"/ogc/collections/hazards/items/{hidden.id}").status_code == 404


# --- derived layers -----------------------------------------------------------------------

def test_remaining_is_hazard_land_less_released_land(client, world):
    found = all_pages(client, "remaining", limit=50)
    expected = shapely.union_all([h.geom for h in world.visible()]).difference(world.released())
    total = sum(f["properties"]["area_m2"] for f in found)
    assert total == pytest.approx(area(expected), rel=1e-6)
    assert {f["properties"]["district"] for f in found} == {"Aghdam"}
    drawn = shapely.union_all([shape(f["geometry"]) for f in found])
    assert area(drawn.symmetric_difference(expected)) < 1
    districts_doc = items(client, "districts")
    by_iso = {f["properties"]["iso_3166_2"]: f["properties"] for f in districts_doc["features"]}
    assert set(by_iso) == set(LOADED)
    assert by_iso["AZ-AGM"]["remaining_m2"] == pytest.approx(area(expected), rel=1e-6)
    assert by_iso["AZ-AGC"]["remaining_m2"] == 0
    assert by_iso["AZ-AGM"]["area_m2"] == pytest.approx(area(world.district_shapes["AZ-AGM"]),
                                                        rel=1e-6)


@pytest.mark.parametrize("day", ["2019-06-30", "2022-03-15", "2022-04-15", "2022-12-31",
                                 "2023-06-30"])
def test_remaining_at_a_date_is_the_land_hazardous_then(client, world, day):
    """With `datetime`, the land recorded hazardous by that day and not released by it."""
    on = dt.date.fromisoformat(day)
    hazardous = shapely.union_all([h.geom for h in world.visible() if h.recorded_on <= on])
    released = shapely.union_all([r.geom for r in world.visible("releases")
                                  if r.completed_on <= on])
    expected = hazardous.difference(released)
    found = all_pages(client, "remaining", limit=100, datetime=day)
    assert sum(f["properties"]["area_m2"] for f in found) == pytest.approx(area(expected),
                                                                            rel=1e-6)
    assert all(f["properties"]["hazard_on"] <= day for f in found)
    assert all(f["properties"]["released_on"] is None or f["properties"]["released_on"] > day
               for f in found)
    # Without `datetime`, today's: nothing released is in it.
    today = all_pages(client, "remaining", limit=100)
    assert today and all(f["properties"]["released_on"] is None for f in today)
    assert items(client, "remaining", limit=1)["numberMatched"] == len(today)


# --- caching ------------------------------------------------------------------------------

def test_etag_revalidates_until_the_data_changes(client, world):
    path, params = "/ogc/collections/hazards/items", {"limit": 5}
    first = client.get(path, params=params)
    tag = first.headers["etag"]
    assert "no-cache" in first.headers["cache-control"]
    again = client.get(path, params=params, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.headers["etag"] == tag and again.content == b""
    html_tag = client.get(path, params={**params, "f": "html"}).headers["etag"]
    assert html_tag != tag
    remaining = client.get("/ogc/collections/remaining/items").headers["etag"]

    # A new release over a hazard: every collection it affects has a new version.
    spec = world.visible()[5]
    extra = Release("R-ETAG", spec.geom, "cleared", dt.date(2023, 6, 1))
    with world.engine.begin() as conn:
        load(conn, [], [extra])
    world.releases.append(extra)
    try:
        changed = client.get(path, params=params, headers={"If-None-Match": tag})
        assert changed.status_code == 200 and changed.headers["etag"] != tag
        after = client.get(f"/ogc/collections/hazards/items/{spec.id}").json()
        assert after["properties"]["status"] == "closed"
        assert client.get("/ogc/collections/remaining/items",
                          headers={"If-None-Match": remaining}).status_code == 200
    finally:
        with world.engine.begin() as conn:
            conn.execute(text("DELETE FROM releases WHERE code = 'R-ETAG'"))
            accounting.refresh(conn)
        world.releases.remove(extra)
    assert client.get(f"/ogc/collections/hazards/items/{spec.id}").json()[
        "properties"]["status"] == "active"


def test_reads_need_a_token_when_public_read_is_off(world):
    from minemap.app import create_app

    private = world.settings.model_copy(update={"public_read": False})
    with TestClient(create_app(private)) as locked:
        assert locked.get("/ogc/collections/hazards/items").status_code == 401
        assert locked.get("/ogc/collections/hazards/tiles/WebMercatorQuad/8/161/97"
                          ).status_code == 401

