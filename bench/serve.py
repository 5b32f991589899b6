"""Benchmark /ogc: a 10,000-feature page against the SQL floor and tipg, and vector tiles.

Run: .venv/bin/python bench/serve.py [--hazards 100000] [--releases 10000]
     [--docs docs/benchmarks.md] [--tipg-python PATH]

Starts a throwaway PostGIS cluster, generates hazards and releases in SQL (rotated rectangles
of 50-300 m in the Karabakh and East Zangezur districts), accounts for them, then serves them
with minemap (uvicorn, one worker) and with tipg (from PyPI, one worker, in its own virtualenv:
it is no dependency of minemap) over the same rows, and measures in the same run:
- /ogc/collections/hazards/items?limit=10000 against the SQL floor, one statement building the
  same FeatureCollection in PostgreSQL, and against tipg's items of the same rows;
- paging through every hazard by next links;
- z8 tiles (cold: drawn and cached; warm: from the cache) and z12 tiles, against tipg's.
"""

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import create_engine, text

from minemap import accounting
from minemap.db import migrate
from minemap.db.cluster import Cluster
from minemap.ogc.collections import HAZARDS as HAZARD_LAYER
from minemap.settings import libpq_url, sqlalchemy_url
from minemap.store import districts as district_store

ROOT = Path(__file__).parents[1]
REGIONS = "('Karabakh', 'East Zangezur')"
PAGE = 10_000

GENERATE = text(f"""
WITH region AS (SELECT ST_Union(geom) AS geom FROM districts WHERE region IN {REGIONS}),
points AS (
    SELECT g, ST_SetSRID(ST_MakePoint(
               ST_XMin(r.geom) + random() * (ST_XMax(r.geom) - ST_XMin(r.geom)),
               ST_YMin(r.geom) + random() * (ST_YMax(r.geom) - ST_YMin(r.geom))), 4326) AS pt,
           25 + random() * 125 AS w, 25 + random() * 125 AS h, random() * pi() AS angle,
           random() AS u, random() AS v
    FROM region AS r, generate_series(1, CAST(:n AS integer) * 3) AS g
),
inside AS (
    SELECT p.* FROM points AS p, region AS r WHERE ST_Intersects(r.geom, p.pt) ORDER BY g LIMIT :n
),
shapes AS (
    SELECT g, u, v, ST_Multi(ST_Rotate(ST_MakeEnvelope(
               ST_X(pt) - w / (111320 * cos(radians(ST_Y(pt)))), ST_Y(pt) - h / 110574,
               ST_X(pt) + w / (111320 * cos(radians(ST_Y(pt)))), ST_Y(pt) + h / 110574, 4326),
               angle, pt)) AS geom
    FROM inside
),
hazards AS (
    INSERT INTO hazards (code, classification, hazard_types, organisation_id, recorded_on, geom,
                         review)
    SELECT 'B-H-' || g, CAST(CASE WHEN u < 0.5 THEN 'SHA' ELSE 'CHA' END AS classification),
           CAST(CASE WHEN v < 0.7 THEN ARRAY['AP'] ELSE ARRAY['AP', 'UXO'] END AS hazard_type[]),
           :org, DATE '2019-01-01' + CAST(u * 2000 AS integer), geom,
           CAST(CASE WHEN v < 0.92 THEN 'approved' ELSE 'submitted' END AS review_state)
    FROM shapes
    RETURNING id, geom, recorded_on
)
-- Releases over a share of the hazards: whole (closing them) or in part.
INSERT INTO releases (code, method, hazard_id, organisation_id, completed_on, geom)
SELECT 'B-R-' || id, CAST((ARRAY['cancelled', 'reduced', 'cleared'])[1 + id % 3] AS release_method),
       id, :org, recorded_on + 200,
       CASE WHEN id % 2 = 0 THEN geom
            ELSE ST_Multi(ST_Intersection(geom, ST_Buffer(ST_Centroid(geom), 0.0008))) END
FROM hazards WHERE id % CAST(:every AS integer) = 0
""")

SERVER = """
import sys, uvicorn
from minemap.app import create_app
from minemap.settings import Settings
uvicorn.run(create_app(Settings(database_url=sys.argv[1], _env_file=None)),
            host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def floor_statement(limit: int) -> str:
    """The same FeatureCollection page, written by hand as one PostgreSQL statement."""
    names = [f.name for f in HAZARD_LAYER.fields]
    properties = ", ".join(f"'{n}', t.{n}" for n in names)
    return f"""
SELECT '{{"type":"FeatureCollection","features":[' || coalesce(string_agg(f, ',' ORDER BY id), '')
       || '],"numberReturned":' || count(*) || '}}'
FROM (SELECT t.id, '{{"type":"Feature","id":' || t.id || ',"geometry":'
             || ST_AsGeoJSON(ST_ForcePolygonCCW(t.geom), 9, 0) || ',"properties":'
             || CAST(json_build_object({properties}) AS text) || '}}' AS f
      FROM ({HAZARD_LAYER.source}) AS t ORDER BY t.id LIMIT {limit}) AS page"""


def timed(fn, repeat: int) -> tuple[object, float]:
    """Return (the last result, the median seconds of `repeat` runs after one warm-up)."""
    result = fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited: {process.stderr.read()[-2000:]}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


def tipg_python(given: str | None) -> str | None:
    """Return a Python that can import tipg: given, this one, or a cached virtualenv."""
    candidates = [given] if given else [sys.executable]
    venv = Path.home() / ".cache" / "minemap-bench" / "tipg"
    candidates.append(str(venv / "bin" / "python"))
    for python in candidates:
        if python and Path(python).exists() and subprocess.run(
                [python, "-c", "import tipg, uvicorn"], capture_output=True).returncode == 0:
            return python
    if given:
        return None
    print("installing tipg into", venv)
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "tipg", "uvicorn"],
                         capture_output=True, text=True) if made.returncode == 0 else made
    if pip.returncode != 0:
        print("tipg could not be installed:", (pip.stderr or "")[-500:])
        return None
    return str(venv / "bin" / "python")


def tiles_covering(bounds: tuple[float, float, float, float], z: int) -> list[tuple[int, int]]:
    def tile(lon, lat):
        n = 2 ** z
        return (int((lon + 180) / 360 * n),
                int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))
    (x0, y1), (x1, y0) = tile(bounds[0], bounds[1]), tile(bounds[2], bounds[3])
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def decode_count(data: bytes) -> tuple[int, int]:
    """Return (features, hazards drawn: the sum of counts for merged features) in a tile."""
    import mapbox_vector_tile

    features = [f for found in mapbox_vector_tile.decode(data).values() for f in found["features"]]
    drawn = sum(f["properties"].get("count", 1) for f in features)
    return len(features), drawn


def hazards_in(conn, z: int, x: int, y: int) -> int:
    """Count the hazards a complete tile draws: touching it (below zoom 10, by bounding box)."""
    test = "ST_Intersects(t.geom, b)" if z >= 10 else "t.geom && b"
    return conn.execute(text(
        f"SELECT count(*) FROM ({HAZARD_LAYER.source}) AS t, "
        "ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 64.0 / 4096), 4326) AS b "
        f"WHERE {test}"), {"z": z, "x": x, "y": y}).scalar_one()


def measure_tiles(conn, ours: httpx.Client, theirs: httpx.Client | None, tipg_layer: str,
                  tiles: list[tuple[int, int, int]]) -> list[dict]:
    rows = []
    for z, x, y in tiles:
        expected = hazards_in(conn, z, x, y)
        path = f"/ogc/collections/hazards/tiles/WebMercatorQuad/{z}/{y}/{x}"
        start = time.perf_counter()
        cold = ours.get(path)
        t_cold = time.perf_counter() - start
        warm, t_warm = timed(lambda: ours.get(path), 3)
        row = {"tile": f"{z}/{x}/{y}", "hazards": expected, "cold": t_cold, "warm": t_warm,
               "size": len(warm.content), "drawn": decode_count(warm.content)[1]}
        assert cold.content == warm.content
        if theirs is not None:
            tpath = f"/collections/{tipg_layer}/tiles/WebMercatorQuad/{z}/{x}/{y}"
            # tipg's stock cap is 10,000 features a tile; it runs with a higher one here so
            # that the same server can also be timed drawing every feature.
            capped, t_tipg = timed(lambda: theirs.get(tpath, params={"limit": 10_000}), 2)
            whole, t_whole = timed(lambda: theirs.get(tpath), 1)
            row |= {"tipg": t_tipg, "tipg_size": len(capped.content),
                    "tipg_drawn": decode_count(capped.content)[0],
                    "tipg_whole": t_whole, "tipg_whole_size": len(whole.content),
                    "tipg_whole_drawn": decode_count(whole.content)[0]}
        rows.append(row)
    return rows


def run(args, home: Path) -> dict:
    cluster = Cluster(home, port=free_port(), dbname="bench", durable=False)
    cluster.start()
    processes = []
    try:
        url = sqlalchemy_url(cluster.url())
        engine = create_engine(url)
        migrate.upgrade(engine)
        with engine.begin() as conn:
            district_store.load(conn, ROOT / "data/districts/azerbaijan_districts.geojson")
            org = conn.execute(text(
                "INSERT INTO organisations (name) VALUES ('bench') RETURNING id")).scalar_one()
            conn.execute(text("SELECT setseed(0.42)"))
            every = max(1, args.hazards // max(args.releases, 1))
            conn.execute(GENERATE, {"n": args.hazards, "org": org, "every": every})
            conn.execute(text(f"CREATE VIEW bench_hazards AS {HAZARD_LAYER.source}"))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        start = time.perf_counter()
        with engine.begin() as conn:
            accounting.refresh(conn)
        t_refresh = time.perf_counter() - start
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        with engine.connect() as conn:
            visible = conn.execute(text(
                f"SELECT count(*) FROM ({HAZARD_LAYER.source}) AS t")).scalar_one()
            extent = conn.execute(text(
                f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                f"(SELECT ST_Extent(geom) AS e FROM ({HAZARD_LAYER.source}) AS t) AS s")).one()
            counts = dict(conn.execute(text(
                "SELECT 'releases', count(*) FROM releases UNION ALL "
                "SELECT 'pieces', count(*) FROM pieces")).all())

        # The SQL floor: the same page, one statement, fetched as text by psycopg.
        with psycopg.connect(libpq_url(url)) as raw:
            raw.execute("SET jit = off")
            floor_text, t_floor = timed(
                lambda: raw.execute(floor_statement(PAGE)).fetchone()[0], args.repeat)

        port = free_port()
        processes.append(subprocess.Popen([sys.executable, "-c", SERVER, url, str(port)],
                                          stderr=subprocess.PIPE, text=True))
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/ogc", processes[-1])
        python = tipg_python(args.tipg_python)
        tipg_base = None
        if python:
            tport = free_port()
            socket_dir = urllib.parse.quote(str(cluster.sockdir), safe="")
            env = {**os.environ,
                   "DATABASE_URL": f"postgresql://{cluster.account}@{socket_dir}:{cluster.port}/bench",
                   "TIPG_DB_TABLES": '["public.bench_hazards"]',
                   "TIPG_TABLE_CONFIG__public_bench_hazards__PK": "id",
                   "TIPG_MAX_FEATURES_PER_QUERY": str(PAGE), "TIPG_DB_SPATIAL_EXTENT": "false",
                   "TIPG_MAX_FEATURES_PER_TILE": "1000000"}
            processes.append(subprocess.Popen(
                [python, "-m", "uvicorn", "tipg.main:app", "--host", "127.0.0.1", "--port",
                 str(tport), "--log-level", "warning"], env=env, stderr=subprocess.PIPE, text=True))
            tipg_base = f"http://127.0.0.1:{tport}"
            wait_for(f"{tipg_base}/collections", processes[-1])

        result = {"hazards": args.hazards, "visible": visible, "refresh": t_refresh, **counts,
                  "floor": t_floor, "floor_bytes": len(floor_text.encode())}
        with httpx.Client(base_url=base, timeout=300) as ours:
            page, t_ours = timed(lambda: ours.get("/ogc/collections/hazards/items",
                                                  params={"limit": PAGE}), args.repeat)
            body = page.json()
            result |= {"ours": t_ours, "ours_bytes": len(page.content),
                       "same": body["features"] == json.loads(floor_text)["features"],
                       "returned": body["numberReturned"]}
            start, pages, seen, link = time.perf_counter(), 0, 0, "/ogc/collections/hazards/items"
            params = {"limit": PAGE}
            while link:
                doc = ours.get(link, params=params).json()
                pages, seen = pages + 1, seen + doc["numberReturned"]
                link = next((k["href"] for k in doc["links"] if k["rel"] == "next"
                             and k["type"] == "application/geo+json"), None)
                params = None
            result |= {"all_pages": time.perf_counter() - start, "pages": pages, "seen": seen}
            theirs = httpx.Client(base_url=tipg_base, timeout=300) if tipg_base else None
            if theirs:
                tipg_page, t_tipg = timed(lambda: theirs.get(
                    "/collections/public.bench_hazards/items", params={"limit": PAGE}),
                    max(2, args.repeat // 2))
                result |= {"tipg": t_tipg, "tipg_bytes": len(tipg_page.content),
                           "tipg_returned": tipg_page.json()["numberReturned"]}
            with engine.begin() as conn:
                # Cold tiles: a new data version empties the server's tile cache, as a write does.
                conn.execute(text("UPDATE data_version SET version = version + 1"))
            with engine.connect() as conn:
                z8 = [(8, x, y) for x, y in tiles_covering(tuple(extent), 8)
                      if hazards_in(conn, 8, x, y)]
                _, bx, by = max(z8, key=lambda t: hazards_in(conn, *t))
                z12 = [(12, bx * 16 + 8 + dx, by * 16 + 8 + dy) for dx in (-2, 0, 2)
                       for dy in (-2, 0, 2)]
                result["z8"] = measure_tiles(conn, ours, theirs, "public.bench_hazards", z8)
                result["z12"] = measure_tiles(conn, ours, theirs, "public.bench_hazards", z12)
            if theirs:
                theirs.close()
        result["tipg_installed"] = tipg_base is not None
        engine.dispose()
        return result
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        cluster.stop()


def _mean(rows: list[dict], key: str) -> float:
    return statistics.mean(r[key] for r in rows) if rows and key in rows[0] else float("nan")


def markdown(r: dict, command: str) -> str:
    machine = (f"{os.cpu_count()} cores ({platform.machine()}), PostgreSQL 15 + PostGIS 3, "
               "throwaway cluster with fsync off, one uvicorn worker each")
    mb = r["ours_bytes"] / 1e6
    lines = [
        "## Serve", "",
        f"`{command}` on {machine}, {dt.date.today()}.", "",
        f"{r['hazards']:,} hazards ({r['visible']:,} approved, served), {r['releases']:,} "
        f"releases, {r['pieces']:,} accounting pieces; accounting refresh {r['refresh']:.0f} s.",
        "", f"### `/ogc/collections/hazards/items?limit={PAGE}` ({mb:.1f} MB)", "",
        "| server | seconds (median) | features/s |", "| --- | ---: | ---: |",
        f"| SQL floor: one statement building the same FeatureCollection | {r['floor']:.3f} | "
        f"{PAGE / r['floor']:,.0f} |",
        f"| minemap over HTTP | {r['ours']:.3f} | {PAGE / r['ours']:,.0f} |",
    ]
    if r["tipg_installed"]:
        lines.append(f"| tipg over HTTP (same rows, {r['tipg_bytes'] / 1e6:.1f} MB) | "
                     f"{r['tipg']:.3f} | {PAGE / r['tipg']:,.0f} |")
    lines += ["", f"- minemap / SQL floor throughput = {r['floor'] / r['ours']:.2f} "
                  "(goal ≥ 0.5); the features are identical to the floor's: "
                  f"{r['same']}"]
    if r["tipg_installed"]:
        lines.append(f"- minemap / tipg throughput = {r['tipg'] / r['ours']:.1f} (goal ≥ 4)")
    else:
        lines.append("- tipg could not be installed: no comparison")
    lines.append(f"- every hazard by next links ({r['pages']} pages of {PAGE}): "
                 f"{r['seen']:,} features in {r['all_pages']:.1f} s")
    for zoom in ("z8", "z12"):
        rows = r[zoom]
        lines += ["", f"### {zoom} tiles", "",
                  "| tile | hazards | minemap cold s | warm s | kB | drawn | tipg s | kB | "
                  "features | tipg uncapped s | kB | features |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
                  "| ---: |"]
        for t in rows:
            tipg = (f"{t['tipg']:.3f} | {t['tipg_size'] / 1e3:.0f} | {t['tipg_drawn']:,} | "
                    f"{t['tipg_whole']:.3f} | {t['tipg_whole_size'] / 1e3:.0f} | "
                    f"{t['tipg_whole_drawn']:,}" if "tipg" in t else "– | – | – | – | – | –")
            lines.append(f"| {t['tile']} | {t['hazards']:,} | {t['cold']:.3f} | {t['warm']:.4f} | "
                         f"{t['size'] / 1e3:.0f} | {t['drawn']:,} | {tipg} |")
    z8 = r["z8"]
    lines += ["", "Below zoom 10 minemap draws the pixels each group of hazards covers (with "
              "the count of hazards), so a tile holds every hazard; `drawn` is that count, or "
              "the features in the tile. `hazards` counts those touching the tile or its "
              "64-unit buffer; from zoom 10 a hazard touching only the buffer, by less than a "
              "tile unit, is left to the neighbouring tile. tipg keeps its first 10,000 "
              "features, and drops features smaller than a tile unit.", ""]
    worst = max(t["size"] for t in z8)
    lines.append(f"- z8: largest minemap tile {worst / 1e3:.0f} kB (goal < 250 kB); complete: "
                 f"{all(t['drawn'] == t['hazards'] for t in z8)}")
    if r["tipg_installed"]:
        lines.append(f"- z8 mean latency: minemap warm {_mean(z8, 'warm'):.4f} s, cold "
                     f"{_mean(z8, 'cold'):.3f} s, tipg {_mean(z8, 'tipg'):.3f} s: warm / tipg = "
                     f"{_mean(z8, 'warm') / _mean(z8, 'tipg'):.3f}, cold / tipg = "
                     f"{_mean(z8, 'cold') / _mean(z8, 'tipg'):.2f} (goal ≤ 0.25)")
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Replace the "## Serve" section of `path` (or append it), keeping the other sections."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    start = old.find("## Serve")
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + section
    else:
        end = old.find("\n## ", start + 1)
        new = old[:start] + section + (old[end + 1:] if end >= 0 else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hazards", type=int, default=100_000)
    parser.add_argument("--releases", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per measurement")
    parser.add_argument("--tipg-python", help="a Python with tipg installed")
    parser.add_argument("--docs", type=Path, help="write the results into this Markdown file")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="minemap-bench-serve-"))
    try:
        result = run(args, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    command = "python bench/serve.py " + " ".join(sys.argv[1:])
    section = markdown(result, command.strip())
    print(section)
    if args.docs:
        write_section(args.docs, section)
    z8 = result["z8"]
    ok = (result["floor"] / result["ours"] >= 0.5 and result["same"]
          and all(t["size"] < 250_000 and t["drawn"] == t["hazards"] for t in z8)
          and (not result["tipg_installed"] or (result["tipg"] / result["ours"] >= 4 and
                                                _mean(z8, "warm") <= _mean(z8, "tipg") / 4)))
    print("OK" if ok else "GOALS NOT ALL MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
