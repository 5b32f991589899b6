"""Benchmark the district report against a naive area sum, a full rebuild and one new release.

Run: .venv/bin/python bench/report.py [--hazards 100000 --releases 30000] [--docs docs/benchmarks.md]

Starts a throwaway PostGIS cluster, loads the districts, generates overlapping hazards and
releases inside the Karabakh and East Zangezur districts in SQL, then times:
- the naive per-district SUM(area_m2) of intersecting hazards (wrong: overlaps count twice);
- the full recomputation of the pieces (accounting.rebuild);
- the exact district report (accounting.districts) on current pieces;
- one new release: the incremental refresh plus the report;
and checks that the report after the incremental refresh equals the one after a full rebuild.
"""

import argparse
import datetime as dt
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from minemap import accounting
from minemap.db import migrate
from minemap.db.cluster import Cluster
from minemap.settings import sqlalchemy_url
from minemap.store import districts as district_store

ROOT = Path(__file__).parents[1]
REGIONS = "('Karabakh', 'East Zangezur')"
# A rectangle of 2w x 2h metres around pt, turned by angle: metres made degrees at pt's latitude.
RECTANGLE = """ST_Multi(ST_Rotate(ST_MakeEnvelope(
           ST_X(pt) - w / (111320 * cos(radians(ST_Y(pt)))), ST_Y(pt) - h / 110574,
           ST_X(pt) + w / (111320 * cos(radians(ST_Y(pt)))), ST_Y(pt) + h / 110574, 4326),
           angle, pt))"""

# Rotated rectangles of 50-300 m a side around random points of the region; 90% approved,
# 5% submitted, 5% rejected, 2% deleted. Rectangles are built in degrees from metres.
HAZARDS = text(f"""
WITH region AS (
    SELECT ST_Union(geom) AS geom FROM districts WHERE region IN {REGIONS}
),
points AS (
    SELECT g, ST_SetSRID(ST_MakePoint(
               ST_XMin(r.geom) + random() * (ST_XMax(r.geom) - ST_XMin(r.geom)),
               ST_YMin(r.geom) + random() * (ST_YMax(r.geom) - ST_YMin(r.geom))), 4326) AS pt,
           25 + random() * 125 AS w, 25 + random() * 125 AS h, random() * pi() AS angle,
           random() AS u, random() AS v, random() AS z
    FROM region AS r, generate_series(1, CAST(:n AS integer) * 3) AS g
),
inside AS (
    SELECT p.* FROM points AS p, region AS r WHERE ST_Intersects(r.geom, p.pt) ORDER BY g LIMIT :n
)
INSERT INTO hazards (code, classification, hazard_types, organisation_id, recorded_on, geom,
                     review, deleted_at)
SELECT 'B-H-' || g, CAST(CASE WHEN u < 0.5 THEN 'SHA' ELSE 'CHA' END AS classification),
       CAST(ARRAY['AP'] AS hazard_type[]), :org, DATE '2019-01-01' + CAST(u * 2000 AS integer),
       {RECTANGLE},
       CAST(CASE WHEN v < 0.9 THEN 'approved' WHEN v < 0.95 THEN 'submitted' ELSE 'rejected' END
            AS review_state),
       CASE WHEN z < 0.02 THEN now() END
FROM inside
""")

# 85% near a random hazard (partly or wholly over it), 15% anywhere in the region; completed
# after the hazard was recorded, never after mid-2025; methods and devices at random.
RELEASES = text(f"""
WITH region AS (
    SELECT ST_Union(geom) AS geom FROM districts WHERE region IN {REGIONS}
),
picks AS (
    SELECT g, 1 + floor(random() * :hazards) AS hazard_id, random() AS u, random() AS v,
           random() AS z, random() AS dx, random() AS dy, 20 + random() * 150 AS w,
           20 + random() * 150 AS h, random() * pi() AS angle, random() AS days, random() AS m
    FROM generate_series(1, :n) AS g
),
placed AS (
    SELECT p.*, hz.id AS hazard,
           CASE WHEN p.u < 0.85 THEN ST_Translate(ST_Centroid(hz.geom), (p.dx - 0.5) * 0.003,
                                                  (p.dy - 0.5) * 0.003)
                ELSE ST_SetSRID(ST_MakePoint(
                    ST_XMin(r.geom) + p.dx * (ST_XMax(r.geom) - ST_XMin(r.geom)),
                    ST_YMin(r.geom) + p.dy * (ST_YMax(r.geom) - ST_YMin(r.geom))), 4326) END AS pt,
           least(CASE WHEN p.u < 0.85 THEN hz.recorded_on ELSE DATE '2020-01-01' END
                 + CAST(p.days * 1500 AS integer), DATE '2025-06-30') AS completed_on
    FROM picks AS p JOIN hazards AS hz ON hz.id = p.hazard_id, region AS r
)
INSERT INTO releases (code, method, hazard_id, organisation_id, started_on, completed_on,
                      ap_mines, at_mines, uxo, cmr, ied, geom, review, deleted_at)
SELECT 'B-R-' || g,
       CAST((ARRAY['cancelled', 'reduced', 'cleared'])[1 + floor(m * 3)] AS release_method),
       CASE WHEN u < 0.85 THEN hazard END, :org, completed_on - 30, completed_on,
       floor(z * 4), floor(v * 2), floor(u * 5), 0, 0,
       {RECTANGLE},
       CAST(CASE WHEN v < 0.95 THEN 'approved' WHEN v < 0.98 THEN 'submitted' ELSE 'rejected' END
            AS review_state),
       CASE WHEN z < 0.01 THEN now() END
FROM placed
""")

# What one might write first: each hazard's whole area added to every district it touches.
NAIVE = text("""
SELECT d.name, sum(h.area_m2) AS area_m2
FROM districts AS d JOIN hazards AS h ON ST_Intersects(d.geom, h.geom)
WHERE h.deleted_at IS NULL AND h.review = 'approved'
GROUP BY d.name
""")

ONE_RELEASE = text("""
INSERT INTO releases (code, method, organisation_id, completed_on, geom)
SELECT 'B-R-NEW', 'cleared', :org, DATE '2025-07-01',
       ST_Multi(ST_Buffer(ST_Centroid(geom), 0.002, 'quad_segs=4'))
FROM hazards WHERE id = (SELECT min(id) FROM hazards WHERE review = 'approved')
""")


def timed(fn, repeat: int = 1):
    """Return (the last result, the median seconds of `repeat` runs)."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def same(a: list[dict], b: list[dict], rel: float = 1e-9) -> bool:
    """Whether two district reports agree: every number within `rel`, everything else equal."""
    def close(x, y):
        if isinstance(x, dict):
            return x.keys() == y.keys() and all(close(x[k], y[k]) for k in x)
        if isinstance(x, float) and isinstance(y, float):
            return abs(x - y) <= rel * max(abs(x), abs(y)) + 1e-6
        return x == y
    return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))


def run(n_hazards: int, n_releases: int, home: Path, revision: str = "head") -> dict:
    cluster = Cluster(home, port=54377, dbname="bench", durable=False)
    cluster.start()
    try:
        engine = create_engine(sqlalchemy_url(cluster.url()))
        migrate.upgrade(engine, revision)
        as_of = dt.date.today()
        report = dict(as_of=as_of, baseline_km2=11667.0, baseline_date=dt.date(2021, 1, 1))
        with engine.begin() as conn:
            district_store.load(conn, ROOT / "data/districts/azerbaijan_districts.geojson")
            org = conn.execute(text(
                "INSERT INTO organisations (name) VALUES ('bench') RETURNING id")).scalar_one()
            conn.execute(text("SELECT setseed(0.42)"))
            _, t_load = timed(lambda: (conn.execute(HAZARDS, {"n": n_hazards, "org": org}),
                                       conn.execute(RELEASES, {"n": n_releases, "org": org,
                                                               "hazards": n_hazards})))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        with engine.begin() as conn:
            _, t_rebuild = timed(lambda: accounting.rebuild(conn))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        with engine.begin() as conn:
            _, t_naive = timed(lambda: conn.execute(NAIVE).all(), repeat=5)
            _, t_report = timed(lambda: accounting.districts(conn, **report), repeat=5)
            pieces, cells = conn.execute(text(
                "SELECT count(*), count(DISTINCT (cx, cy)) FROM pieces")).one()
        with engine.begin() as conn:
            conn.execute(ONE_RELEASE, {"org": org})
            start = time.perf_counter()
            dirty = accounting.refresh(conn)
            incremental = accounting.districts(conn, **report)
            t_incremental = time.perf_counter() - start
        with engine.begin() as conn:
            accounting.rebuild(conn)
            full = accounting.districts(conn, **report)
        engine.dispose()
    finally:
        cluster.stop()
    return {
        "hazards": n_hazards, "releases": n_releases, "pieces": pieces, "cells": cells,
        "dirty": dirty, "load": t_load, "naive": t_naive, "rebuild": t_rebuild,
        "report": t_report, "incremental": t_incremental, "equal": same(incremental, full),
        "districts": len(full), "revision": revision,
    }


def markdown(r: dict) -> str:
    machine = f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), " \
              f"PostgreSQL 15 + PostGIS 3, throwaway cluster with fsync off"
    revision = "" if r["revision"] == "head" else f" --revision {r['revision']}"
    return f"""## Report

`.venv/bin/python bench/report.py --hazards {r['hazards']} --releases {r['releases']}{revision}`
on {machine}, {dt.date.today()}.

{r['hazards']:,} overlapping hazards and {r['releases']:,} releases (rotated rectangles of
50-300 m a side in the Karabakh and East Zangezur districts, some submitted, rejected or
deleted) make {r['pieces']:,} pieces in {r['cells']:,} grid cells.

| step | seconds |
| --- | ---: |
| naive `SUM(area_m2)` of intersecting hazards per district (counts overlaps twice) \
| {r['naive']:.3f} |
| exact district report from the pieces (`accounting.districts`) | {r['report']:.3f} |
| full recomputation of the pieces (`accounting.rebuild`) | {r['rebuild']:.1f} |
| one new release: incremental refresh of {r['dirty']} cell(s) + district report \
| {r['incremental']:.3f} |

- report / naive = {r['report'] / r['naive']:.2f} (required ≤ 5)
- incremental / full recomputation = {r['incremental'] / r['rebuild']:.4f} (required < 0.05)
- report after the incremental refresh equals the report after a full rebuild: {r['equal']}

The naive and report times are the median of five warm runs. The report is a sum over the
pieces (the disjoint overlay of all hazards and releases, cut by districts and a 0.05° grid;
`src/minemap/accounting/`), so it costs about what the naive sum does while counting
overlapping land once. Writes mark the grid cells they touch, and `accounting.refresh` redoes
only those. The full recomputation is what a migration or `accounting.rebuild` pays once.
Timings vary by tens of per cent with what else the machine runs.
`--hazards 10000 --releases 3000` is a smoke run of about half a minute.
"""


def write_section(path: Path, section: str) -> None:
    """Replace the "## Report" section of `path` (or append it), keeping the other sections."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    start = old.find("## Report")
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + section
    else:
        end = old.find("\n## ", start + 1)
        new = old[:start] + section + ("\n" + old[end + 1:] if end >= 0 else "")
    path.write_text(new)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hazards", type=int, default=100_000)
    parser.add_argument("--releases", type=int, default=30_000)
    parser.add_argument("--docs", type=Path, help="write the results into this Markdown file")
    parser.add_argument("--revision", default="head",
                        help="migrate to this revision (default head; 0002 for accounting alone)")
    args = parser.parse_args()
    # Stop the throwaway cluster (in `run`'s finally) on a plain kill too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    home = Path(tempfile.mkdtemp(prefix="minemap-bench-"))
    try:
        result = run(args.hazards, args.releases, home, args.revision)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    section = markdown(result)
    print(section)
    if args.docs:
        write_section(args.docs, section)
    ok = (result["report"] <= 5 * result["naive"]
          and result["incremental"] < 0.05 * result["rebuild"] and result["equal"])
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
