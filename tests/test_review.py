"""Review: operators submit, reviewers and admins approve or reject, reports count approved land.

Also the helpers the other trust tests share (test_history, test_concurrency, test_access_matrix,
test_backup import them). Expected areas are computed here with shapely and pyproj.
"""

import getpass
import json
import os
import subprocess
import sys
from pathlib import Path

import pyproj
import pytest
from shapely.geometry import box, mapping, shape
from sqlalchemy import text

from minemap import accounting
from minemap.db.engine import transaction
from minemap.store import districts, tokens
from minemap.vocab import Role

ROOT = Path(__file__).parents[1]
_DISTRICTS = json.loads((ROOT / "data/districts/azerbaijan_districts.geojson").read_text())
AGHDAM_FEATURE = next(f for f in _DISTRICTS["features"]
                      if f["properties"]["iso_3166_2"] == "AZ-AGM")
AGHDAM = shape(AGHDAM_FEATURE["geometry"])
GEOD = pyproj.Geod(ellps="WGS84")
INSIDE = (46.90, 40.01)  # well inside Aghdam
PROBLEM = "application/problem+json"
# Who calls, by name: the organisation and role of each token the tests issue.
CALLERS = {"admin": ("ANAMA", Role.admin), "reviewer": ("ANAMA", Role.reviewer),
           "operator": ("HALO", Role.operator), "other": ("MAG", Role.operator),
           "viewer": ("ANAMA", Role.viewer)}


def geodesic_area(geom) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0])


def square(lon: float, lat: float, half: float = 0.004) -> dict:
    return mapping(box(lon - half, lat - half, lon + half, lat + half))


def hazard(geometry: dict | None = None, **properties) -> dict:
    props = {"classification": "SHA", "hazard_types": ["AP"], "recorded_on": "2021-03-01"}
    return {"type": "Feature", "properties": props | properties,
            "geometry": geometry or square(*INSIDE)}


def release(geometry: dict | None = None, **properties) -> dict:
    props = {"method": "cleared", "completed_on": "2022-05-01", "ap_mines": 1}
    return {"type": "Feature", "properties": props | properties,
            "geometry": geometry or square(*INSIDE)}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def issue_tokens(engine) -> dict[str, str]:
    """Issue one token per caller of CALLERS, and a revoked admin token named 'revoked'."""
    with transaction(engine) as conn:
        made = {name: tokens.create(conn, organisation=org, role=role)[1]
                for name, (org, role) in CALLERS.items()}
        revoked_id, made["revoked"] = tokens.create(conn, organisation="ANAMA", role=Role.admin)
        tokens.revoke(conn, revoked_id)
    return made


def load_aghdam(engine, tmp_path: Path) -> None:
    """Load the one district the tests' polygons lie in (all 78 would slow accounting)."""
    path = tmp_path / "aghdam.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [AGHDAM_FEATURE]}))
    with transaction(engine) as conn:
        districts.load(conn, path)
        accounting.refresh(conn)  # as `minemap districts load` does


def count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


class Api:
    """An HTTP client (TestClient or httpx) with the tokens of `issue_tokens`."""

    def __init__(self, client, engine, issued: dict[str, str]):
        self.client, self.engine, self.tokens = client, engine, issued

    def auth(self, who: str | None) -> dict:
        return bearer(self.tokens[who]) if who else {}

    def created(self, kind: str, feature: dict, who: str = "admin") -> dict:
        response = self.client.post(f"/api/v1/{kind}", json=feature, headers=self.auth(who))
        assert response.status_code == 201, response.text
        return response.json()

    def review(self, kind: str, record_id: int, who: str | None, **body):
        return self.client.post(f"/api/v1/{kind}/{record_id}/review", json=body,
                                headers=self.auth(who))

    def summary(self, who: str | None = None, **params) -> dict:
        response = self.client.get("/api/v1/reports/summary", headers=self.auth(who),
                                   params={"as_of": "2023-01-01", **params})
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def api(client, engine, tmp_path) -> Api:
    load_aghdam(engine, tmp_path)
    return Api(client, engine, issue_tokens(engine))


def test_a_submission_counts_once_approved(api):
    geometry = square(*INSIDE)
    assert AGHDAM.contains(shape(geometry))
    expected = geodesic_area(shape(geometry))
    made = api.created("hazards", hazard(geometry), who="operator")
    assert made["properties"]["review"] == "submitted"
    url = f"/api/v1/hazards/{made['id']}"
    before_tag = api.client.get(url, headers=api.auth("operator")).headers["etag"]

    assert api.summary()["mapped_m2"] == 0
    assert api.summary("reviewer", include="submitted")["mapped_m2"] == \
        pytest.approx(expected, rel=1e-6)

    approved = api.review("hazards", made["id"], "reviewer", decision="approve",
                          reason="matches the survey report")
    assert approved.status_code == 200, approved.text
    props = approved.json()["properties"]
    assert (props["review"], props["review_reason"], props["version"]) == \
        ("approved", "matches the survey report", 2)
    assert approved.headers["etag"] not in (before_tag, None)
    assert api.summary()["mapped_m2"] == pytest.approx(expected, rel=1e-6)
    assert api.summary()["hazards_active"] == 1

    last = api.client.get(f"{url}/history").json()[-1]
    assert (last["action"], last["version"], last["reason"]) == \
        ("review", 2, "matches the survey report")
    assert (last["actor"], last["organisation"]) == ("reviewer@ANAMA", "ANAMA")
    assert (last["before"]["review"], last["after"]["review"]) == ("submitted", "approved")
    assert last["after"]["geometry"]["type"] == "MultiPolygon"

    again = api.review("hazards", made["id"], "admin", decision="reject", reason="too late")
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM


def test_a_rejection_needs_a_reason_and_never_counts(api):
    haz = api.created("hazards", hazard())
    west = square(INSIDE[0] - 0.002, INSIDE[1], half=0.002)
    rel = api.created("releases", release(west, hazard=haz["properties"]["code"]),
                      who="operator")
    url = f"/api/v1/releases/{rel['id']}"
    released = geodesic_area(shape(haz["geometry"]).intersection(shape(west)))
    counted = api.summary("admin", include="submitted")
    assert counted["released_m2"] == pytest.approx(released, rel=1e-6)
    assert counted["devices"]["ap_mines"] == 1
    assert api.summary()["released_m2"] == 0

    history_before = count(api.engine, "history")
    for body in ({"decision": "reject"}, {"decision": "reject", "reason": "   "},
                 {"decision": "maybe", "reason": "x"}, {"decision": "approve", "colour": "red"}):
        refused = api.review("releases", rel["id"], "reviewer", **body)
        assert refused.status_code == 422, body
        assert refused.headers["content-type"] == PROBLEM
    assert count(api.engine, "history") == history_before

    rejected = api.review("releases", rel["id"], "reviewer", decision="reject",
                          reason="polygon does not match the clearance report")
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["properties"]["review"] == "rejected"
    assert rejected.json()["properties"]["review_reason"].startswith("polygon does not")
    # Rejected land is not counted, even when submissions are.
    assert api.summary("admin", include="submitted")["released_m2"] == 0
    assert api.summary("admin", include="submitted")["devices"]["ap_mines"] == 0

    # The operator corrects it and submits it again.
    tag = api.client.get(url, headers=api.auth("operator")).headers["etag"]
    resubmitted = api.client.patch(url, json={"properties": {"ap_mines": 3}},
                                   headers=api.auth("operator") | {"If-Match": tag})
    assert resubmitted.status_code == 200, resubmitted.text
    props = resubmitted.json()["properties"]
    assert (props["review"], props["review_reason"], props["version"]) == ("submitted", None, 3)
    assert api.summary("admin", include="submitted")["devices"]["ap_mines"] == 3
    assert api.review("releases", rel["id"], "admin", decision="approve").status_code == 200
    assert api.summary()["released_m2"] == pytest.approx(released, rel=1e-6)
    actions = [e["action"] for e in api.client.get(f"{url}/history").json()]
    assert actions == ["create", "review", "update", "review"]


def test_who_may_review_what(api):
    made = api.created("hazards", hazard(), who="operator")
    url = f"/api/v1/hazards/{made['id']}"
    for who, status in (("operator", 403), ("other", 403), ("viewer", 403), (None, 401),
                        ("revoked", 401)):
        response = api.review("hazards", made["id"], who, decision="approve")
        assert response.status_code == status, who
        assert response.headers["content-type"] == PROBLEM
    assert api.review("hazards", 999, "reviewer", decision="approve").status_code == 404
    stale = api.client.post(f"{url}/review", json={"decision": "approve"},
                            headers=api.auth("reviewer") | {"If-Match": '"1-1-000000000000"'})
    assert stale.status_code == 412
    tag = api.client.get(url, headers=api.auth("reviewer")).headers["etag"]
    fresh = api.client.post(f"{url}/review", json={"decision": "approve"},
                            headers=api.auth("reviewer") | {"If-Match": tag})
    assert fresh.status_code == 200
    assert api.client.get(f"{url}/history").json()[-1]["version"] == 2

    # What an admin or reviewer writes is approved at once: nothing to review.
    direct = api.created("hazards", hazard(), who="reviewer")
    assert direct["properties"]["review"] == "approved"
    assert api.review("hazards", direct["id"], "admin", decision="approve").status_code == 409
    # A deleted submission cannot be reviewed.
    doomed = api.created("hazards", hazard(), who="operator")
    doomed_url = f"/api/v1/hazards/{doomed['id']}"
    tag = api.client.get(doomed_url, headers=api.auth("operator")).headers["etag"]
    assert api.client.delete(doomed_url, headers=api.auth("operator") | {"If-Match": tag}
                             ).status_code == 204
    assert api.review("hazards", doomed["id"], "admin", decision="approve").status_code == 404


def test_submissions_are_seen_by_reviewers_and_their_own_organisation(api):
    approved = api.created("hazards", hazard())
    submitted = api.created("hazards", hazard(), who="operator")
    rejected = api.created("hazards", hazard(), who="operator")
    assert api.review("hazards", rejected["id"], "reviewer", decision="reject",
                      reason="duplicate").status_code == 200
    everything = [approved["id"], submitted["id"], rejected["id"]]
    sees = {"admin": everything, "reviewer": everything, "operator": everything,
            "other": [approved["id"]], "viewer": [approved["id"]], None: [approved["id"]]}
    for who, ids in sees.items():
        listed = api.client.get("/api/v1/hazards", headers=api.auth(who))
        assert [f["id"] for f in listed.json()["features"]] == ids, who
        for record_id in everything:
            expected = 200 if record_id in ids else 404
            for suffix in ("", "/history"):
                got = api.client.get(f"/api/v1/hazards/{record_id}{suffix}",
                                     headers=api.auth(who))
                assert got.status_code == expected, (who, record_id, suffix)
    # The review filter narrows what one may see; it never widens it.
    hidden = api.client.get("/api/v1/hazards", params={"review": "submitted"})
    assert hidden.json()["features"] == []
    own = api.client.get("/api/v1/hazards", params={"review": "rejected"},
                         headers=api.auth("operator"))
    assert [f["id"] for f in own.json()["features"]] == [rejected["id"]]


def test_only_admins_and_reviewers_count_submissions(api):
    for who, status in (("admin", 200), ("reviewer", 200), ("operator", 403), ("other", 403),
                        ("viewer", 403), (None, 401)):
        for report in ("summary", "districts"):
            response = api.client.get(f"/api/v1/reports/{report}", headers=api.auth(who),
                                      params={"include": "submitted"})
            assert response.status_code == status, (who, report)
        response = api.client.get("/api/v1/reports/timeseries", headers=api.auth(who),
                                  params={"from": "2021-01-01", "include": "submitted"})
        assert response.status_code == status, who
    bad = api.client.get("/api/v1/reports/summary", params={"include": "everything"},
                         headers=api.auth("admin"))
    assert bad.status_code == 422


def minemap(*args: str, database_url: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the command line as a user does, on the test database."""
    env = {**os.environ, "MINEMAP_DATABASE_URL": database_url}
    env.pop("MINEMAP_TOKEN", None)
    proc = subprocess.run([sys.executable, "-m", "minemap", *args], env=env, capture_output=True,
                          text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_review_from_the_command_line(api, database_url):
    approved_by_cli = api.created("hazards", hazard(), who="operator")
    rejected_by_token = api.created("releases", release(), who="operator")
    done = minemap("review", "hazards", str(approved_by_cli["id"]), "approve",
                   database_url=database_url)
    assert "approved" in done.stdout
    last = api.client.get(f"/api/v1/hazards/{approved_by_cli['id']}/history").json()[-1]
    assert (last["action"], last["actor"], last["token_id"], last["organisation"]) == \
        ("review", f"cli:{getpass.getuser()}", None, None)
    assert api.summary()["mapped_m2"] == pytest.approx(
        geodesic_area(shape(approved_by_cli["geometry"])), rel=1e-6)

    record = str(rejected_by_token["id"])
    as_viewer = minemap("review", "releases", record, "reject", "--reason", "x",
                        "--token", api.tokens["viewer"], database_url=database_url, check=False)
    assert as_viewer.returncode == 1 and "may not review" in as_viewer.stderr
    minemap("review", "releases", record, "reject", "--reason", "wrong site",
            "--token", api.tokens["reviewer"], database_url=database_url)
    last = api.client.get(f"/api/v1/releases/{record}/history",
                          headers=api.auth("admin")).json()[-1]
    assert (last["actor"], last["reason"], last["after"]["review"]) == \
        ("reviewer@ANAMA", "wrong site", "rejected")


def test_ogc_layers_and_tiles_show_submissions_only_to_reviewers_who_ask(api):
    """Approved hazards for everyone; submitted ones too with include=submitted, for admins
    and reviewers only, in items, single items, the remaining land, districts and tiles."""
    import mapbox_vector_tile

    approved = api.created("hazards", hazard(square(46.90, 40.01)), who="admin")
    submitted_geometry = square(46.92, 40.03)
    submitted = api.created("hazards", hazard(submitted_geometry), who="operator")
    assert submitted["properties"]["review"] == "submitted"

    def codes(who=None, **params):
        response = api.client.get("/ogc/collections/hazards/items", headers=api.auth(who),
                                  params=params)
        assert response.status_code == 200, response.text
        return {f["properties"]["code"] for f in response.json()["features"]}, response

    public, response = codes()
    assert public == {approved["properties"]["code"]}
    assert response.headers["cache-control"].startswith("public")
    seen, response = codes("reviewer", include="submitted")
    assert seen == {approved["properties"]["code"], submitted["properties"]["code"]}
    assert response.headers["cache-control"].startswith("private")
    assert codes("admin", include="submitted")[0] == seen
    assert codes("admin")[0] == public  # only when asked

    for who, status in (("operator", 403), ("viewer", 403), (None, 401), ("revoked", 401)):
        refused = api.client.get("/ogc/collections/hazards/items", headers=api.auth(who),
                                 params={"include": "submitted"})
        assert refused.status_code == status, who
    bad = api.client.get("/ogc/collections/hazards/items", params={"include": "all"},
                         headers=api.auth("admin"))
    assert bad.status_code == 400

    one = f"/ogc/collections/hazards/items/{submitted['id']}"
    assert api.client.get(one).status_code == 404
    assert api.client.get(one, params={"include": "submitted"},
                          headers=api.auth("reviewer")).status_code == 200

    # The remaining land and the districts count the submitted hazard's area too.
    extra = geodesic_area(shape(submitted_geometry))

    def remaining(collection, **params):
        response = api.client.get(f"/ogc/collections/{collection}/items", params=params,
                                  headers=api.auth("reviewer" if params else None))
        assert response.status_code == 200, response.text
        return sum(f["properties"]["remaining_m2" if collection == "districts" else "area_m2"]
                   for f in response.json()["features"])

    for collection in ("remaining", "districts"):
        assert remaining(collection, include="submitted") == \
            pytest.approx(remaining(collection) + extra, rel=1e-6), collection

    # Tiles: a low zoom (cached for the public) and a detailed one.
    for z, x, y in ((8, 161, 96), (12, 2581, 1550)):
        url = f"/ogc/collections/hazards/tiles/WebMercatorQuad/{z}/{y}/{x}"
        counts = []
        for params, who in (({}, None), ({"include": "submitted"}, "reviewer"), ({}, None)):
            response = api.client.get(url, params=params, headers=api.auth(who))
            assert response.status_code == 200, (z, response.text)
            layer = mapbox_vector_tile.decode(response.content).get("hazards", {"features": []})
            counts.append(sum(f["properties"].get("count", 1) for f in layer["features"]))
        assert counts == [1, 2, 1], (z, counts)
    tilejson = api.client.get("/ogc/collections/hazards/tiles/WebMercatorQuad",
                              params={"include": "submitted"}, headers=api.auth("admin")).json()
    assert tilejson["tiles"][0].endswith("?include=submitted")
