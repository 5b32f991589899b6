"""/api/v1/hazards, /releases and /baselines over HTTP, against a real PostGIS.

Expected areas, districts and generated codes are computed here independently, with shapely
and pyproj from the districts file, never read back from minemap.
"""

import json
import threading
from datetime import date, timedelta
from pathlib import Path

import pyproj
import pytest
from shapely.geometry import box, mapping, shape
from sqlalchemy import text

from minemap.db.engine import transaction
from minemap import write
from minemap.kinds import HAZARDS
from minemap.store import districts, records, tokens
from minemap.vocab import Role

ROOT = Path(__file__).parents[1]
DISTRICTS = json.loads((ROOT / "data/districts/azerbaijan_districts.geojson").read_text())
SHAPES = {f["properties"]["iso_3166_2"]: shape(f["geometry"]) for f in DISTRICTS["features"]}
NAMES = {f["properties"]["iso_3166_2"]: f["properties"]["name"] for f in DISTRICTS["features"]}
# Aghdam and Aghjabadi hold every polygon below (the tests check it); loading all 78 districts
# would cost the accounting triggers seconds per test.
LOADED = ("AZ-AGM", "AZ-AGC")
GEOD = pyproj.Geod(ellps="WGS84")
PROBLEM = "application/problem+json"


def geodesic_area(geom) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0])


def square(lon: float, lat: float, half: float = 0.004) -> dict:
    return mapping(box(lon - half, lat - half, lon + half, lat + half))


# A point well inside Aghdam, and one on its border with Aghjabadi.
INSIDE = (46.90, 40.01)
_BORDER = SHAPES["AZ-AGM"].boundary.intersection(SHAPES["AZ-AGC"].boundary)
_LONGEST = max(getattr(_BORDER, "geoms", [_BORDER]), key=lambda line: line.length)
ON_BORDER = _LONGEST.interpolate(0.5, normalized=True).coords[0]


def hazard(geometry: dict | None = None, **properties) -> dict:
    props = {"classification": "SHA", "hazard_types": ["AP"], "recorded_on": "2021-03-01"}
    return {"type": "Feature", "properties": props | properties,
            "geometry": geometry or square(*INSIDE)}


def release(geometry: dict | None = None, **properties) -> dict:
    props = {"method": "cleared", "completed_on": "2022-05-01", "ap_mines": 2, "uxo": 5}
    return {"type": "Feature", "properties": props | properties,
            "geometry": geometry or square(*INSIDE)}


class Api:
    """The test client with a token per role: admin and reviewer of ANAMA, operator of HALO."""

    def __init__(self, client, engine, tokens_by_role: dict):
        self.client, self.engine, self.tokens = client, engine, tokens_by_role

    def auth(self, role: Role = Role.admin) -> dict:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def post(self, kind: str, feature: dict, role: Role = Role.admin):
        return self.client.post(f"/api/v1/{kind}", json=feature, headers=self.auth(role))

    def created(self, kind: str, feature: dict, role: Role = Role.admin) -> dict:
        response = self.post(kind, feature, role)
        assert response.status_code == 201, response.text
        return response.json()

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


@pytest.fixture
def api(client, engine, tmp_path):
    """A client with tokens of every role, and Aghdam and Aghjabadi loaded."""
    subset = [f for f in DISTRICTS["features"] if f["properties"]["iso_3166_2"] in LOADED]
    path = tmp_path / "districts.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": subset}))
    with transaction(engine) as conn:
        districts.load(conn, path)
    orgs = {Role.admin: "ANAMA", Role.reviewer: "ANAMA", Role.operator: "HALO",
            Role.viewer: "ANAMA"}
    with transaction(engine) as conn:
        made = {role: tokens.create(conn, organisation=org, role=role)[1]
                for role, org in orgs.items()}
    return Api(client, engine, made)


@pytest.fixture
def mapped(api):
    """The api, whose districts the tests' polygons lie in."""
    return api


def in_districts(geometry: dict) -> dict[str, float]:
    """Return the geodesic area of `geometry` in each district its interior meets."""
    area = shape(geometry)
    shares = {iso: geodesic_area(area.intersection(d)) for iso, d in SHAPES.items()
              if area.relate_pattern(d, "T********")}
    assert set(shares) <= set(LOADED), "the test's polygon strays beyond the loaded districts"
    return shares


def test_hazard_round_trip_with_derived_fields(mapped):
    api = mapped
    posted = hazard(description="old trench line")
    assert set(in_districts(posted["geometry"])) == {"AZ-AGM"}
    response = api.post("hazards", posted)
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    assert response.headers["location"].endswith(f"/api/v1/hazards/{body['id']}")
    assert response.headers["etag"].startswith(f'"{body["id"]}-1-')
    props = body["properties"]
    assert props["code"] == "AZ-AGM-SHA-1"
    assert props["organisation"] == "ANAMA" and props["review"] == "approved"
    assert props["hazard_types"] == ["AP"] and props["recorded_on"] == "2021-03-01"
    assert props["version"] == 1 and props["description"] == "old trench line"
    expected = geodesic_area(shape(posted["geometry"]))
    assert props["area_m2"] == pytest.approx(expected, rel=1e-9)
    assert props["remaining_m2"] == pytest.approx(expected, rel=1e-9)
    assert props["status"] == "active"
    assert props["districts"] == ["Aghdam"]
    assert body["geometry"]["type"] == "MultiPolygon"
    assert shape(body["geometry"]).hausdorff_distance(shape(posted["geometry"])) < 1e-9

    fetched = api.client.get(response.headers["location"])
    assert fetched.status_code == 200 and fetched.json() == body
    assert fetched.headers["etag"] == response.headers["etag"]


def test_concurrent_writers_never_take_the_same_code(mapped):
    """The second writer waits for the first to commit, then numbers after it."""
    with transaction(mapped.engine) as conn:
        actor = tokens.authenticate(conn, mapped.tokens[Role.admin])
    feature = json.loads(json.dumps(hazard()))  # as a client sends it: lists, not tuples
    with transaction(mapped.engine) as conn:
        outline = districts.outline(conn, 5000)
    codes = []

    def create(conn) -> int:
        [new_id], _ = write.create(conn, HAZARDS, [feature], actor=actor, today=date.today(),
                                   outline=outline)
        return new_id

    def second_writer():
        with transaction(mapped.engine) as conn:
            codes.append(records.get(conn, HAZARDS, create(conn))["properties"]["code"])

    with transaction(mapped.engine) as conn:
        codes.append(records.get(conn, HAZARDS, create(conn))["properties"]["code"])
        waiting = threading.Thread(target=second_writer)
        waiting.start()
        waiting.join(timeout=1.0)
        assert waiting.is_alive(), "the second writer should wait for the first to commit"
    waiting.join(timeout=30)
    assert codes == ["AZ-AGM-SHA-1", "AZ-AGM-SHA-2"]


def test_a_polygon_across_a_border_lies_in_both_districts(mapped):
    api = mapped
    geometry = square(*ON_BORDER, half=0.01)
    shares = in_districts(geometry)
    assert set(shares) == {"AZ-AGM", "AZ-AGC"}
    largest = max(shares, key=shares.get)
    props = api.created("hazards", hazard(geometry))["properties"]
    assert props["districts"] == sorted(NAMES[iso] for iso in shares)
    assert props["code"] == f"{largest}-SHA-1"
    for name in ("Aghdam", "Aghjabadi", "az-agc"):
        found = api.client.get("/api/v1/hazards", params={"district": name}).json()
        assert [f["properties"]["code"] for f in found["features"]] == [props["code"]]


def test_generated_codes_filters_and_paging(mapped):
    api = mapped
    made = []
    for i in range(5):
        lon = INSIDE[0] - 0.06 + 0.03 * i
        made.append(api.created("hazards", hazard(
            square(lon, INSIDE[1]), classification="CHA" if i % 3 == 0 else "SHA"),
            role=Role.operator if i % 2 else Role.admin))
        assert set(in_districts(made[-1]["geometry"])) == {"AZ-AGM"}
    ids = [f["id"] for f in made]
    assert [f["properties"]["code"] for f in made] == [
        "AZ-AGM-CHA-1", "AZ-AGM-SHA-1", "AZ-AGM-SHA-2", "AZ-AGM-CHA-2", "AZ-AGM-SHA-3"]

    seen, url, pages = [], "/api/v1/hazards?limit=2", 0
    while url:
        page = api.client.get(url, headers=api.auth()).json()  # submissions: not public
        assert page["numberReturned"] == len(page["features"]) <= 2
        seen += [f["id"] for f in page["features"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
        pages += 1
    assert seen == ids and pages == 3

    def ids_of(**params) -> list[int]:
        response = api.client.get("/api/v1/hazards", params=params, headers=api.auth())
        assert response.status_code == 200, response.text
        return [f["id"] for f in response.json()["features"]]

    assert ids_of(classification="CHA") == [ids[0], ids[3]]
    assert ids_of(organisation="HALO") == [ids[1], ids[3]]
    assert ids_of(review="submitted") == [ids[1], ids[3]]
    assert ids_of(review="approved", classification="SHA") == [ids[2], ids[4]]
    assert ids_of(status="active") == ids and ids_of(status="closed") == []
    lon, lat = INSIDE[0] - 0.06 + 0.03 * 2, INSIDE[1]
    assert ids_of(bbox=f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}") == [ids[2]]
    assert ids_of(district="AZ-AGM", limit=2, offset=3) == ids[3:5]
    assert ids_of(district="Aghjabadi") == []

    # A number given by hand is never reused; releases count apart.
    api.created("hazards", hazard(code="AZ-AGM-SHA-9"))
    assert api.created("hazards", hazard())["properties"]["code"] == "AZ-AGM-SHA-10"
    assert api.created("releases", release())["properties"]["code"] == "AZ-AGM-REL-1"

    for bad in ({"district": "Atlantis"}, {"classification": "XYZ"}, {"bbox": "1,2,3"},
                {"limit": 10_001}, {"colour": "red"}):
        response = api.client.get("/api/v1/hazards", params=bad)
        assert response.status_code == 422, bad
        assert response.headers["content-type"] == PROBLEM


def test_releases_reference_hazards_and_reduce_what_remains(mapped):
    api = mapped
    haz = api.created("hazards", hazard(square(*INSIDE, half=0.004)))
    code = haz["properties"]["code"]
    etag = api.client.get(f"/api/v1/hazards/{haz['id']}").headers["etag"]
    # The western half of the hazard, and land outside it.
    half = square(INSIDE[0] - 0.002, INSIDE[1], half=0.002)
    rel = api.created("releases", release(half, hazard=code, land_use="agriculture"))
    props = rel["properties"]
    assert props["hazard"] == code and props["method"] == "cleared"
    assert (props["ap_mines"], props["at_mines"], props["uxo"], props["cmr"], props["ied"]) == \
        (2, 0, 5, 0, 0)
    assert props["area_m2"] == pytest.approx(geodesic_area(shape(half)), rel=1e-9)
    assert props["districts"] == ["Aghdam"] and props["land_use"] == "agriculture"

    expected = geodesic_area(shape(haz["geometry"]).difference(shape(half)))
    again = api.client.get(f"/api/v1/hazards/{haz['id']}", headers={"If-None-Match": etag})
    assert again.status_code == 200, "the remaining area changed, so the ETag must too"
    assert again.json()["properties"]["remaining_m2"] == pytest.approx(expected, rel=1e-6)
    assert again.json()["properties"]["status"] == "active"

    api.created("releases", release(square(*INSIDE, half=0.005), hazard=code, method="reduced"))
    closed = api.client.get(f"/api/v1/hazards/{haz['id']}").json()["properties"]
    assert closed["status"] == "closed" and closed["remaining_m2"] < 1
    assert [f["id"] for f in api.client.get("/api/v1/hazards?status=closed").json()["features"]] \
        == [haz["id"]]

    listed = api.client.get("/api/v1/releases", params={"hazard": code, "method": "reduced"})
    assert [f["properties"]["method"] for f in listed.json()["features"]] == ["reduced"]

    before = api.count("releases"), api.count("history")
    unknown = api.post("releases", release(hazard="AZ-AGM-SHA-99"))
    assert unknown.status_code == 422 and unknown.headers["content-type"] == PROBLEM
    [error] = unknown.json()["errors"]
    assert error["code"] == "unknown_hazard" and "AZ-AGM-SHA-99" in error["reason"]
    assert (api.count("releases"), api.count("history")) == before


def test_etags_conditional_requests_and_history(api):
    made = api.created("hazards", hazard())
    url = f"/api/v1/hazards/{made['id']}"
    first = api.client.get(url)
    tag = first.headers["etag"]
    assert api.client.get(url, headers={"If-None-Match": tag}).status_code == 304

    change = {"properties": {"classification": "CHA", "hazard_types": ["AP", "AT"]}}
    missing = api.client.patch(url, json=change, headers=api.auth())
    assert missing.status_code == 428 and missing.headers["content-type"] == PROBLEM
    stale = api.client.patch(url, json=change, headers=api.auth() | {"If-Match": '"1-0-0"'})
    assert stale.status_code == 412

    patched = api.client.patch(url, json=change, headers=api.auth() | {"If-Match": tag})
    assert patched.status_code == 200, patched.text
    props = patched.json()["properties"]
    assert (props["classification"], props["hazard_types"], props["version"]) == \
        ("CHA", ["AP", "AT"], 2)
    assert props["code"] == made["properties"]["code"], "reclassifying keeps the hazard"
    assert props["recorded_on"] == "2021-03-01"
    assert patched.headers["etag"] != tag
    assert api.client.patch(url, json=change, headers=api.auth() | {"If-Match": tag}).status_code \
        == 412

    moved = square(INSIDE[0], INSIDE[1] + 0.01, half=0.002)
    reshaped = api.client.patch(url, json={"geometry": moved},
                                headers=api.auth() | {"If-Match": patched.headers["etag"]})
    assert reshaped.status_code == 200, reshaped.text
    assert reshaped.json()["properties"]["area_m2"] == pytest.approx(
        geodesic_area(shape(moved)), rel=1e-9)
    assert reshaped.json()["properties"]["classification"] == "CHA"

    assert api.client.delete(url, headers=api.auth()).status_code == 428
    deleted = api.client.delete(url, headers=api.auth() | {"If-Match": reshaped.headers["etag"]})
    assert deleted.status_code == 204
    assert api.client.get(url).status_code == 404
    assert api.client.get("/api/v1/hazards").json()["features"] == []
    assert api.count("hazards") == 1, "deleting keeps the row"

    entries = api.client.get(f"{url}/history").json()
    assert [(e["action"], e["version"]) for e in entries] == \
        [("create", 1), ("update", 2), ("update", 3), ("delete", 4)]
    assert all(e["actor"] == "admin@ANAMA" and e["organisation"] == "ANAMA" for e in entries)
    assert entries[1]["before"]["classification"] == "SHA"
    assert entries[1]["after"]["classification"] == "CHA"
    assert entries[0]["before"] is None and entries[3]["after"] is None
    assert entries[2]["after"]["geometry"]["type"] == "MultiPolygon"


@pytest.mark.parametrize(("feature", "field"), [
    (hazard(classification="suspected"), "classification"),
    (hazard(recorded_on=(date.today() + timedelta(days=2)).isoformat()), "recorded_on"),
    (hazard({"type": "Polygon", "coordinates": [[[46.89, 40.00], [46.91, 40.02], [46.91, 40.00],
                                                 [46.89, 40.02], [46.89, 40.00]]]}), "geometry"),
    (hazard({"type": "Point", "coordinates": list(INSIDE)}), "Point"),
    (hazard(hazard_types=["AP", "landmine"]), "hazard_types"),
    (hazard(recorded_on="0281-05-01"), "recorded_on 0281-05-01 is before 1900-01-01"),
])
def test_invalid_hazards_are_refused_and_change_nothing(api, feature, field):
    before = api.count("hazards"), api.count("history")
    response = api.post("hazards", feature)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == 422 and body["errors"]
    assert any(field in e["reason"] for e in body["errors"]), body["errors"]
    assert all(e["index"] == 0 for e in body["errors"])
    assert (api.count("hazards"), api.count("history")) == before


def test_invalid_patch_and_release_dates_are_refused(api):
    made = api.created("releases", release(started_on="2022-04-01"))
    url = f"/api/v1/releases/{made['id']}"
    tag = api.client.get(url).headers["etag"]
    early = api.client.patch(url, json={"properties": {"completed_on": "2022-03-01"}},
                             headers=api.auth() | {"If-Match": tag})
    assert early.status_code == 422
    assert early.json()["errors"][0]["code"] == "completed_before_started"
    assert api.client.get(url).headers["etag"] == tag


@pytest.mark.parametrize("kind", ["hazards", "releases"])
@pytest.mark.parametrize("bad_id", [2**63, 11788061261033922560, 2**70, 0, -3])
def test_ids_no_record_can_have_are_not_found(api, kind, bad_id):
    api.created("hazards", hazard())
    base = f"/api/v1/{kind}/{bad_id}"
    calls = [api.client.get(base, headers=api.auth()),
             api.client.get(f"{base}/history", headers=api.auth()),
             api.client.delete(base, headers=api.auth() | {"If-Match": '"1-1-x"'}),
             api.client.patch(base, json={"properties": {}}, headers=api.auth() | {"If-Match": "*"}),
             api.client.post(f"{base}/review", json={"decision": "approve"},
                             headers=api.auth())]
    assert [c.status_code for c in calls] == [404] * 5, [c.text for c in calls]
    assert all(c.headers["content-type"] == "application/problem+json" for c in calls)
    assert api.count("hazards") == 1 and api.count("history") == 1
    ogc = api.client.get(f"/ogc/collections/{kind}/items/{bad_id}", headers=api.auth())
    assert ogc.status_code == 404
    assert api.client.get(f"/ogc/collections/{kind}/items/\u00b2",
                          headers=api.auth()).status_code == 404


@pytest.mark.parametrize("query", [
    "summary?as_of=0001-01-01", "districts?as_of=1899-12-31", "timeseries?from=0001-01-01",
    "timeseries?from=2021-01-01&to=0001-01-01", "summary?as_of=9999-12-31"])
def test_report_dates_out_of_bounds_are_refused(api, query):
    response = api.client.get(f"/api/v1/reports/{query}")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert "before 1900-01-01" in response.text or "in the future" in response.text


def test_offsets_beyond_any_count_are_refused(api):
    assert api.client.get("/api/v1/hazards", params={"offset": 2**63},
                          headers=api.auth()).status_code == 422
    assert api.client.get("/ogc/collections/hazards/items", params={"offset": 2**63},
                          headers=api.auth()).status_code == 400
    last = api.client.get("/api/v1/hazards", params={"offset": 2**63 - 1}, headers=api.auth())
    assert last.status_code == 200 and last.json()["features"] == []


def test_duplicate_codes_conflict(api):
    api.created("hazards", hazard(code="HZ-1"))
    before = api.count("hazards")
    response = api.post("hazards", hazard(code="HZ-1"))
    assert response.status_code == 409 and response.headers["content-type"] == PROBLEM
    assert "HZ-1" in response.json()["detail"]
    assert response.json()["errors"][0]["code"] == "duplicate_code"
    assert api.count("hazards") == before


def test_operators_submit_for_their_own_organisation(api):
    mine = api.created("hazards", hazard(), role=Role.operator)["properties"]
    assert (mine["organisation"], mine["review"]) == ("HALO", "submitted")
    assert api.post("hazards", hazard(organisation="ANAMA"), Role.operator).status_code == 403
    # Admins may record for an organisation that is new; others may not.
    assert api.post("hazards", hazard(organisation="New Org"), Role.reviewer).status_code == 422
    assert api.created("hazards", hazard(organisation="New Org"))["properties"]["organisation"] \
        == "New Org"

    theirs = api.created("hazards", hazard())
    url = f"/api/v1/hazards/{theirs['id']}"
    tag = {"If-Match": api.client.get(url).headers["etag"]}
    change = {"properties": {"description": "mine now"}}
    assert api.client.patch(url, json=change, headers=api.auth(Role.operator) | tag).status_code \
        == 403
    assert api.client.delete(url, headers=api.auth(Role.operator) | tag).status_code == 403
    reviewed = api.client.patch(url, json=change, headers=api.auth(Role.reviewer) | tag)
    assert reviewed.status_code == 200 and reviewed.json()["properties"]["review"] == "approved"


def test_baselines(mapped):
    api = mapped
    listed = api.client.get("/api/v1/baselines").json()
    assert listed["default"]["area_km2"] == 11667 and listed["baselines"] == []
    # At most the loaded districts' 2,906.6 km² (Aghdam and Aghjabadi): test_baselines.py
    # checks the limits.
    national = {"label": "2021 survey", "as_of": "2021-01-01", "area_km2": 2500.5}
    assert api.client.post("/api/v1/baselines", json=national,
                           headers=api.auth(Role.reviewer)).status_code == 403
    created = api.client.post("/api/v1/baselines", json=national, headers=api.auth())
    assert created.status_code == 201, created.text
    local = api.client.post("/api/v1/baselines", headers=api.auth(), json={
        "label": "Aghdam 2022", "as_of": "2022-01-01", "area_km2": 800, "district": "AZ-AGM"})
    assert local.json()["district"] == "Aghdam"
    unknown = api.client.post("/api/v1/baselines", headers=api.auth(),
                              json=national | {"district": "Atlantis"})
    assert unknown.status_code == 422 and unknown.headers["content-type"] == PROBLEM
    rows = api.client.get("/api/v1/baselines").json()["baselines"]
    assert [(b["label"], b["area_km2"], b["district"]) for b in rows] == \
        [("2021 survey", 2500.5, None), ("Aghdam 2022", 800.0, "Aghdam")]
