"""Real GIS clients against a real server: GDAL (ogrinfo, ogr2ogr, MVT), OWSLib and QGIS.

The server is uvicorn on a free port serving create_app(settings) over the data of
test_ogc.py; expectations come from the specs there, not from minemap.
"""

import json
import math
import os
import re
import shutil
import subprocess
import textwrap

import httpx
import mapbox_vector_tile
import pytest
import shapely
from shapely.geometry import box, shape

from serving import serving

# The same world of hazards and releases as test_ogc's, built once for this module too.
from test_ogc import world  # noqa: F401

ENV = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
pytestmark = pytest.mark.skipif(shutil.which("ogrinfo") is None,
                                reason="GDAL's command-line tools (gdal-bin) are not installed")


@pytest.fixture(scope="module")
def url(world):
    """The /ogc landing page of a uvicorn server running in a thread."""
    from minemap.app import create_app

    with serving(create_app(world.settings), log_level="warning") as base:
        yield f"{base}/ogc"

def run(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, env=ENV)
    assert done.returncode == 0, done.stderr
    return done.stdout


def feature_count(info: str) -> int:
    return int(re.search(r"Feature Count: (\d+)", info).group(1))


def test_gdal_lists_every_collection_with_its_count(url, world):
    listing = run("ogrinfo", "-ro", "-q", f"OAPIF:{url}")
    assert {"hazards", "releases", "districts", "remaining"} <= set(re.findall(r"\d+: (\w+)",
                                                                             listing))
    assert feature_count(run("ogrinfo", "-ro", "-so", f"OAPIF:{url}", "hazards")) == len(
        world.visible())
    assert feature_count(run("ogrinfo", "-ro", "-so", f"OAPIF:{url}", "districts")) == 2


def test_ogr2ogr_pages_through_a_layer_with_attributes_and_geometry(url, world, tmp_path):
    out = tmp_path / "hazards.geojson"
    # Pages of 7: the layer takes several, so next links are followed.
    run("ogr2ogr", "-f", "GeoJSON", str(out), "-oo", "PAGE_SIZE=7", f"OAPIF:{url}", "hazards")
    features = json.loads(out.read_text())["features"]
    specs = {h.code: h for h in world.visible()}
    assert len(features) == len(specs) > 7
    assert {f["properties"]["code"] for f in features} == set(specs)
    for feature in features:
        spec, p = specs[feature["properties"]["code"]], feature["properties"]
        assert (p["classification"], p["status"], p["organisation"]) == (
            spec.classification, world.status(spec), spec.organisation)
        assert p["recorded_on"] == spec.recorded_on.isoformat()
        assert p["hazard_types"] == spec.hazard_types
        assert shape(feature["geometry"]).normalize().equals_exact(
            shapely.MultiPolygon([spec.geom]).normalize(), 1e-8)
    releases = tmp_path / "releases.geojson"
    run("ogr2ogr", "-f", "GeoJSON", str(releases), "-oo", "PAGE_SIZE=2", f"OAPIF:{url}",
        "releases")
    assert {f["properties"]["code"] for f in json.loads(releases.read_text())["features"]} == {
        r.code for r in world.visible("releases")}


def test_gdal_spatial_filter_equals_cql2_and_the_specs(url, world, tmp_path):
    window = (46.86, 39.96, 46.92, 40.00)
    out = tmp_path / "window.geojson"
    run("ogr2ogr", "-f", "GeoJSON", str(out), "-oo", "PAGE_SIZE=5", "-spat",
        *map(str, window), f"OAPIF:{url}", "hazards")
    by_gdal = {f["properties"]["code"] for f in json.loads(out.read_text())["features"]}
    by_cql = httpx.get(f"{url}/collections/hazards/items", params={
        "filter": f"S_INTERSECTS(geometry, BBOX({','.join(map(str, window))}))", "limit": 1000})
    assert by_cql.status_code == 200
    expected = {h.code for h in world.visible() if h.geom.intersects(box(*window))}
    assert by_gdal == {f["properties"]["code"] for f in by_cql.json()["features"]} == expected
    assert expected


def test_gdal_reads_a_vector_tile(url, world, tmp_path):
    centre = world.visible()[9].geom.centroid
    z = 13
    n = 2 ** z
    x = int((centre.x + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(centre.y))) / math.pi) / 2 * n)
    data = httpx.get(f"{url}/collections/hazards/tiles/WebMercatorQuad/{z}/{y}/{x}").content
    path = tmp_path / "tile.mvt"
    path.write_bytes(data)
    info = run("ogrinfo", "-ro", "-so", "-oo", f"Z={z}", "-oo", f"X={x}", "-oo", f"Y={y}",
               f"MVT:{path}", "hazards")
    decoded = mapbox_vector_tile.decode(data)["hazards"]["features"]
    assert feature_count(info) == len(decoded) >= 2


def test_owslib_reads_collections_pages_and_filters(url, world):
    from owslib.ogcapi.features import Features

    api = Features(url)
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in api.conformance()[
        "conformsTo"]
    assert {c["id"] for c in api.collections()["collections"]} == {
        "hazards", "releases", "districts", "remaining"}
    assert "classification" in api.collection_queryables("hazards")["properties"]
    codes, offset = [], 0
    while True:
        page = api.collection_items("hazards", limit=6, offset=offset)
        codes += [f["properties"]["code"] for f in page["features"]]
        if page["numberReturned"] < 6:
            break
        offset += 6
    assert sorted(codes) == sorted(h.code for h in world.visible())
    chosen = api.collection_items("hazards", filter="classification = 'CHA'", limit=1000)
    as_json = api.collection_items("hazards", limit=1000, **{
        "filter": json.dumps({"op": "=", "args": [{"property": "classification"}, "CHA"]}),
        "filter-lang": "cql2-json"})
    expected = {h.code for h in world.visible() if h.classification == "CHA"}
    assert {f["properties"]["code"] for f in chosen["features"]} == expected
    assert {f["properties"]["code"] for f in as_json["features"]} == expected
    one = world.visible()[0]
    assert api.collection_item("hazards", str(one.id))["properties"]["code"] == one.code


def qgis_python() -> str | None:
    python = "/usr/bin/python3"
    if not os.path.exists(python):
        return None
    probe = subprocess.run([python, "-c", "import qgis.core"], capture_output=True, timeout=60,
                           env={**ENV, "QT_QPA_PLATFORM": "offscreen"})
    return python if probe.returncode == 0 else None


def test_qgis_loads_the_hazards_layer(url, world):
    python = qgis_python()
    if python is None:
        pytest.skip("PyQGIS (Debian python3-qgis) is not installed")
    script = textwrap.dedent(f"""
        import json
        from qgis.core import QgsApplication, QgsVectorLayer, QgsWkbTypes
        app = QgsApplication([], False)
        app.initQgis()
        # Pages of 10, so that QGIS follows the next links.
        layer = QgsVectorLayer(
            "url='{url}' typename='hazards' pagingEnabled='true' pageSize='10'", "hazards",
            "OAPIF")
        found = {{"valid": layer.isValid(),
                  "polygons": layer.geometryType() == QgsWkbTypes.PolygonGeometry,
                  "codes": sorted(f["code"] for f in layer.getFeatures()),
                  "classifications": sorted({{f["classification"] for f in layer.getFeatures()}})}}
        print(json.dumps(found), flush=True)
        del layer  # before exitQgis, which otherwise crashes on the way out
        app.exitQgis()
    """)
    done = subprocess.run([python, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**ENV, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["valid"] and found["polygons"]
    assert found["codes"] == sorted(h.code for h in world.visible())
    assert found["classifications"] == sorted({h.classification for h in world.visible()})
