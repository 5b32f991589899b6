"""Read real files written by GDAL's ogr2ogr in every supported format, and hostile ones."""

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pyproj
import pytest
import shapely
from shapely.geometry import shape

from minemap.errors import InvalidInput, PayloadTooLarge
from minemap.geo.read import Limits, read_features

pytestmark = pytest.mark.skipif(shutil.which("ogr2ogr") is None, reason="needs GDAL's ogr2ogr")


def _square(lon, lat, size=0.01):
    return [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]


SOURCE = [
    {"properties": {"code": "HZ-1", "classification": "SHA", "hazard_types": "AP,AT",
                    "recorded_on": "2023-05-01", "ap_found": 12},
     "geometry": {"type": "Polygon", "coordinates": [_square(47.0, 39.9)]}},
    {"properties": {"code": "HZ-2", "classification": "CHA", "hazard_types": "AT",
                    "recorded_on": "2022-01-31", "ap_found": None},
     "geometry": {"type": "Polygon", "coordinates": [
         _square(47.02, 39.9, 0.02), _square(47.025, 39.905, 0.005)[::-1]]}},  # with a hole
    {"properties": {"code": "HZ-3", "classification": "SHA", "hazard_types": "UXO",
                    "recorded_on": "2021-12-24", "ap_found": 0},
     "geometry": {"type": "MultiPolygon", "coordinates": [
         [_square(47.05, 39.95)], [[[47.07, 39.95], [47.08, 39.95], [47.075, 39.96],
                                    [47.07, 39.95]]]]}},
]
SHAPEFILE_NAMES = {"classifica": "classification", "hazard_typ": "hazard_types",
                   "recorded_o": "recorded_on"}  # DBF cuts names to 10 characters


def ogr2ogr(*args):
    subprocess.run(["ogr2ogr", *map(str, args)], check=True, capture_output=True)


def zip_files(target: Path, files: dict[str, Path]) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, file in files.items():
            archive.write(file, name)
    return target


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("source") / "hazards.geojson"
    features = [{"type": "Feature", **feature} for feature in SOURCE]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def write(fmt: str, epsg: int, source: Path, folder: Path) -> tuple[Path, dict]:
    """Write the source with ogr2ogr in `fmt` and EPSG:`epsg`; return the path and read args."""
    reproject = ["-t_srs", f"EPSG:{epsg}"]
    if fmt == "geojson":
        target = folder / "hazards.geojson"
        ogr2ogr("-f", "GeoJSON", *reproject, target, source)
        return target, {}
    if fmt == "shapefile":
        shp = folder / "shp" / "hazards.shp"
        shp.parent.mkdir()
        ogr2ogr("-f", "ESRI Shapefile", *reproject, shp, source)
        files = {f"data/hazards{ext}": shp.with_suffix(ext)
                 for ext in (".shp", ".shx", ".dbf", ".prj")}
        files["__MACOSX/data/._hazards.shp"] = shp.with_suffix(".prj")  # macOS junk, ignored
        return zip_files(folder / "hazards.zip", files), {}
    if fmt == "gpkg":
        target = folder / "hazards.gpkg"
        ogr2ogr("-f", "GPKG", *reproject, target, source)
        return target, {}
    if fmt == "zipped gpkg":
        gpkg, _ = write("gpkg", epsg, source, folder)
        return zip_files(folder / "gpkg.zip", {"hazards.gpkg": gpkg}), {}
    if fmt in ("kml", "kmz"):
        target = folder / "hazards.kml"
        ogr2ogr("-f", "KML", target, source)  # KML is always lon/lat
        if fmt == "kmz":
            return zip_files(folder / "hazards.kmz", {"doc.kml": target}), {}
        return target, {}
    if fmt == "fgb":
        target = folder / "hazards.fgb"
        ogr2ogr("-f", "FlatGeobuf", *reproject, target, source)
        return target, {}
    if fmt == "csv":
        target = folder / "hazards.csv"
        ogr2ogr("-f", "CSV", "-lco", "GEOMETRY=AS_WKT", *reproject, target, source)
        return target, {"crs": f"EPSG:{epsg}"}  # a CSV has no CRS: it must be given
    raise AssertionError(fmt)


def expected_properties(fmt: str, index: int) -> dict:
    properties = dict(SOURCE[index]["properties"])
    if fmt == "csv":  # CSV columns are text
        found = properties["ap_found"]
        properties["ap_found"] = "" if found is None else str(found)
    return properties


def assert_matches_source(result, fmt: str) -> None:
    assert len(result.features) == len(SOURCE)
    by_code = {feature["properties"]["code"]: feature for feature in result.features}
    for index, wanted in enumerate(SOURCE):
        feature = by_code[wanted["properties"]["code"]]
        assert feature["type"] == "Feature"
        properties = {SHAPEFILE_NAMES.get(key, key): value
                      for key, value in feature["properties"].items()}
        assert all(key == key.lower() for key in feature["properties"])
        assert properties == expected_properties(fmt, index)
        assert all(type(value) in (str, int, type(None)) for value in properties.values())
        geom, truth = feature["geometry"], shape(wanted["geometry"])
        assert not geom.has_z
        assert geom.hausdorff_distance(truth) < 1e-7
        assert abs(geom.area - truth.area) < 1e-10


FORMATS = [("geojson", 4326), ("geojson", 32638), ("shapefile", 4326), ("shapefile", 32638),
           ("shapefile", 32639), ("gpkg", 4326), ("gpkg", 32638), ("gpkg", 32639),
           ("zipped gpkg", 32639), ("kml", 4326), ("kmz", 4326), ("fgb", 4326), ("fgb", 32638),
           ("fgb", 32639), ("csv", 4326), ("csv", 32638), ("csv", 32639)]


@pytest.mark.parametrize(("fmt", "epsg"), FORMATS)
def test_reads_every_format_in_lon_lat(fmt, epsg, source, tmp_path):
    path, kwargs = write(fmt, epsg, source, tmp_path)
    result = read_features(path, **kwargs)
    assert result.source_crs == f"EPSG:{epsg}"
    assert result.driver in {"geojson": ["GeoJSON"], "shapefile": ["ESRI Shapefile"],
                             "gpkg": ["GPKG"], "zipped gpkg": ["GPKG"], "kml": ["KML", "LIBKML"],
                             "kmz": ["KML", "LIBKML"], "fgb": ["FlatGeobuf"], "csv": ["CSV"]}[fmt]
    assert result.layer == "hazards"
    assert_matches_source(result, fmt)


def test_archive_leaves_no_files_behind(source, tmp_path, monkeypatch):
    path, _ = write("shapefile", 32638, source, tmp_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    assert_matches_source(read_features(path), "shapefile")
    assert list(scratch.iterdir()) == []


def test_crs_argument_overrides_the_file(source, tmp_path):
    path, _ = write("gpkg", 32638, source, tmp_path)
    result = read_features(path, crs="EPSG:32639")
    assert result.source_crs == "EPSG:32639"
    # Read as zone 39 the same metres lie 6° further east.
    first = result.features[0]["geometry"]
    assert 52.5 < first.centroid.x < 53.5


def test_bare_epsg_number_is_accepted(source, tmp_path):
    path, _ = write("csv", 32638, source, tmp_path)
    assert_matches_source(read_features(path, crs="32638"), "csv")


def test_csv_geometry_column_named_geometry_in_any_case(source, tmp_path):
    path, _ = write("csv", 4326, source, tmp_path)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("WKT,")
    renamed = tmp_path / "renamed.csv"
    renamed.write_text("\n".join(["Geometry," + lines[0][4:], *lines[1:]]) + "\n")
    result = read_features(renamed, crs="EPSG:4326")
    assert "geometry" not in result.features[0]["properties"]
    assert_matches_source(result, "csv")


def test_csv_without_geometry_column(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("code,classification\nHZ-1,SHA\n")
    with pytest.raises(InvalidInput) as caught:
        read_features(path, crs="EPSG:4326")
    assert caught.value.problems[0].code == "no_geometry"
    assert "wkt" in caught.value.detail


def test_csv_in_utm_without_crs_is_refused(source, tmp_path):
    path, _ = write("csv", 32638, source, tmp_path)
    with pytest.raises(InvalidInput) as caught:
        read_features(path)
    assert caught.value.problems[0].code == "missing_crs"
    assert "crs=EPSG:4326" in caught.value.detail
    assert "are not longitude/latitude" in caught.value.detail


def test_csv_of_lon_lat_without_crs_is_read_as_wgs84_with_a_warning(source, tmp_path):
    path, _ = write("csv", 4326, source, tmp_path)
    result = read_features(path)
    assert result.source_crs == "EPSG:4326"
    assert [(w.index, w.code) for w in result.warnings] == [(None, "assumed_crs")]
    assert_matches_source(result, "csv")
    assert read_features(path, crs="EPSG:4326").warnings == []  # said: nothing assumed


def test_shapefile_without_prj(source, tmp_path):
    shp = tmp_path / "hazards.shp"
    ogr2ogr("-f", "ESRI Shapefile", "-t_srs", "EPSG:32638", shp, source)
    path = zip_files(tmp_path / "noprj.zip", {f"hazards{ext}": shp.with_suffix(ext)
                                              for ext in (".shp", ".shx", ".dbf")})
    with pytest.raises(InvalidInput) as caught:
        read_features(path)
    assert caught.value.status == 422
    assert caught.value.problems == [caught.value.problems[0]]
    assert caught.value.problems[0].code == "missing_crs"
    assert caught.value.problems[0].index is None
    result = read_features(path, crs="EPSG:32638")
    assert result.source_crs == "EPSG:32638"
    assert_matches_source(result, "shapefile")


def test_z_coordinates_are_dropped(tmp_path):
    path = tmp_path / "z.geojson"
    ring = [[47.0, 39.9, 100.0], [47.01, 39.9, 101.0], [47.01, 39.91, 102.0], [47.0, 39.9, 100.0]]
    path.write_text(json.dumps({"type": "Feature", "properties": {"Code": "Z"},
                                "geometry": {"type": "Polygon", "coordinates": [ring]}}))
    [feature] = read_features(path).features
    assert not feature["geometry"].has_z
    assert feature["properties"] == {"code": "Z"}
    assert feature["geometry"].equals_exact(shapely.Polygon([xy[:2] for xy in ring]), 0)


def test_values_become_plain_python(tmp_path):
    path = tmp_path / "types.geojson"
    square = {"type": "Polygon", "coordinates": [_square(47.0, 39.9)]}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": square, "properties": {
            "Flag": True, "Ratio": 0.5, "Count": 7, "Types": ["AP", "AT"],
            "When": "2023-05-01T10:30:00", "Day": "2023-05-01"}},
        {"type": "Feature", "geometry": square, "properties": {
            "Flag": None, "Ratio": None, "Count": None, "Types": None, "When": None,
            "Day": None}}]}))
    first, second = (feature["properties"] for feature in read_features(path).features)
    assert first == {"flag": True, "ratio": 0.5, "count": 7, "types": ["AP", "AT"],
                     "when": "2023-05-01T10:30:00", "day": "2023-05-01"}
    assert [type(value) for value in first.values()] == [bool, float, int, list, str, str]
    assert second == dict.fromkeys(first)


def test_feature_without_geometry_is_kept_for_the_checks(tmp_path):
    path = tmp_path / "null.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "A"}, "geometry": None}]}))
    [feature] = read_features(path).features
    assert feature["geometry"] is None


def assert_refused(path, code, error=InvalidInput, **kwargs):
    with pytest.raises(error) as caught:
        read_features(path, **kwargs)
    assert [problem.code for problem in caught.value.problems] == [code]
    assert caught.value.detail == caught.value.problems[0].reason
    return caught.value


@pytest.mark.parametrize("name", ["garbage.gpkg", "garbage.zip", "garbage.geojson",
                                  "garbage.kml", "garbage.fgb", "garbage.csv", "garbage"])
def test_garbage_bytes(name, tmp_path):
    path = tmp_path / name
    path.write_bytes(bytes(range(256)) * 40)
    error = assert_refused(path, "unreadable_file")
    assert name in error.detail


def test_other_gdal_formats_are_not_opened(tmp_path):
    vrt = tmp_path / "hazards.kml"  # a VRT reads the files it names: it must never be opened
    vrt.write_text('<OGRVRTDataSource><!-- <kml> --><OGRVRTLayer name="x"><SrcDataSource>'
                   '/etc/passwd</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>')
    error = assert_refused(vrt, "unreadable_file")
    assert "is not a KML file" in error.detail  # refused before GDAL, which says "OGR_VRT"
    database = tmp_path / "plain.gpkg"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE hazards (code TEXT)")
    connection.close()
    assert "GeoPackage" in assert_refused(database, "unreadable_file").detail


def test_text_not_in_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes('code,WKT\nHÉ-1,"POLYGON ((47 39.9,47.01 39.9,47.01 39.91,47 39.9))"\n'
                     .encode("latin-1"))
    assert "UTF-8" in assert_refused(path, "invalid_encoding", crs="EPSG:4326").detail
    path.write_bytes(path.read_bytes().decode("latin-1").encode("utf-8"))
    [feature] = read_features(path, crs="EPSG:4326").features
    assert feature["properties"] == {"code": "HÉ-1"}


def test_empty_file(tmp_path):
    path = tmp_path / "empty.geojson"
    path.write_bytes(b"")
    assert "empty" in assert_refused(path, "unreadable_file").detail


@pytest.mark.parametrize("fmt", ["shapefile", "gpkg", "geojson", "kmz"])
def test_truncated_files(fmt, source, tmp_path):
    path, kwargs = write(fmt, 4326, source, tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    error = assert_refused(path, "unreadable_file", **kwargs)
    assert str(tmp_path) not in error.detail  # no temporary paths in what the user reads


def test_zip_bomb_is_refused_before_extraction(tmp_path, monkeypatch):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("hazards.geojson", b"\0" * (50 * 1024 * 1024))
    assert path.stat().st_size < 200_000
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with watch_writes() as writes:
        error = assert_refused(path, "archive_too_large", PayloadTooLarge)
    assert error.status == 413
    assert "times" in error.detail
    assert writes == []  # not a file opened for writing, not a folder made


def test_archive_past_its_expansion_limit(source, tmp_path):
    path, _ = write("shapefile", 4326, source, tmp_path)
    error = assert_refused(path, "archive_too_large", PayloadTooLarge,
                           limits=Limits(max_expanded_mb=0))
    assert "0 MB" in error.detail


@pytest.mark.parametrize("name", ["../evil.geojson", "/tmp/evil.geojson", "a/../../evil.geojson",
                                  "..\\evil.geojson", "C:/evil.geojson"])
def test_path_traversal_is_refused(name, source, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch" / "deep"
    scratch.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(source, "hazards.geojson")
        archive.writestr(zipfile.ZipInfo(name), source.read_bytes())  # .write would clean it
    with watch_writes() as writes:
        error = assert_refused(path, "unsafe_archive")
    assert name in error.detail
    assert writes == []
    assert not list(tmp_path.rglob("evil.geojson"))


def test_symbolic_link_in_archive_is_refused(source, tmp_path):
    path = tmp_path / "link.zip"
    link = zipfile.ZipInfo("hazards.geojson")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(link, "/etc/passwd")
    assert_refused(path, "unsafe_archive")


def test_archive_without_data(tmp_path):
    path = tmp_path / "docs.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("README.txt", "nothing here")
    assert "README.txt" in assert_refused(path, "unreadable_file").detail


@pytest.fixture
def two_layers(source, tmp_path) -> Path:
    path = tmp_path / "two.gpkg"
    ogr2ogr("-f", "GPKG", "-nln", "hazards_2022", path, source)
    ogr2ogr("-f", "GPKG", "-update", "-t_srs", "EPSG:32638", "-nln", "hazards_2023", path, source)
    points = tmp_path / "points.geojson"
    points.write_text(json.dumps({"type": "Feature", "properties": {"code": "P"},
                                  "geometry": {"type": "Point", "coordinates": [47.0, 39.9]}}))
    ogr2ogr("-f", "GPKG", "-update", "-nln", "points", path, points)
    return path


def test_several_polygon_layers_need_a_choice(two_layers):
    error = assert_refused(two_layers, "ambiguous_layer")
    assert "hazards_2022" in error.detail and "hazards_2023" in error.detail
    assert "points" not in error.detail
    result = read_features(two_layers, layer="hazards_2023")
    assert (result.layer, result.source_crs) == ("hazards_2023", "EPSG:32638")
    assert_matches_source(result, "gpkg")


def test_unknown_layer(two_layers):
    error = assert_refused(two_layers, "unknown_layer", layer="hazards_2024")
    assert "hazards_2024" in error.detail
    assert all(name in error.detail for name in ("hazards_2022", "hazards_2023", "points"))


def test_layer_of_a_single_layer_file(source):
    assert read_features(source, layer="HAZARDS").layer == "hazards"
    error = assert_refused(source, "unknown_layer", layer="roads")
    assert "roads" in error.detail and "hazards" in error.detail


def test_unknown_crs(source, tmp_path):
    path, _ = write("gpkg", 32638, source, tmp_path)
    error = assert_refused(path, "unknown_crs", crs="EPSG:999999")
    assert "EPSG:999999" in error.detail
    assert_refused(path, "unknown_crs", crs="not a crs")


def test_too_many_features(source, tmp_path):
    for fmt in ("gpkg", "fgb", "geojson"):
        folder = tmp_path / fmt
        folder.mkdir()
        path, _ = write(fmt, 4326, source, folder)
        error = assert_refused(path, "too_many_features", PayloadTooLarge,
                               limits=Limits(max_features=2))
        assert error.status == 413
        assert len(read_features(path, limits=Limits(max_features=3)).features) == 3


def test_too_many_vertices(source, tmp_path):
    path, _ = write("gpkg", 4326, source, tmp_path)
    with pytest.raises(InvalidInput) as caught:
        read_features(path, limits=Limits(max_vertices=9))
    # Feature 1 has 10 positions (two rings of 5), feature 2 has 9, feature 0 has 5.
    assert [(p.index, p.code) for p in caught.value.problems] == [(1, "too_many_vertices")]


def test_utm_coordinates_computed_with_pyproj(tmp_path):
    lon_lat = _square(47.0, 39.9)
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32639", always_xy=True)
    metres = [to_utm.transform(lon, lat) for lon, lat in lon_lat]
    assert all(100_000 < x < 200_000 and 4_400_000 < y < 4_500_000 for x, y in metres)
    path = tmp_path / "utm.csv"
    wkt = "POLYGON ((" + ", ".join(f"{x!r} {y!r}" for x, y in metres) + "))"
    path.write_text(f'code,WKT\nHZ-9,"{wkt}"\n')
    [feature] = read_features(path, crs="EPSG:32639").features
    got = shapely.get_coordinates(feature["geometry"])
    assert abs(got - lon_lat).max() < 1e-9


# Audit hooks cannot be removed: one is installed for the module and records only while asked.
_WATCHING: list[list] = []


def _audit(event, args):
    if not _WATCHING:
        return
    if event == "open":
        path, mode, flags = args
        if (set(mode) & set("wax+")) if isinstance(mode, str) else \
                (flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)):
            _WATCHING[-1].append((event, path))
    elif event in ("os.mkdir", "os.rename", "shutil.copyfile"):
        _WATCHING[-1].append((event, args[0]))


sys.addaudithook(_audit)


class watch_writes:
    """Record the files opened for writing and the folders made inside the block."""

    def __enter__(self):
        _WATCHING.append([])
        return _WATCHING[-1]

    def __exit__(self, *exc):
        _WATCHING.pop()
