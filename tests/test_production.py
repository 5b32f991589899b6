"""The README's Production steps on a fresh database, with real processes and a real server.

`minemap db upgrade`, then `minemap serve`: until `minemap districts load`, reports refuse and
/health says degraded; after it and `minemap token create`, posted and imported hazards are
reported. Expected areas come from shapely and pyproj on the bundled districts file.
"""

import csv
import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyproj
import pytest
import shapely
from shapely.geometry import box, mapping, shape

ROOT = Path(__file__).parents[1]
UNITS = json.loads((ROOT / "data/districts/azerbaijan_districts.geojson").read_text())["features"]
COUNTRY = shapely.union_all([shape(f["geometry"]) for f in UNITS])
LACHIN = next(shape(f["geometry"]) for f in UNITS if f["properties"]["iso_3166_2"] == "AZ-LAC")
GEOD = pyproj.Geod(ellps="WGS84")
# Around lon 46.496, lat 39.562 the Lachin district meets Armenia: a survey polygon there
# straddles the bundled border line (accurate to about a kilometre).
BORDER = box(46.480, 39.546, 46.512, 39.578)
INSIDE = box(46.895, 40.005, 46.905, 40.015)  # in Aghdam


def area(geom) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0])


def minemap(*args: str, url: str) -> str:
    env = {**os.environ, "MINEMAP_DATABASE_URL": url}
    env.pop("MINEMAP_TOKEN", None)
    done = subprocess.run([sys.executable, "-m", "minemap", *args], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def server(empty_database_url):
    """`minemap serve` on a fresh database that `minemap db upgrade` migrated."""
    minemap("db", "upgrade", url=empty_database_url)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "MINEMAP_DATABASE_URL": empty_database_url}
    process = subprocess.Popen([sys.executable, "-m", "minemap", "serve", "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=base, trust_env=False, timeout=120) as http:
        while True:
            assert process.poll() is None, process.stderr.read().decode()
            try:
                http.get("/health")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "minemap serve did not start"
                time.sleep(0.2)
        yield http, empty_database_url
    process.terminate()
    process.wait(30)


def test_a_fresh_database_through_the_production_steps_reports_what_is_posted(server):
    http, url = server
    assert BORDER.intersects(LACHIN) and not COUNTRY.contains(BORDER)  # the case it tests

    # Migrated, no districts: every report says why it cannot answer; nothing is zero.
    health = http.get("/health").json()
    assert (health["status"], health["districts"]) == ("degraded", 0)
    for path in ("/api/v1/reports/summary", "/api/v1/reports/districts",
                 "/api/v1/reports/timeseries?from=2021-01-01"):
        refused = http.get(path)
        assert refused.status_code == 409, path
        assert "no districts are loaded; run `minemap districts load`" in refused.json()["detail"]

    assert "78 districts loaded" in minemap("districts", "load", url=url)
    token = minemap("token", "create", "--org", "ANAMA", "--role", "admin", url=url).strip()
    auth = {"Authorization": f"Bearer {token}"}
    health = http.get("/health").json()
    assert (health["status"], health["districts"]) == ("ok", 78)

    posted = http.post("/api/v1/hazards", headers=auth, json={
        "type": "Feature", "geometry": mapping(INSIDE),
        "properties": {"classification": "CHA", "hazard_types": ["AP"],
                       "recorded_on": "2022-05-01"}})
    assert posted.status_code == 201, posted.text
    assert "warnings" not in posted.json()

    # A spreadsheet export in lon/lat with no crs, holding the border polygon.
    sheet = io.StringIO()
    csv.writer(sheet).writerows([["wkt", "classification", "hazard_types", "recorded_on"],
                                 [BORDER.wkt, "SHA", "AP", "2022-06-01"]])
    imported = http.post("/api/v1/imports", headers=auth, data={"kind": "hazards"},
                         files={"file": ("lachin.csv", sheet.getvalue().encode(), "text/csv")})
    assert imported.status_code == 201, imported.text
    warned = {w["code"] for w in imported.json()["warnings"]}
    assert {"assumed_crs", "beyond_border"} <= warned

    # Reported: nationally all of both polygons; per district what lies in each, and the
    # part beyond the line in the `outside districts` row; the rows sum to the nation.
    summary = http.get("/api/v1/reports/summary").json()
    expected = area(INSIDE) + area(BORDER)
    # rel: the accounting's 0.05° grid cuts the 3 km square's edges; a geodesic edge cut in
    # two moves by centimetres, which over a kilometre is up to 1e-4 of a district's part.
    assert summary["mapped_m2"] == pytest.approx(expected, rel=1e-4)
    rows = {r["district"]: r for r in http.get("/api/v1/reports/districts").json()["districts"]}
    assert rows["Lachin"]["mapped_m2"] == pytest.approx(area(BORDER.intersection(LACHIN)),
                                                        rel=1e-4)
    assert rows["Aghdam"]["mapped_m2"] == pytest.approx(area(INSIDE), abs=1)
    assert rows["outside districts"]["mapped_m2"] == pytest.approx(
        area(BORDER.difference(COUNTRY)), rel=1e-4)
    assert sum(r["mapped_m2"] for r in rows.values()) == summary["mapped_m2"]
