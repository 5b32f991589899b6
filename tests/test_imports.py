"""Field-file imports of real files written by GDAL's ogr2ogr, through HTTP and the CLI.

Each format and CRS is written from one GeoJSON source in lon/lat, imported, and what was
stored is compared with the source: counts, codes (generated ones computed here from the
districts file), attributes, and geodesic areas computed with pyproj, never read from minemap.
"""

import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from datetime import date
from pathlib import Path

import pyproj
import pytest
import shapely
from shapely.geometry import box, mapping, shape
from sqlalchemy import text

from minemap import imports
from minemap.db.engine import transaction
from minemap.store import districts, tokens
from minemap.store.tokens import Principal
from minemap.vocab import Role

pytestmark = pytest.mark.skipif(shutil.which("ogr2ogr") is None, reason="needs GDAL's ogr2ogr")

ROOT = Path(__file__).parents[1]
DISTRICTS = json.loads((ROOT / "data/districts/azerbaijan_districts.geojson").read_text())
SHAPES = {f["properties"]["iso_3166_2"]: shape(f["geometry"]) for f in DISTRICTS["features"]}
LOADED = ("AZ-AGM", "AZ-AGC")  # Aghdam and Aghjabadi hold every polygon below
GEOD = pyproj.Geod(ellps="WGS84")
TABLES = ("hazards", "releases", "history", "organisations")

_BORDER = SHAPES["AZ-AGM"].boundary.intersection(SHAPES["AZ-AGC"].boundary)
_LONGEST = max(getattr(_BORDER, "geoms", [_BORDER]), key=lambda line: line.length)
ON_BORDER = _LONGEST.interpolate(0.5, normalized=True).coords[0]


def area(geom) -> float:
    return abs(GEOD.geometry_area_perimeter(shapely.orient_polygons(geom))[0])


def square(lon: float, lat: float, half: float = 0.004):
    return box(lon - half, lat - half, lon + half, lat + half)


HAZARDS = [
    ({"code": "HZ-1", "classification": "SHA", "hazard_types": "AP,AT",
      "recorded_on": "2021-03-01", "description": "trench line north of the road"},
     square(46.90, 40.01)),
    ({"code": None, "classification": "CHA", "hazard_types": "UXO", "recorded_on": "2022-01-31",
      "description": None},
     square(46.93, 40.03, 0.006).difference(square(46.93, 40.03, 0.002))),  # with a hole
    ({"code": None, "classification": "SHA", "hazard_types": "AT", "recorded_on": "2021-12-24",
      "description": None},
     shapely.MultiPolygon([square(46.87, 39.99, 0.003), square(46.88, 39.99, 0.003)])),
    # Across the Aghdam-Aghjabadi border: its code names the district holding most of it.
    ({"code": None, "classification": "CHA", "hazard_types": "AP", "recorded_on": "2023-05-01",
      "description": None},
     box(ON_BORDER[0] - 0.004, ON_BORDER[1] - 0.01, ON_BORDER[0] + 0.012, ON_BORDER[1] + 0.01)),
]


def home(geom) -> str:
    """The district holding the largest part of `geom`, by geodesic area."""
    shares = {iso: area(geom.intersection(d)) for iso, d in SHAPES.items() if geom.intersects(d)}
    assert set(shares) <= set(LOADED)
    return max(shares, key=shares.get).removeprefix("AZ-")


def expected_codes(source: list, taken: dict | None = None) -> list[str]:
    """Codes as CONTRACT §3 has them: given ones kept, others AZ-<DISTRICT>-<CLASS>-<n>."""
    numbers = dict(taken or {})
    codes = []
    for properties, geom in source:
        if properties.get("code"):
            codes.append(properties["code"])
            continue
        prefix = f"AZ-{home(geom)}-{properties.get('classification', 'REL')}"
        numbers[prefix] = numbers.get(prefix, 0) + 1
        codes.append(f"{prefix}-{numbers[prefix]}")
    return codes


def write_source(path: Path, features: list) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {k: v for k, v in props.items() if v is not None},
         "geometry": mapping(geom)} for props, geom in features]}))
    return path


def ogr2ogr(*args) -> None:
    subprocess.run(["ogr2ogr", *map(str, args)], check=True, capture_output=True)


def zipped(target: Path, files: dict[str, Path]) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, file in files.items():
            archive.write(file, name)
    return target


def build(fmt: str, epsg: int, source: Path, folder: Path) -> tuple[Path, dict]:
    """Write `source` in `fmt` and EPSG:`epsg` with ogr2ogr; return it and the import options."""
    folder.mkdir(parents=True, exist_ok=True)
    srs = ["-t_srs", f"EPSG:{epsg}"]
    if fmt == "geojson":
        target = folder / "hazards.geojson"
        ogr2ogr("-f", "GeoJSON", *srs, "-lco", "RFC7946=NO", target, source)
    elif fmt == "shapefile":
        shp = folder / "hazards.shp"
        ogr2ogr("-f", "ESRI Shapefile", *srs, shp, source)
        target = zipped(folder / "hazards.zip", {f"hazards{ext}": shp.with_suffix(ext)
                                                 for ext in (".shp", ".shx", ".dbf", ".prj")})
    elif fmt == "gpkg":
        target = folder / "hazards.gpkg"
        ogr2ogr("-f", "GPKG", *srs, target, source)
    elif fmt in ("kml", "kmz"):
        target = folder / "hazards.kml"
        ogr2ogr("-f", "KML", target, source)  # KML is lon/lat by definition
        if fmt == "kmz":
            target = zipped(folder / "hazards.kmz", {"doc.kml": target})
    elif fmt == "fgb":
        target = folder / "hazards.fgb"
        # Without the spatial index, which would reorder the features.
        ogr2ogr("-f", "FlatGeobuf", "-lco", "SPATIAL_INDEX=NO", *srs, target, source)
    elif fmt == "csv":
        target = folder / "hazards.csv"
        ogr2ogr("-f", "CSV", "-lco", "GEOMETRY=AS_WKT", *srs, target, source)
        return target, {"crs": f"EPSG:{epsg}"}  # a CSV does not say its CRS
    else:
        raise AssertionError(fmt)
    return target, {}


# Every format through both paths, and every CRS through each path (KML is always lon/lat).
HTTP_CASES = [("geojson", 4326), ("shapefile", 32638), ("gpkg", 32639), ("kml", 4326),
              ("kmz", 4326), ("fgb", 32639), ("csv", 32638)]
CLI_CASES = [("geojson", 32639), ("shapefile", 4326), ("gpkg", 32638), ("kml", 4326),
             ("kmz", 4326), ("fgb", 4326), ("csv", 32639)]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Every file the format tests import, built once with ogr2ogr."""
    folder = tmp_path_factory.mktemp("imports")
    source = write_source(folder / "source.geojson", HAZARDS)
    return {(fmt, epsg): build(fmt, epsg, source, folder / f"{fmt}-{epsg}")
            for fmt, epsg in sorted(set(HTTP_CASES + CLI_CASES))}


class Database:
    """A test database with Aghdam and Aghjabadi loaded, and tokens of three roles."""

    def __init__(self, engine, tmp_path: Path):
        subset = [f for f in DISTRICTS["features"] if f["properties"]["iso_3166_2"] in LOADED]
        path = tmp_path / "districts.geojson"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": subset}))
        with transaction(engine) as conn:
            districts.load(conn, path)
            self.tokens = {role: tokens.create(conn, organisation=org, role=role)[1]
                           for role, org in ((Role.admin, "ANAMA"), (Role.operator, "HALO"),
                                             (Role.viewer, "ANAMA"))}
        self.engine = engine

    def auth(self, role: Role = Role.admin) -> dict:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def db(engine, tmp_path) -> Database:
    return Database(engine, tmp_path)


def post(client, db: Database, path: Path, role: Role = Role.admin, **fields):
    with path.open("rb") as file:
        return client.post("/api/v1/imports", headers=db.auth(role),
                           files={"file": (path.name, file)}, data={"kind": "hazards", **fields})


def minemap(database_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minemap", *args], capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "MINEMAP_DATABASE_URL": database_url})


def counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def stored(db: Database, table: str = "hazards") -> dict[str, dict]:
    """Each stored record by code, with its geometry as shapely and its organisation's name."""
    with db.engine.connect() as conn:
        rows = conn.execute(text(f"""
            SELECT t.*, ST_AsBinary(t.geom) AS wkb, o.name AS organisation
            FROM {table} AS t JOIN organisations AS o ON o.id = t.organisation_id
            ORDER BY t.id""")).mappings().all()
    return {row["code"]: {**row, "shape": shapely.from_wkb(bytes(row["wkb"]))} for row in rows}


def assert_stored_as_source(db: Database, source: list, organisation: str,
                            review: str = "approved"):
    records = stored(db)
    codes = expected_codes(source)
    assert list(records) == codes
    for (properties, geom), code in zip(source, codes):
        record = records[code]
        assert record["classification"] == properties["classification"]
        types = record["hazard_types"].strip("{}").split(",")  # the driver reads enum[] as text
        assert types == properties["hazard_types"].split(",")
        assert record["recorded_on"] == date.fromisoformat(properties["recorded_on"])
        assert record["description"] == properties["description"]
        assert record["organisation"] == organisation and record["review"] == review
        assert record["area_m2"] == pytest.approx(area(geom), rel=1e-6)
        assert area(record["shape"]) == pytest.approx(area(geom), rel=1e-6)
        assert area(record["shape"].symmetric_difference(geom)) < 1e-6 * area(geom)
        assert record["shape"].geom_type == "MultiPolygon"
        assert shapely.is_ccw(record["shape"].geoms[0].exterior)  # RFC 7946's right-hand rule


@pytest.mark.parametrize(("fmt", "epsg"), HTTP_CASES)
def test_every_format_and_crs_imports_over_http(client, db, files, fmt, epsg):
    path, options = files[(fmt, epsg)]
    response = post(client, db, path, **options)
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["kind"] == "hazards" and report["dry_run"] is False
    assert report["features_read"] == report["accepted"] == len(HAZARDS)
    assert report["rejected"] == [] and report["source_crs"] == f"EPSG:{epsg}"
    records = stored(db)
    assert report["created"] == [records[code]["id"] for code in expected_codes(HAZARDS)]
    assert_stored_as_source(db, HAZARDS, "ANAMA")
    assert counts(db)["history"] == len(HAZARDS)


@pytest.mark.parametrize(("fmt", "epsg"), CLI_CASES)
def test_every_format_and_crs_imports_from_the_command_line(db, database_url, files, fmt,
                                                            epsg):
    path, options = files[(fmt, epsg)]
    extra = ["--crs", options["crs"]] if "crs" in options else []
    proc = minemap(database_url, "import", str(path), "--kind", "hazards",
                   "--org", "HALO Trust", *extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"imported {len(HAZARDS)} hazards" in proc.stdout
    assert_stored_as_source(db, HAZARDS, "HALO Trust")  # created, as the report warned
    assert "new_organisation" in proc.stdout


def test_history_keeps_each_imported_record_as_a_single_create_would(client, db, files):
    path, _ = files[("gpkg", 32639)]
    assert post(client, db, path).status_code == 201
    with db.engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT h.action, h.version, h.actor, h.before,
                   h.after - 'remaining_m2' = minemap_snapshot(to_jsonb(z)) - 'remaining_m2'
            FROM history AS h JOIN hazards AS z ON z.id = h.entity_id
            WHERE h.entity = 'hazard' ORDER BY h.entity_id""")).all()
    assert [tuple(row) for row in rows] == [("create", 1, "admin@ANAMA", None, True)] * len(
        HAZARDS)


def test_operators_imports_arrive_as_submissions_and_only_for_their_own(client, db, files):
    path, _ = files[("fgb", 32639)]
    refused = post(client, db, path, Role.operator, organisation="ANAMA")
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert post(client, db, path, Role.viewer).status_code == 403
    assert client.post("/api/v1/imports", data={"kind": "hazards"}).status_code == 401
    assert counts(db)["hazards"] == 0
    response = post(client, db, path, Role.operator)
    assert response.status_code == 201, response.text
    assert_stored_as_source(db, HAZARDS, "HALO", review="submitted")


def test_dry_run_checks_everything_and_stores_nothing(client, db, database_url, files):
    path, _ = files[("geojson", 4326)]
    before = counts(db)
    response = post(client, db, path, dry_run="true")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["dry_run"] is True and report["created"] == []
    assert report["features_read"] == report["accepted"] == len(HAZARDS)
    proc = minemap(database_url, "import", str(path), "--kind", "hazards", "--org", "New Org",
                   "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert f"all {len(HAZARDS)} hazards would be imported; nothing stored" in proc.stdout
    assert counts(db) == before
    # The database checks run too: once imported, the same file is refused, dry or not.
    assert post(client, db, path).status_code == 201
    again = post(client, db, path, dry_run="true")
    assert again.status_code == 422
    assert {(e["index"], e["code"]) for e in again.json()["errors"]} == {(0, "duplicate_code")}


def test_generated_codes_continue_the_highest_in_use(client, db, tmp_path):
    first = [({"code": "AZ-AGM-SHA-7", "classification": "SHA", "hazard_types": "AP",
               "recorded_on": "2021-01-01"}, square(46.86, 40.02, 0.002))]
    assert post(client, db, write_source(tmp_path / "first.geojson", first)).status_code == 201
    second = [({"classification": "SHA", "hazard_types": "AP", "recorded_on": "2021-01-01"},
               square(46.86 + 0.01 * i, 40.0, 0.002)) for i in range(3)]
    response = post(client, db, write_source(tmp_path / "second.geojson", second))
    assert response.status_code == 201, response.text
    codes = expected_codes(second, taken={"AZ-AGM-SHA": 7})
    assert codes == ["AZ-AGM-SHA-8", "AZ-AGM-SHA-9", "AZ-AGM-SHA-10"]
    assert list(stored(db))[1:] == codes


def test_overlaps_with_stored_hazards_are_warnings(client, db, tmp_path):
    first = [({"code": "OLD-1", "classification": "SHA", "hazard_types": "AP",
               "recorded_on": "2021-01-01"}, square(46.90, 40.01))]
    assert post(client, db, write_source(tmp_path / "old.geojson", first)).status_code == 201
    second = [({"code": "NEW-1", "classification": "CHA", "hazard_types": "AP",
                "recorded_on": "2022-01-01"}, square(46.903, 40.01)),
              ({"code": "NEW-2", "classification": "CHA", "hazard_types": "AP",
                "recorded_on": "2022-01-01"}, square(46.908, 40.01))]  # only touches OLD-1
    response = post(client, db, write_source(tmp_path / "new.geojson", second))
    assert response.status_code == 201, response.text
    warnings = response.json()["warnings"]
    assert [(w["index"], w["code"]) for w in warnings] == [(0, "overlaps_existing")]
    assert "OLD-1" in warnings[0]["reason"]
    assert list(stored(db)) == ["OLD-1", "NEW-1", "NEW-2"]


def test_releases_import_with_their_hazards_and_devices(client, db, database_url, tmp_path):
    hazard = [({"code": "HZ-9", "classification": "CHA", "hazard_types": "AP",
                "recorded_on": "2021-01-01"}, square(46.90, 40.01))]
    assert post(client, db, write_source(tmp_path / "hz.geojson", hazard)).status_code == 201
    inside = square(46.899, 40.01, 0.002)
    beyond = square(46.905, 40.01, 0.002)  # half outside HZ-9
    releases = [
        ({"code": "REL-A", "method": "cleared", "hazard": "HZ-9", "started_on": "2022-03-01",
          "completed_on": "2022-05-01", "land_use": "agriculture", "ap_mines": 3, "uxo": 2},
         inside),
        ({"method": "reduced", "hazard": "HZ-9", "completed_on": "2022-06-01"}, beyond),
        ({"method": "cancelled", "completed_on": "2022-07-01", "land_use": "housing"},
         square(46.95, 40.05, 0.002)),  # land never recorded as hazardous
    ]
    source = write_source(tmp_path / "releases.geojson", releases)
    shp = tmp_path / "releases" / "releases.shp"
    shp.parent.mkdir()
    ogr2ogr("-f", "ESRI Shapefile", "-t_srs", "EPSG:32638", shp, source)
    path = zipped(tmp_path / "releases.zip", {f"releases{e}": shp.with_suffix(e)
                                              for e in (".shp", ".shx", ".dbf", ".prj")})

    def dry_run():
        with path.open("rb") as file:
            return client.post("/api/v1/imports", headers=db.auth(),
                               files={"file": (path.name, file)},
                               data={"kind": "releases", "dry_run": "1"})

    checked = dry_run()
    assert checked.status_code == 200, checked.text
    [warning] = checked.json()["warnings"]
    assert (warning["index"], warning["code"]) == (1, "beyond_hazard")
    outside = area(beyond.difference(hazard[0][1]))
    said = float(warning["reason"].split("reaches ")[1].split(" m²")[0].replace(",", ""))
    assert said == pytest.approx(outside, abs=1) and "HZ-9" in warning["reason"]

    proc = minemap(database_url, "import", str(path), "--kind", "releases", "--org", "ANAMA")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "beyond_hazard" in proc.stdout and "imported 3 releases" in proc.stdout
    again = dry_run()  # the same verdict as the command's, now that the file is imported
    assert again.status_code == 422
    assert [(e["index"], e["code"]) for e in again.json()["errors"]] == [(0, "duplicate_code")]

    records = stored(db, "releases")
    codes = expected_codes(releases)
    assert list(records) == codes == ["REL-A", "AZ-AGM-REL-1", "AZ-AGM-REL-2"]
    hazard_id = stored(db)["HZ-9"]["id"]
    assert [records[c]["hazard_id"] for c in codes] == [hazard_id, hazard_id, None]
    assert [records[c]["method"] for c in codes] == ["cleared", "reduced", "cancelled"]
    assert [records[c]["land_use"] for c in codes] == ["agriculture", None, "housing"]
    assert [records[c]["completed_on"] for c in codes] == [
        date(2022, 5, 1), date(2022, 6, 1), date(2022, 7, 1)]
    assert records["REL-A"]["started_on"] == date(2022, 3, 1)
    assert [(records[c]["ap_mines"], records[c]["uxo"], records[c]["at_mines"])
            for c in codes] == [(3, 2, 0), (0, 0, 0), (0, 0, 0)]
    for (_, geom), code in zip(releases, codes):
        assert records[code]["area_m2"] == pytest.approx(area(geom), rel=1e-6)


def test_concurrent_imports_never_take_the_same_code(db, tmp_path):
    """The second import waits for the first's numbers, then continues after them."""
    source = [({"classification": "SHA", "hazard_types": "AP", "recorded_on": "2021-01-01"},
               square(46.86 + 0.01 * i, 40.0, 0.002)) for i in range(2)]
    path = write_source(tmp_path / "h.geojson", source)
    actor = Principal(None, "test", Role.admin, None, "ANAMA")
    codes = []

    def second():
        with transaction(db.engine) as conn:
            codes.append(imports.run(conn, path, kind="hazards", actor=actor)["created"])

    with transaction(db.engine) as conn:
        codes.append(imports.run(conn, path, kind="hazards", actor=actor)["created"])
        waiting = threading.Thread(target=second)
        waiting.start()
        waiting.join(timeout=2.0)
        assert waiting.is_alive(), "the second import should wait for the first to commit"
    waiting.join(timeout=60)
    assert len(codes) == 2
    assert list(stored(db)) == [f"AZ-AGM-SHA-{n}" for n in (1, 2, 3, 4)]
