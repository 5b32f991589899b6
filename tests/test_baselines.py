"""Baselines: absurd ones refused, corrections and withdrawals with If-Match and history, and
reports that follow them and never fail on what is stored.

Expected areas are computed here with shapely and pyproj, not read back from minemap.
"""

import datetime as dt
import json

import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError
from minemap.app import create_app
from minemap import accounting
from minemap.db import migrate
from minemap.db.engine import transaction
from minemap.settings import Settings
from minemap.store import districts
from test_review import (AGHDAM, AGHDAM_FEATURE, INSIDE, PROBLEM, ROOT, Api,  # noqa: F401
                         api, geodesic_area, hazard, issue_tokens, load_aghdam, release, square)

URL = "/api/v1/baselines"
AGHDAM_KM2 = geodesic_area(AGHDAM) / 1e6  # about 1,067.6
TODAY = dt.date.today()
GOOD = {"label": "2021 survey", "as_of": "2021-01-01", "area_km2": 1000}


def rows(engine) -> dict:
    """Return every row of the tables a baseline write touches."""
    with engine.connect() as conn:
        return {table: [dict(r) for r in conn.execute(
            text(f"SELECT * FROM {table} ORDER BY id")).mappings()]
            for table in ("baselines", "history")}


def strict_json(response) -> object:
    """Parse a body as a strict JSON reader would: NaN and Infinity are not JSON."""
    def refuse(constant):
        raise AssertionError(f"{constant} in {response.request.url}")
    return json.loads(response.text, parse_constant=refuse)


def posted(api: Api, body: dict, who: str = "admin"):
    response = api.client.post(URL, json=body, headers=api.auth(who))
    assert response.status_code == 201, response.text
    return response


def tagged(api: Api, response) -> dict:
    return api.auth("admin") | {"If-Match": response.headers["etag"]}


# ---- refused ---------------------------------------------------------------------------

RAW = {  # bodies Python's json would not write: numbers beyond a float, and NaN
    "1.8e308": ('{"label": "x", "as_of": "2021-01-01", "area_km2": 1.8e308}', "area_km2"),
    "-1e999": ('{"label": "x", "as_of": "2021-01-01", "area_km2": -1e999}', "area_km2"),
    "NaN": ('{"label": "x", "as_of": "2021-01-01", "area_km2": NaN}', "area_km2"),
    "Infinity": ('{"label": "x", "as_of": "2021-01-01", "area_km2": Infinity}', "area_km2"),
}
ABSURD = {
    "tiny area": ({"area_km2": 2.2e-16}, "area_km2"),
    "zero area": ({"area_km2": 0}, "area_km2"),
    "negative area": ({"area_km2": -5}, "area_km2"),
    "area as text": ({"area_km2": "1000"}, "area_km2"),
    "area as true": ({"area_km2": True}, "area_km2"),
    "larger than Aghdam": ({"area_km2": 1100}, "area_km2"),
    "year 281": ({"as_of": "0281-01-01"}, "as_of"),
    "before 1990": ({"as_of": "1989-12-31"}, "as_of"),
    "tomorrow": ({"as_of": str(TODAY + dt.timedelta(days=1))}, "as_of"),
    "bell": ({"label": "bad\x07label"}, "label"),
    "escape": ({"label": "\x1b[2Jwiped"}, "label"),
    "NUL": ({"label": "a\x00b"}, "label"),
    "C1 control": ({"label": "a\x85b"}, "label"),
    "zero-width space": ({"label": "a\u200bb"}, "label"),
    "empty label": ({"label": ""}, "label"),
    "blank label": ({"label": " \t "}, "label"),
    "long label": ({"label": "x" * 201}, "label"),
    "unknown district": ({"district": "Atlantis"}, "district"),
    "district with a control": ({"district": "Agh\x00dam"}, "district"),
    "unknown field": ({"colour": "red"}, "colour"),
}


@pytest.mark.parametrize("case", [*RAW, *ABSURD])
def test_absurd_baselines_are_refused_and_change_nothing(api, case):
    before = rows(api.engine)
    if case in RAW:
        body, field = RAW[case]
        response = api.client.post(URL, content=body, headers=api.auth("admin") | {
            "Content-Type": "application/json"})
    else:
        changes, field = ABSURD[case]
        response = api.client.post(URL, json=GOOD | {"district": "AZ-AGM"} | changes,
                                   headers=api.auth("admin"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = strict_json(response)
    assert problem["errors"] and all(field in e["reason"] for e in problem["errors"]), problem
    assert rows(api.engine) == before


def test_a_district_baseline_is_at_most_its_district(api):
    refused = api.client.post(URL, headers=api.auth("admin"), json=GOOD | {
        "district": "Aghdam", "area_km2": round(AGHDAM_KM2 + 0.5, 1)})
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert error["code"] == "area_too_large"
    assert f"exceeds the district's {AGHDAM_KM2:,.1f} km² (Aghdam)" in error["reason"]
    assert "square metres" not in error["reason"]
    # As much as the whole district is allowed; so is a national one as large as the units.
    whole = posted(api, GOOD | {"district": "Aghdam", "area_km2": round(AGHDAM_KM2 - 0.01, 2)})
    assert whole.json()["area_km2"] == round(AGHDAM_KM2 - 0.01, 2)
    posted(api, GOOD | {"area_km2": round(AGHDAM_KM2 - 0.01, 2)})


@pytest.fixture
def country(client, engine, units) -> Api:
    """The api with every bundled unit loaded: the whole country."""
    return Api(client, engine, issue_tokens(engine))


def test_square_metres_given_for_km2_are_named(country):
    api = country
    units = json.loads((ROOT / "data/districts/azerbaijan_districts.geojson").read_text())
    country_km2 = geodesic_area(shapely.union_all(
        [shape(f["geometry"]) for f in units["features"]])) / 1e6
    assert 80_000 < country_km2 < 90_000  # Azerbaijan: 86,600 km²
    before = rows(api.engine)
    refused = api.client.post(URL, headers=api.auth("admin"), json=GOOD | {
        "area_km2": 11_667_000_000})
    assert refused.status_code == 422
    reason = refused.json()["errors"][0]["reason"]
    assert reason.startswith("area_km2 11,667,000,000 exceeds the country's "
                             f"{country_km2:,.1f} km²")
    assert "looks like square metres: 11,667,000,000 m² is 11,667 km²" in reason
    # A district's: Aghdam's 800 km² as m².
    refused = api.client.post(URL, headers=api.auth("admin"), json=GOOD | {
        "area_km2": 800_000_000, "district": "AZ-AGM"})
    reason = refused.json()["errors"][0]["reason"]
    assert f"exceeds the district's {AGHDAM_KM2:,.1f} km² (Aghdam)" in reason
    assert "looks like square metres: 800,000,000 m² is 800 km²" in reason
    assert rows(api.engine) == before
    assert posted(api, GOOD | {"area_km2": 11_667}).json()["area_km2"] == 11_667


def test_without_districts_a_baseline_cannot_be_checked(client, engine):
    api = Api(client, engine, issue_tokens(engine))
    response = api.client.post(URL, json=GOOD, headers=api.auth("admin"))
    assert response.status_code == 409 and response.headers["content-type"] == PROBLEM
    assert "districts load" in response.json()["detail"]
    assert rows(engine)["baselines"] == []


def test_the_database_refuses_absurd_baselines_in_use(engine):
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO baselines (label, as_of, area_km2) "
                          "VALUES ('fine', '2021-01-01', 0.000001)"))
    for values in ("'x', '2021-01-01', 'Infinity'", "'x', '2021-01-01', 'NaN'",
                   "'x', '2021-01-01', 1e-7", "'x', '2021-01-01', 6e8",
                   "'x', '0281-01-01', 1", "'x', current_date + 3, 1",
                   "E'a\\x07b', '2021-01-01', 1", "' padded', '2021-01-01', 1",
                   "'', '2021-01-01', 1", "repeat('x', 201), '2021-01-01', 1"):
        with pytest.raises(IntegrityError, match="ck_baselines_"), engine.begin() as conn:
            conn.execute(text(f"INSERT INTO baselines (label, as_of, area_km2) "
                              f"VALUES ({values})"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM baselines")).scalar_one() == 1


# ---- stored, corrected, withdrawn ------------------------------------------------------

def test_a_baseline_is_stored_read_and_listed(api):
    created = posted(api, {"label": "  2021 national survey ", "as_of": "2021-01-01",
                           "area_km2": 1000.25})
    body = created.json()
    assert (body["label"], body["as_of"], body["area_km2"], body["district"], body["version"],
            body["withdrawn_at"]) == ("2021 national survey", "2021-01-01", 1000.25, None, 1,
                                      None)
    read = api.client.get(created.headers["location"])
    assert read.status_code == 200 and read.json() == body
    assert read.headers["etag"] == created.headers["etag"]
    assert api.client.get(created.headers["location"], headers={
        "If-None-Match": created.headers["etag"]}).status_code == 304
    listed = api.client.get(URL).json()["baselines"]
    assert [b["id"] for b in listed] == [body["id"]]
    with api.engine.connect() as conn:
        stored = conn.execute(text("SELECT label, area_km2 FROM baselines")).one()
    assert (stored.label, str(stored.area_km2)) == ("2021 national survey", "1000.25")


def test_a_baseline_is_corrected_and_withdrawn_with_if_match_and_history(api):
    created = posted(api, GOOD)
    url = created.headers["location"]
    change = {"area_km2": 900, "label": "2021 survey, corrected"}

    missing = api.client.patch(url, json=change, headers=api.auth("admin"))
    assert missing.status_code == 428 and missing.headers["content-type"] == PROBLEM
    for who, status in (("reviewer", 403), ("operator", 403), ("viewer", 403), (None, 401)):
        assert api.client.patch(url, json=change, headers=api.auth(who) | {
            "If-Match": created.headers["etag"]}).status_code == status, who
    before = rows(api.engine)
    refused = api.client.patch(url, json={"area_km2": 1e12}, headers=tagged(api, created))
    assert refused.status_code == 422 and "square metres" not in refused.text
    assert api.client.patch(url, json={"label": None}, headers=tagged(api, created)
                            ).status_code == 422
    assert rows(api.engine) == before

    corrected = api.client.patch(url, json=change, headers=tagged(api, created))
    assert corrected.status_code == 200, corrected.text
    assert (corrected.json()["area_km2"], corrected.json()["label"],
            corrected.json()["version"]) == (900, "2021 survey, corrected", 2)
    assert corrected.headers["etag"] != created.headers["etag"]
    stale = api.client.patch(url, json={"area_km2": 800}, headers=tagged(api, created))
    assert stale.status_code == 412 and stale.headers["content-type"] == PROBLEM
    # A district baseline made national, and back.
    local = api.client.patch(url, json={"district": "AZ-AGM"}, headers=tagged(api, corrected))
    assert local.status_code == 200 and local.json()["district"] == "Aghdam"
    national = api.client.patch(url, json={"district": None}, headers=tagged(api, local))
    assert national.status_code == 200 and national.json()["district"] is None

    assert api.client.delete(url, headers=api.auth("admin")).status_code == 428
    assert api.client.delete(url, headers=tagged(api, corrected)).status_code == 412
    assert api.client.delete(url, headers=api.auth("reviewer") | {
        "If-Match": national.headers["etag"]}).status_code == 403
    withdrawn = api.client.delete(url, headers=tagged(api, national))
    assert withdrawn.status_code == 204

    kept = api.client.get(url)
    assert kept.status_code == 200 and kept.json()["withdrawn_at"] is not None
    assert kept.json()["area_km2"] == 900
    assert api.client.get(URL).json()["baselines"] == []
    assert [b["id"] for b in api.client.get(URL, params={"include": "withdrawn"}).json()[
        "baselines"]] == [created.json()["id"]]
    assert api.client.patch(url, json={"area_km2": 800}, headers=tagged(api, kept)
                            ).status_code == 409
    assert api.client.delete(url, headers=tagged(api, kept)).status_code == 409

    entries = api.client.get(f"{url}/history").json()
    assert [(e["action"], e["version"], e["actor"]) for e in entries] == [
        ("create", 1, "admin@ANAMA"), ("update", 2, "admin@ANAMA"), ("update", 3, "admin@ANAMA"),
        ("update", 4, "admin@ANAMA"), ("withdraw", 5, "admin@ANAMA")]
    assert entries[0]["before"] is None and entries[0]["after"]["area_km2"] == 1000
    assert (entries[1]["before"]["area_km2"], entries[1]["after"]["area_km2"]) == (1000, 900)
    assert entries[-1]["before"]["withdrawn_at"] is None
    assert entries[-1]["after"]["withdrawn_at"] is not None
    assert "geometry" not in entries[0]["after"]


@pytest.mark.parametrize("path", ["11788061261033922560", str(2**31), str(2**63), "0", "-1"])
def test_ids_beyond_any_baseline_are_404(api, path):
    url = f"{URL}/{path}"
    star = api.auth("admin") | {"If-Match": "*"}
    for response in (api.client.get(url), api.client.get(f"{url}/history"),
                     api.client.patch(url, json={"area_km2": 5}, headers=star),
                     api.client.delete(url, headers=star)):
        assert response.status_code == 404, (response.request.method, response.text)
        assert response.headers["content-type"] == PROBLEM
    assert api.client.get(f"{URL}/abc").status_code == 422


# ---- reports ---------------------------------------------------------------------------

def released_land(api: Api) -> float:
    """Record a hazard and a release inside it in Aghdam; return the released m² (pyproj)."""
    made = api.created("hazards", hazard(square(*INSIDE, half=0.01), recorded_on="2020-06-01"))
    inner = square(*INSIDE, half=0.004)
    api.created("releases", release(inner, hazard=made["properties"]["code"],
                                    completed_on="2022-05-01"))
    assert AGHDAM.contains(shape(made["geometry"]))
    return geodesic_area(shape(inner))


def aghdam_row(api: Api) -> dict:
    response = api.client.get("/api/v1/reports/districts", params={"as_of": "2023-01-01"})
    assert response.status_code == 200, response.text
    [row] = [r for r in strict_json(response)["districts"] if r["district"] == "Aghdam"]
    return row


def expect(row: dict, km2: float | None, since_m2: float) -> None:
    """Check a report row's baseline figures against a baseline of `km2` (None: none)."""
    if km2 is None:
        assert (row["baseline_km2"], row["progress"], row["baseline_remaining_km2"]) == \
            (None, None, None)
        return
    assert row["baseline_km2"] == km2
    assert row["released_since_baseline_m2"] == pytest.approx(since_m2, rel=1e-6, abs=1)
    assert row["progress"] == pytest.approx(since_m2 / (km2 * 1e6), rel=1e-5)
    assert row["baseline_remaining_km2"] == pytest.approx(km2 - since_m2 / 1e6, abs=2e-6)


def test_reports_follow_corrections_and_ignore_withdrawn_baselines(api):
    released = released_land(api)
    default = api.client.get(URL).json()["default"]
    assert (default["area_km2"], default["as_of"]) == (11667, "2021-01-01")
    expect(api.summary(), 11667, released)

    older = posted(api, {"label": "2020 survey", "as_of": "2020-01-01", "area_km2": 600})
    newer = posted(api, {"label": "2021 survey", "as_of": "2021-01-01", "area_km2": 500})
    local = posted(api, {"label": "Aghdam 2021", "as_of": "2021-06-01", "area_km2": 400,
                         "district": "AZ-AGM"})
    expect(api.summary(), 500, released)
    assert api.summary()["baseline_date"] == "2021-01-01"
    expect(aghdam_row(api), 400, released)

    corrected = api.client.patch(newer.headers["location"], json={"area_km2": 800},
                                 headers=tagged(api, newer))
    assert corrected.status_code == 200
    expect(api.summary(), 800, released)
    expect(api.summary("admin", include="submitted"), 800, released)

    # Withdrawn, the newer one gives way to the older one; then to the settings' default.
    assert api.client.delete(newer.headers["location"], headers=tagged(api, corrected)
                             ).status_code == 204
    expect(api.summary(), 600, released)
    assert api.summary()["baseline_date"] == "2020-01-01"
    assert api.client.delete(older.headers["location"], headers=tagged(api, older)
                             ).status_code == 204
    expect(api.summary(), 11667, released)
    assert api.client.delete(local.headers["location"], headers=tagged(api, local)
                             ).status_code == 204
    expect(aghdam_row(api), None, released)


def test_no_stored_baseline_makes_a_report_fail(api):
    """Values the database allows, however odd, and withdrawn ones it keeps as they were."""
    released = released_land(api)
    with transaction(api.engine) as conn:
        aghdam = conn.execute(text("SELECT id FROM districts")).scalar_one()
        conn.execute(text("""
            INSERT INTO baselines (label, as_of, area_km2, district_id, withdrawn_at) VALUES
            (:odd, '1990-01-01', 0.000001, NULL, NULL),
            ('whole Earth', '2022-12-31', 510065622, :aghdam, NULL),
            ('inf', '2021-01-01', 'Infinity', NULL, now()),
            ('nan', '2022-01-01', 'NaN', :aghdam, now()),
            ('beyond float8', '2022-01-01', 1e400, NULL, now()),
            ('year 281', '0281-01-01', 1e-300, NULL, now())"""),
            {"odd": "“quoted” <b>&amp; ✓ \u00a0" + "ə" * 150, "aghdam": aghdam})
    summary = api.summary()
    # 1 m² against hundreds of thousands released: progress far beyond 1, and finite.
    expect(summary, 0.000001, released)
    assert summary["projected_completion"] == "2023-01-01"  # used up
    row = aghdam_row(api)
    assert row["baseline_km2"] == 510065622 and row["released_since_baseline_m2"] == 0
    assert row["progress"] == 0 and row["projected_completion"] is None

    for path, params, who in (
            ("/api/v1/reports/summary", {}, None),
            ("/api/v1/reports/summary", {"include": "submitted"}, "admin"),
            ("/api/v1/reports/summary", {"format": "csv"}, None),
            ("/api/v1/reports/districts", {}, None),
            ("/api/v1/reports/districts", {"format": "csv", "include": "submitted"}, "admin"),
            ("/api/v1/reports/timeseries", {"from": "1990-01-01"}, None),
            (URL, {"include": "withdrawn"}, None)):
        response = api.client.get(path, params=params, headers=api.auth(who))
        assert response.status_code == 200, (path, params, response.text)
        if "csv" not in response.headers["content-type"]:
            strict_json(response)
    listed = api.client.get(URL, params={"include": "withdrawn"}).json()["baselines"]
    # National ones first, by date; then Aghdam's.
    assert [b["area_km2"] for b in listed] == [1e-300, 1e-06, None, None, None, 510065622]
    for baseline in listed:
        for suffix in ("", "/history"):
            response = api.client.get(f"{URL}/{baseline['id']}{suffix}")
            assert response.status_code == 200, response.text
            strict_json(response)


def test_reports_never_write_a_non_finite_number(engine, tmp_path):
    """Defence below the database's: a baseline no float can hold, were one in use."""
    from minemap import accounting
    from minemap.accounting.reports import baseline_fields

    load_aghdam(engine, tmp_path)
    with transaction(engine) as conn:
        conn.execute(text("ALTER TABLE baselines DROP CONSTRAINT ck_baselines_area_plausible,"
                          " DROP CONSTRAINT ck_baselines_area_positive"))
        for stored in ("0", "-3", "'NaN'", "'Infinity'", "1e400"):
            conn.execute(text("DELETE FROM baselines"))
            conn.execute(text(f"INSERT INTO baselines (label, as_of, area_km2) "
                              f"VALUES ('x', '2021-01-01', {stored})"))
            summary = accounting.summary(conn, as_of=TODAY, baseline_km2=1.0,
                                         baseline_date=dt.date(2021, 1, 1))
            assert summary["progress"] is None and summary["baseline_km2"] is None, stored
    # A baseline so small that the progress overflows a float; and a rate so slow that the
    # projection does.
    tiny = baseline_fields(TODAY, 1e-320, TODAY, 10**6, 10**6)
    assert tiny["progress"] is None and tiny["projected_completion"] == TODAY
    slow = baseline_fields(TODAY, 5e8, TODAY, 0, 1)
    assert slow["progress"] == 0 and slow["projected_completion"] is None


# ---- migration 0006 --------------------------------------------------------------------

def test_migration_0006_withdraws_absurd_baselines_and_cleans_labels(empty_database_url,
                                                                      tmp_path):
    engine = create_engine(empty_database_url)
    migrate.upgrade(engine, "0005")
    path = tmp_path / "aghdam.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [AGHDAM_FEATURE]}))
    with transaction(engine) as conn:
        districts.load(conn, path)
        aghdam = conn.execute(text("SELECT id FROM districts")).scalar_one()
        conn.execute(text("""
            INSERT INTO baselines (label, as_of, area_km2, district_id, created_at) VALUES
            ('fine', '2021-01-01', 1000, NULL, now()),
            ('inf', '2021-01-01', 'Infinity', NULL, now()),
            ('nan', '2021-01-01', 'NaN', NULL, now()),
            ('tiny', '2021-01-01', 2.2e-16, NULL, now()),
            ('beyond the Earth', '2021-01-01', 26000000000000000, NULL, now()),
            ('beyond the units', '2021-01-01', 2000, NULL, now()),
            ('beyond Aghdam', '2021-01-01', 1100, :aghdam, now()),
            ('year 281', '0281-01-01', 100, NULL, now()),
            ('future', current_date + 30, 100, NULL, now()),
            (E'bell\\x07 and newline\\n', '2021-01-01', 100, :aghdam, now()),
            (E'\\x1b\\x1b', '2021-01-01', 100, :aghdam, now())"""), {"aghdam": aghdam})
    migrate.upgrade(engine)
    with transaction(engine) as conn:
        accounting.refresh(conn)  # as `minemap db upgrade` does: the districts loaded above
    with engine.connect() as conn:
        kept = {r.id: r for r in conn.execute(text(
            "SELECT id, label, withdrawn_at IS NOT NULL AS withdrawn, version FROM baselines"))}
        logged = conn.execute(text(
            "SELECT entity_id, action, reason FROM history WHERE entity = 'baseline' "
            "AND action <> 'create' ORDER BY id")).all()
        created = conn.execute(text("SELECT count(*) FROM history WHERE action = 'create'")
                               ).scalar_one()
    assert len(kept) == 11 and created == 11
    assert {i for i, r in kept.items() if r.withdrawn} == set(range(2, 10))
    assert (kept[10].label, kept[11].label) == ("bell  and newline", "baseline 11")
    assert (kept[1].version, kept[2].version, kept[10].version) == (1, 2, 2)
    reasons = {entity: reason for entity, action, reason in logged}
    assert [a for _, a, _ in logged] == ["withdraw"] * 8 + ["update"] * 2
    assert "not a finite number" in reasons[2] and "not a finite number" in reasons[3]
    assert "under 1 m²" in reasons[4] and "Earth" in reasons[5]
    assert "loaded districts' 1067.6 km²" in reasons[6]
    assert "district's 1067.6 km²" in reasons[7]
    assert "before 1990" in reasons[8] and "in the future" in reasons[9]
    assert "label cleaned" in reasons[10] and "label cleaned" in reasons[11]

    # What was withdrawn stays out of the reports, and nothing stored makes them fail.
    settings = Settings(database_url=empty_database_url, _env_file=None)
    with TestClient(create_app(settings)) as client:
        summary = client.get("/api/v1/reports/summary?as_of=2023-01-01")
        assert summary.status_code == 200 and summary.json()["baseline_km2"] == 1000
        assert client.get("/api/v1/baselines/2").json()["area_km2"] is None
    migrate.downgrade(engine, "0005")
    migrate.upgrade(engine)
    engine.dispose()
