"""`minemap districts load`: any file of units, in any CRS; reloads keep the records.

Expected units and areas come from the bundled file, read with json, shapely and pyproj.
"""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pyogrio.raw
import pyproj
import pytest
import shapely
from shapely.geometry import Polygon, box, mapping, shape
from sqlalchemy import text

from minemap import accounting
from minemap.db.engine import transaction
from minemap.errors import Conflict, InvalidInput
from minemap.store import districts, tokens
from minemap.vocab import Role

ROOT = Path(__file__).parents[1]
FEATURES = {f["properties"]["iso_3166_2"] or f["properties"]["name"] + " city": f
            for f in json.loads((ROOT / "data/districts/azerbaijan_districts.geojson")
                                .read_text())["features"]}
SHAPES = {key: shape(f["geometry"]) for key, f in FEATURES.items()}
GEOD = pyproj.Geod(ellps="WGS84")
TO_UTM = pyproj.Transformer.from_crs(4326, 32638, always_xy=True)


def area(geom) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0])


def geojson(path: Path, units: list[tuple[dict, object]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": mapping(geom)}
        for props, geom in units]}))
    return path


def unit(iso: str, **extra) -> tuple[dict, object]:
    props = FEATURES[iso]["properties"]
    return {"name": props["name"], "iso_3166_2": props["iso_3166_2"], **extra}, SHAPES[iso]


def stored(engine) -> dict:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT code, name, iso_3166_2, ST_Area(geography(geom)) AS a, "
                                 "md5(ST_AsEWKB(geom)) AS shape FROM districts ORDER BY code"))
        return {row.code: row._asdict() for row in rows}


def report(client) -> dict:
    response = client.get("/api/v1/reports/districts")
    assert response.status_code == 200, response.text
    return {r["district"]: r["mapped_m2"] for r in response.json()["districts"]}


@pytest.mark.parametrize("driver", ["GPKG", "ESRI Shapefile"])
def test_geoboundaries_units_in_utm_load_from_the_command_line(settings, engine, tmp_path,
                                                               driver):
    # geoBoundaries ADM1 fields; the city of Shusha has no ISO code of its own.
    keys = ["AZ-AGM", "AZ-AGC", "AZ-SUS", "Shusha city"]
    props = [FEATURES[k]["properties"] for k in keys]
    fields = {"shapeName": [p["name"] for p in props],
              "shapeISO": [p["iso_3166_2"] or "" for p in props],
              "shapeID": [f"{n}B{7390 + n}AZE" for n in range(len(keys))],
              "shapeType": ["ADM1"] * len(keys)}
    utm = [shapely.transform(SHAPES[k], lambda xy: np.column_stack(TO_UTM.transform(*xy.T)))
           for k in keys]
    folder = tmp_path / "geoBoundaries-AZE-ADM1"
    folder.mkdir()
    written = folder / ("units.gpkg" if driver == "GPKG" else "units.shp")
    pyogrio.raw.write(str(written), shapely.to_wkb(shapely.force_2d(utm)),
                      [np.array(v, dtype=object) for v in fields.values()], list(fields),
                      driver=driver, crs="EPSG:32638", geometry_type="MultiPolygon",
                      promote_to_multi=True)
    path = written
    if driver != "GPKG":
        path = tmp_path / "geoBoundaries-AZE-ADM1.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for member in folder.iterdir():
                archive.write(member, member.name)

    env = {**os.environ, "MINEMAP_DATABASE_URL": settings.database_url}
    run = [sys.executable, "-m", "minemap", "districts", "load", str(path)]
    plain = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 1 and "--name-field" in plain.stderr
    assert stored(engine) == {}
    done = subprocess.run([*run, "--name-field", "shapeName", "--iso-field", "shapeISO",
                           "--code-field", "shapeID"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "4 districts loaded" in done.stdout

    units = stored(engine)
    assert sorted(units) == sorted(fields["shapeID"])
    for key, code, iso in zip(keys, fields["shapeID"], fields["shapeISO"], strict=True):
        assert (units[code]["name"], units[code]["iso_3166_2"]) == (
            FEATURES[key]["properties"]["name"], iso or None)
        assert units[code]["a"] == pytest.approx(area(SHAPES[key]), rel=1e-6)


def test_invalid_unit_geometries_are_repaired_or_refused(engine, tmp_path):
    # A square with a tiny twisted ear at one corner: repairable, its area barely changes.
    eared = Polygon([(46.9, 40.0), (47.0, 40.0), (47.0, 40.1), (46.9995, 40.1005),
                     (47.0005, 40.1005), (46.9, 40.1)])
    assert not eared.is_valid
    # A figure of eight: its two lobes cancel out, so no repair keeps its area.
    eight = Polygon([(47.2, 40.0), (47.3, 40.1), (47.3, 40.0), (47.2, 40.1)])
    named = {"name": "Eared", "iso_3166_2": "AZ-EAR"}
    with transaction(engine) as conn:
        loaded = districts.load(conn, geojson(tmp_path / "eared.geojson", [(named, eared)]))
    assert [p.code for p in loaded.repaired] == ["repaired"]
    before = stored(engine)
    assert before["EAR"]["a"] == pytest.approx(area(shapely.make_valid(eared)), rel=1e-6)

    bad = geojson(tmp_path / "eight.geojson", [(named, eared), ({"name": "Eight",
                                                                  "code": "EGT"}, eight)])
    with pytest.raises(InvalidInput) as refused, transaction(engine) as conn:
        districts.load(conn, bad)
    [problem] = refused.value.problems
    assert (problem.index, problem.code) == (1, "self_intersection")
    assert "self-intersects" in problem.reason and "eight.geojson" in refused.value.detail
    assert stored(engine) == before


def test_two_units_with_one_code_are_refused(engine, tmp_path):
    with transaction(engine) as conn:
        districts.load(conn, geojson(tmp_path / "one.geojson", [unit("AZ-AGM")]))
    before = stored(engine)
    twice = geojson(tmp_path / "twice.geojson", [unit("AZ-AGM"), unit("AZ-AGC", code="AGM")])
    with pytest.raises(InvalidInput) as refused, transaction(engine) as conn:
        districts.load(conn, twice)
    assert [(p.index, p.code) for p in refused.value.problems] == [(1, "duplicate_code")]
    assert "share the code 'AGM'" in refused.value.problems[0].reason
    assert stored(engine) == before


def test_a_reload_keeps_the_records_and_the_reports_follow_it(client, engine, tmp_path):
    # A hazard across the Aghdam-Aghjabadi border, posted while only Aghdam is loaded.
    shared = SHAPES["AZ-AGM"].boundary.intersection(SHAPES["AZ-AGC"].boundary)
    lon, lat = max(getattr(shared, "geoms", [shared]), key=lambda g: g.length).centroid.coords[0]
    lon, lat = shapely.ops.nearest_points(shared, shapely.Point(lon, lat))[0].coords[0]
    square = box(lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01)
    in_agm = area(square.intersection(SHAPES["AZ-AGM"]))
    in_agc = area(square.intersection(SHAPES["AZ-AGC"]))
    assert in_agm > 1e5 and in_agc > 1e5
    with transaction(engine) as conn:
        districts.load(conn, geojson(tmp_path / "agm.geojson", [unit("AZ-AGM")]))
        _, token = tokens.create(conn, organisation="ANAMA", role=Role.admin)
    auth = {"Authorization": f"Bearer {token}"}
    posted = client.post("/api/v1/hazards", headers=auth, json={
        "type": "Feature", "geometry": mapping(square),
        "properties": {"classification": "SHA", "hazard_types": ["AP"],
                       "recorded_on": "2022-01-01"}})
    assert posted.status_code == 201, posted.text
    national = client.get("/api/v1/reports/summary").json()["mapped_m2"]
    first = report(client)
    assert first["Aghdam"] == pytest.approx(in_agm, rel=1e-5)
    assert first["outside districts"] == pytest.approx(in_agc, rel=1e-5)

    with transaction(engine) as conn:
        loaded = districts.load(conn, geojson(tmp_path / "both.geojson",
                                              [unit("AZ-AGM"), unit("AZ-AGC")]))
        accounting.refresh(conn)
    assert (loaded.units, loaded.removed) == (2, [])
    again = report(client)
    assert again["Aghjabadi"] == pytest.approx(in_agc, rel=1e-5)
    assert again["Aghdam"] == first["Aghdam"] and "outside districts" not in again
    assert client.get("/api/v1/reports/summary").json()["mapped_m2"] == national
    hazard = client.get(f"/api/v1/hazards/{posted.json()['id']}").json()
    assert hazard["properties"]["districts"] == ["Aghdam", "Aghjabadi"]

    # A unit that a baseline names cannot be dropped; one no baseline names can.
    made = client.post("/api/v1/baselines", headers=auth, json={
        "label": "Aghjabadi survey", "as_of": "2022-01-01", "area_km2": 10,
        "district": "AZ-AGC"})
    assert made.status_code == 201, made.text
    before = stored(engine)
    with pytest.raises(Conflict, match=r"AGC \(baselines"), transaction(engine) as conn:
        districts.load(conn, tmp_path / "agm.geojson")
    assert stored(engine) == before
    with transaction(engine) as conn:
        loaded = districts.load(conn, geojson(tmp_path / "agc.geojson", [unit("AZ-AGC")]))
        accounting.refresh(conn)
    assert loaded.removed == ["AGM"]
    assert report(client)["outside districts"] == pytest.approx(in_agm, rel=1e-5)


def test_units_that_share_a_name_are_told_apart_on_records_and_reports(client, engine,
                                                                        tmp_path):
    city = SHAPES["Shusha city"]
    assert FEATURES["Shusha city"]["properties"]["kind"] == "city"
    around = city.envelope.buffer(0.01).intersection(city.union(SHAPES["AZ-SUS"]))
    assert around.intersection(SHAPES["AZ-SUS"]).area > 0 and around.intersects(city)
    units = [unit("AZ-SUS"), ({**FEATURES["Shusha city"]["properties"]}, city)]
    with transaction(engine) as conn:
        districts.load(conn, geojson(tmp_path / "shusha.geojson", units))
        _, token = tokens.create(conn, organisation="ANAMA", role=Role.admin)
    posted = client.post("/api/v1/hazards", headers={"Authorization": f"Bearer {token}"}, json={
        "type": "Feature", "geometry": mapping(around),
        "properties": {"classification": "SHA", "hazard_types": ["AP"],
                       "recorded_on": "2022-01-01"}})
    assert posted.status_code == 201, posted.text
    assert posted.json()["properties"]["districts"] == ["Shusha", "Shusha (city)"]
    rows = report(client)
    assert rows["Shusha (city)"] == pytest.approx(area(around.intersection(city)), rel=1e-4)
    assert rows["Shusha"] == pytest.approx(area(around.difference(city)), rel=1e-4)
