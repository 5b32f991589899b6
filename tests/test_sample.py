"""`minemap load-sample` loads districts and the synthetic sample, once."""

import csv
import io
import itertools
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from minemap import sample

DATA = Path(__file__).parents[1] / "data"


def features(name: str) -> list[dict]:
    return json.loads((DATA / "sample_polygons" / name).read_text())["features"]


@pytest.fixture(scope="module")
def sample_files():
    return features("hazards.geojson"), features("releases.geojson")


def counts(conn) -> dict:
    return {
        table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
        for table in ("districts", "hazards", "releases", "history", "organisations")
    }


def test_load_sample_is_idempotent_and_complete(engine, sample_files):
    hazards, releases = sample_files
    with engine.begin() as conn:
        first = sample.load(conn)
    assert (first.districts, first.hazards, first.releases) == (78, len(hazards), len(releases))
    with engine.begin() as conn:
        before = counts(conn)
        second = sample.load(conn)
        after = counts(conn)
    assert (second.hazards, second.releases) == (0, 0)
    assert before == after
    assert after["history"] == len(hazards) + len(releases)

    with engine.connect() as conn:
        linked = conn.execute(text("SELECT count(*) FROM releases WHERE hazard_id IS NOT NULL")).scalar_one()
        mapped_sum = conn.execute(text("SELECT sum(area_m2) FROM hazards")).scalar_one()
    assert linked == sum(1 for f in releases if f["properties"]["hazard"])
    # The stored geodesic areas match the files' polygons measured independently.
    from pyproj import Geod
    from shapely.geometry import shape

    geod = Geod(ellps="WGS84")
    expected = sum(abs(geod.geometry_area_perimeter(shape(f["geometry"]))[0]) for f in hazards)
    assert mapped_sum == pytest.approx(expected, rel=1e-9)


def test_if_empty_leaves_a_database_with_records_alone(engine, sample_files):
    with engine.begin() as conn:
        sample.load_districts(conn)
        conn.execute(text("INSERT INTO organisations (name) VALUES ('MAG')"))
        conn.execute(text(
            "INSERT INTO hazards (code, classification, hazard_types, organisation_id, recorded_on, geom) "
            "SELECT 'AZ-AGM-SHA-900', 'SHA', ARRAY['AP']::hazard_type[], id, DATE '2022-01-01', "
            "ST_Multi(ST_Buffer(ST_SetSRID(ST_Point(46.95, 39.98), 4326), 0.01)) FROM organisations"
        ))
        loaded = sample.load(conn, if_empty=True)
        assert (loaded.hazards, loaded.releases) == (0, 0)
        assert conn.execute(text("SELECT count(*) FROM hazards")).scalar_one() == 1


def test_if_empty_keeps_the_units_a_deployment_loaded(engine, tmp_path):
    from minemap.store import districts

    units = json.loads((DATA / "districts" / "azerbaijan_districts.geojson").read_text())
    own = tmp_path / "own.geojson"
    own.write_text(json.dumps({"type": "FeatureCollection", "features": [
        f for f in units["features"] if f["properties"]["iso_3166_2"] == "AZ-AGM"]}))
    with engine.begin() as conn:
        districts.load(conn, own)
        assert sample.load(conn, if_empty=True).districts == 1
        assert conn.execute(text("SELECT array_agg(code) FROM districts")).scalar_one() == ["AGM"]


def test_sample_looks_like_the_real_problem(sample_files):
    """Hazards only in Karabakh and East Zangezur, releases in 2021-2025, all methods used."""
    hazards, releases = sample_files
    districts = json.loads((DATA / "districts" / "azerbaijan_districts.geojson").read_text())
    regional = {f["properties"]["iso_3166_2"] for f in districts["features"]
                if f["properties"]["karabakh_ez_2021"] and f["properties"]["iso_3166_2"]}
    prefixes = {"-".join(f["properties"]["code"].split("-")[:2]) for f in hazards}
    assert prefixes <= regional | {"AZ-SUS"}
    assert {f["properties"]["classification"] for f in hazards} == {"SHA", "CHA"}
    assert {f["properties"]["method"] for f in releases} == {"cancelled", "reduced", "cleared"}
    years = {f["properties"]["completed_on"][:4] for f in releases}
    assert years == {"2021", "2022", "2023", "2024", "2025"}


def test_sample_reports_keep_the_identities_and_count_overlaps_once(engine, client, sample_files):
    """On the sample: mapped = released + remaining, methods sum to released, districts sum to
    the nation; and the national mapped area is the geodesic area of the union of the hazards
    (shapely + pyproj), well below the sum of their areas, since they overlap."""
    from pyproj import Geod
    from shapely import union_all
    from shapely.geometry import shape

    hazards, _ = sample_files
    with engine.begin() as conn:
        sample.load(conn)
    areas = ("mapped_m2", "released_m2", "cancelled_m2", "reduced_m2", "cleared_m2",
             "released_outside_m2", "remaining_m2")
    for as_of in ("2021-10-31", "2023-12-31", "2025-12-31"):
        national = client.get("/api/v1/reports/summary", params={"as_of": as_of}).json()
        rows = client.get("/api/v1/reports/districts", params={"as_of": as_of}).json()["districts"]
        assert len(rows) >= 12
        # Whole square metres, so the identities hold exactly.
        for row in (national, *rows):
            assert all(isinstance(row[key], int) for key in areas)
            assert row["mapped_m2"] == row["released_m2"] + row["remaining_m2"]
            assert row["released_m2"] == row["cancelled_m2"] + row["reduced_m2"] + row["cleared_m2"]
        for key in areas:
            assert national[key] == sum(r[key] for r in rows)

    geod = Geod(ellps="WGS84")
    union = union_all([shape(f["geometry"]) for f in hazards])
    expected = abs(geod.geometry_area_perimeter(union)[0])
    naive = sum(abs(geod.geometry_area_perimeter(shape(f["geometry"]))[0]) for f in hazards)
    mapped = national["mapped_m2"]
    assert mapped == pytest.approx(expected, rel=1e-4)
    assert mapped < naive * 0.99


def test_csv_units_and_the_80_column_table_never_cut_a_figure(engine, client, settings):
    with engine.begin() as conn:
        sample.load(conn)
    as_of = "2025-12-31"
    rows = client.get("/api/v1/reports/districts", params={"as_of": as_of}).json()["districts"]
    tables = {unit: list(csv.DictReader(io.StringIO(client.get(
        "/api/v1/reports/districts", params={"as_of": as_of, "format": "csv", "unit": unit}).text)))
        for unit in ("m2", "ha", "km2")}
    assert [r["district"] for r in tables["km2"]] == [r["district"] for r in rows]
    for row, in_m2, in_ha, in_km2 in zip(rows, tables["m2"], tables["ha"], tables["km2"],
                                          strict=True):
        for key in ("mapped", "released", "cleared", "remaining"):
            assert int(in_m2[f"{key}_m2"]) == row[f"{key}_m2"]
            assert Decimal(in_ha[f"{key}_ha"]) * 10_000 == row[f"{key}_m2"]
            assert Decimal(in_km2[f"{key}_km2"]) * 1_000_000 == row[f"{key}_m2"]
            assert f"{key}_m2" not in in_km2
    assert client.get("/api/v1/reports/summary", params={"format": "csv", "unit": "acre"}
                      ).status_code == 422

    # Shusha the district and Shusha the city are told apart.
    labels = [r["district"] for r in rows]
    assert len(set(labels)) == len(labels) and {"Shusha", "Shusha (city)"} <= set(labels)
    env = {**os.environ, "MINEMAP_DATABASE_URL": settings.database_url}

    def table(columns: int) -> str:
        done = subprocess.run([sys.executable, "-m", "minemap", "report", "districts",
                               "--as-of", as_of], env=env | {"COLUMNS": str(columns)},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    shown = {}
    for columns in (160, 80, 60, 40):
        text_ = table(columns)
        lines = text_.splitlines()
        assert max(map(len, lines)) <= columns and "…" not in text_, columns
        cells = {cell.strip() for line in lines for cell in line.split("│")}
        header = next(line for line in lines if "┃" in line)
        headers = {cell.strip() for cell in header.split("┃")}
        shown[columns] = headers
        for row in rows:
            for key in ("mapped", "released", "cleared", "remaining"):
                if key in headers:
                    assert f"{row[f'{key}_m2'] / 1e6:,.2f}" in cells, (columns, key)
    assert "cleared" in shown[160] and "cleared" not in shown[80]
    assert {"mapped", "released", "remaining"} <= shown[80] and "remaining" in shown[40]


def test_every_report_downloads_as_xlsx_with_numbers_and_dates(engine, client):
    from openpyxl import load_workbook

    with engine.begin() as conn:
        sample.load(conn)
    reports = {
        "districts": ({"as_of": "2025-12-31"}, lambda body: body["districts"]),
        "summary": ({"as_of": "2025-12-31"}, lambda body: [body]),
        "timeseries": ({"from": "2021-01-01", "to": "2025-12-31"}, lambda body: body["periods"]),
    }
    for name, (params, rows_of) in reports.items():
        rows = rows_of(client.get(f"/api/v1/reports/{name}", params=params).json())
        got = client.get(f"/api/v1/reports/{name}", params=params | {"format": "xlsx",
                                                                      "unit": "ha"})
        assert got.status_code == 200, got.text
        assert got.headers["content-type"].startswith("application/vnd.openxmlformats")
        assert f'{name}' in got.headers["content-disposition"]
        sheet = load_workbook(io.BytesIO(got.content), read_only=True).active
        header, *cells = [list(row) for row in sheet.iter_rows(values_only=True)]
        assert len(cells) == len(rows) > 0
        for row, values in zip(rows, cells, strict=True):
            table = dict(itertools.zip_longest(header, values))  # empty cells end a row
            assert table["remaining_ha"] == pytest.approx(row["remaining_m2"] / 1e4, abs=1e-9)
            assert isinstance(table["remaining_ha"], (int, float))
            date_key = "period_end" if name == "timeseries" else "as_of"
            assert table[date_key].date().isoformat() == row[date_key]
            if name != "timeseries":
                assert table["devices_ap_mines"] == row["devices"]["ap_mines"]
