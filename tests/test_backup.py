"""Backup and restore: a round trip into a fresh database reproduces the reports and history."""

import datetime as dt
import json

import pytest
from sqlalchemy import create_engine, text

from minemap import accounting, backup
from minemap.db.engine import transaction
from minemap.errors import Conflict
from minemap.settings import Settings
from minemap.store import districts, tokens
from test_review import INSIDE, api, hazard, minemap, release, square  # noqa: F401

DATES = (dt.date(2021, 6, 1), dt.date(2022, 6, 1), dt.date.today())
BASELINE = {"baseline_km2": 11667.0, "baseline_date": dt.date(2021, 1, 1)}


def build_history(api) -> None:
    """Record approved, submitted, rejected, changed and deleted hazards and releases, and
    a corrected and a withdrawn baseline."""
    kept = api.created("hazards", hazard(square(*INSIDE, half=0.006)))
    code = kept["properties"]["code"]
    api.created("hazards", hazard(square(INSIDE[0] + 0.01, INSIDE[1]), recorded_on="2022-01-10"),
                who="operator")
    rejected = api.created("hazards", hazard(square(INSIDE[0], INSIDE[1] + 0.01)),
                           who="operator")
    assert api.review("hazards", rejected["id"], "reviewer", decision="reject",
                      reason="duplicate").status_code == 200
    api.created("releases", release(square(INSIDE[0] - 0.003, INSIDE[1], half=0.003),
                                    hazard=code, completed_on="2021-09-01", method="cancelled"))
    doomed = api.created("releases", release(square(*INSIDE, half=0.002), hazard=code),
                         who="operator")
    approved = api.review("releases", doomed["id"], "admin", decision="approve")
    url = f"/api/v1/releases/{doomed['id']}"
    moved = api.client.patch(url, json={"geometry": square(INSIDE[0] + 0.003, INSIDE[1],
                                                           half=0.002)},
                             headers=api.auth("admin") | {"If-Match": approved.headers["etag"]})
    assert moved.status_code == 200, moved.text
    assert api.client.delete(url, headers=api.auth("admin") | {"If-Match": moved.headers["etag"]}
                             ).status_code == 204
    api.created("releases", release(square(*INSIDE, half=0.002), completed_on="2022-08-01"))
    # Baselines at most the loaded units' area (Aghdam's 1,067.6 km²): one corrected, one
    # withdrawn, so that versions, withdrawals and their history come back too.
    national = api.client.post("/api/v1/baselines", headers=api.auth("admin"), json={
        "label": "2021 survey", "as_of": "2021-01-01", "area_km2": 1000})
    assert national.status_code == 201, national.text
    corrected = api.client.patch(national.headers["location"], json={"area_km2": 950},
                                 headers=api.auth("admin") | {"If-Match": national.headers["etag"]})
    assert corrected.status_code == 200, corrected.text
    local = api.client.post("/api/v1/baselines", headers=api.auth("admin"), json={
        "label": "Aghdam 2022", "as_of": "2022-01-01", "area_km2": 300, "district": "AZ-AGM"})
    assert api.client.delete(local.headers["location"], headers=api.auth("admin") | {
        "If-Match": local.headers["etag"]}).status_code == 204
    # An operator's import, reviewed as a whole.
    survey = json.dumps({"type": "FeatureCollection", "features": [
        hazard(square(INSIDE[0] - 0.02 * n, INSIDE[1] - 0.02)) for n in (1, 2)]}).encode()
    imported = api.client.post("/api/v1/imports", headers=api.auth("operator"),
                               files={"file": ("survey.geojson", survey)},
                               data={"kind": "hazards"})
    assert imported.status_code == 201, imported.text
    assert api.client.post(f"/api/v1/imports/{imported.json()['import_id']}/review",
                           headers=api.auth("reviewer"), json={"decision": "approve"}
                           ).json()["decided"] == 2


def state(url: str) -> dict:
    """Return what a user can tell apart: reports at several dates, both views, and history."""
    engine = create_engine(url)
    try:
        with transaction(engine) as conn:
            reports = {(day, both): (accounting.summary(conn, as_of=day, include_submitted=both,
                                                        **BASELINE),
                                     accounting.districts(conn, as_of=day,
                                                          include_submitted=both, **BASELINE))
                       for day in DATES for both in (False, True)} \
                if districts.count(conn) else None  # without units, reports refuse
            tables = {table: [dict(row) for row in conn.execute(
                text(f"SELECT * FROM {table} ORDER BY 1, 2")).mappings()]
                for table in ("history", "hazards", "releases", "baselines", "organisations",
                              "tokens", "imports", "import_records")}
    finally:
        engine.dispose()
    return {"reports": reports, **tables}


def test_a_backup_restores_into_a_fresh_database(api, database_url, empty_database_url,
                                                 tmp_path):
    build_history(api)
    original = state(database_url)
    assert original["reports"][(DATES[-1], False)][0]["released_m2"] > 0
    assert len(original["history"]) == 18  # 14, and the import's 2 creates and 2 reviews
    assert (len(original["imports"]), len(original["import_records"])) == (1, 2)
    assert [(b["area_km2"], b["withdrawn_at"] is None) for b in original["baselines"]] == \
        [(950, True), (300, False)]
    dump = tmp_path / "minemap.dump"
    done = minemap("backup", str(dump), database_url=database_url)
    assert dump.stat().st_size > 0 and "written" in done.stdout

    minemap("restore", str(dump), database_url=empty_database_url)
    assert state(empty_database_url) == original
    # Tokens come back as their hashes: the same tokens still work.
    engine = create_engine(empty_database_url)
    with transaction(engine) as conn:
        assert tokens.authenticate(conn, api.tokens["reviewer"]).name == "reviewer@ANAMA"
        assert tokens.authenticate(conn, api.tokens["revoked"]) is None

    # A database holding data is only replaced when asked to.
    restored = Settings(database_url=empty_database_url, _env_file=None)
    with transaction(engine) as conn:
        conn.execute(text("DELETE FROM baselines"))
    engine.dispose()
    refused = minemap("restore", str(dump), database_url=empty_database_url, check=False)
    assert refused.returncode == 1 and "already holds data" in refused.stderr
    assert "--force" in refused.stderr
    with pytest.raises(Conflict):
        backup.restore(restored, dump)
    backup.restore(restored, dump, force=True)
    assert state(empty_database_url) == original


def test_a_migrated_empty_database_is_restored_into_and_bad_files_are_refused(
        database_url, tmp_path):
    dump = tmp_path / "empty.dump"
    settings = Settings(database_url=database_url, _env_file=None)
    backup.backup(settings, dump)
    before = state(database_url)
    assert backup.restore(settings, dump) == dict.fromkeys(backup.DATA_TABLES, 0)
    assert state(database_url) == before

    garbage = tmp_path / "garbage.dump"
    garbage.write_bytes(b"not a dump")
    with pytest.raises(Exception, match="pg_restore failed"):
        backup.restore(settings, garbage)
    with pytest.raises(Exception, match="no backup file"):
        backup.restore(settings, tmp_path / "missing.dump")


REPORTS = [("/api/v1/reports/summary", {"as_of": "2025-12-31"}),
           ("/api/v1/reports/districts", {"as_of": "2024-06-30"}),
           ("/api/v1/reports/districts", {}),
           ("/api/v1/reports/timeseries", {"from": "2021-01-01", "interval": "month"})]


def report_bytes(url: str) -> dict:
    """Every report's bytes as an HTTP client receives them: JSON, and CSV in each unit."""
    from fastapi.testclient import TestClient

    from minemap.app import create_app

    settings = Settings(database_url=url, _env_file=None)
    with TestClient(create_app(settings)) as client:
        got = {}
        for path, params in REPORTS:
            for fmt in ("json", "m2", "ha", "km2"):
                query = params | ({"format": "csv", "unit": fmt} if fmt != "json" else {})
                response = client.get(path, params=query)
                assert response.status_code == 200, response.text
                got[path, str(params), fmt] = response.content
    return got


def test_a_restored_sample_gives_byte_identical_reports(engine, database_url,
                                                        empty_database_url, tmp_path):
    from minemap import sample

    with engine.begin() as conn:
        sample.load(conn)
    original = report_bytes(database_url)
    dump = tmp_path / "sample.dump"
    minemap("backup", str(dump), database_url=database_url)
    minemap("restore", str(dump), database_url=empty_database_url)
    # Sums must not depend on the order of rows: store the restored pieces in reverse.
    restored = create_engine(empty_database_url)
    with restored.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE shuffled AS SELECT * FROM pieces"))
        conn.execute(text("DELETE FROM pieces"))
        conn.execute(text("INSERT INTO pieces SELECT * FROM shuffled ORDER BY id DESC"))
    restored.dispose()
    again = report_bytes(empty_database_url)
    assert again.keys() == original.keys()
    differing = [key for key in original if again[key] != original[key]]
    assert not differing, differing
    summary = json.loads(original["/api/v1/reports/summary", "{'as_of': '2025-12-31'}", "json"])
    assert summary["mapped_m2"] > 0 and summary["released_m2"] > 0
