"""Reads never write: the first read after a write changes no row and waits on no lock.

Writers refresh the accounting in their own transaction; a GET runs read-only. The proof is
taken from PostgreSQL itself: while another session holds every table in EXCLUSIVE mode
(which admits plain SELECTs and nothing else) and the accounting's advisory lock, every read
still answers, and the cluster assigns no transaction id (any row written would take one).
"""

import httpx
from pyproj import Geod
from shapely.geometry import box
from sqlalchemy import text

from minemap import accounting
from minemap.accounting import pieces
from minemap.accounting.pieces import LOCK_KEY
from minemap.app import create_app
from minemap.ogc import tiles
from serving import serving
from test_review import bearer, hazard, issue_tokens, release, square

TILES = [(6, 40, 24), (9, 322, 193), (12, 2581, 1551)]


def next_xid(conn) -> int:
    """The id the next writing transaction will get (reading it assigns none)."""
    return int(conn.execute(text("SELECT pg_snapshot_xmax(pg_current_snapshot())")).scalar_one())


def reads(hazard_id: int, release_id: int) -> list[str]:
    paths = ["/health", "/api/v1/hazards", f"/api/v1/hazards/{hazard_id}",
             f"/api/v1/hazards/{hazard_id}/history", "/api/v1/releases",
             f"/api/v1/releases/{release_id}", "/api/v1/reports/summary",
             "/api/v1/reports/districts", "/api/v1/reports/districts?include=submitted",
             "/api/v1/reports/timeseries?from=2021-01-01", "/api/v1/baselines",
             "/ogc", "/ogc/collections", "/ogc/collections/hazards/items?f=html",
             f"/ogc/collections/hazards/items/{hazard_id}"]
    for collection in ("hazards", "releases", "districts", "remaining"):
        paths += [f"/ogc/collections/{collection}", f"/ogc/collections/{collection}/items",
                  f"/ogc/collections/{collection}/tiles/WebMercatorQuad"]
        # Twice each: drawn, then served from the server's cache.
        paths += [f"/ogc/collections/{collection}/tiles/WebMercatorQuad/{z}/{y}/{x}"
                  for z, x, y in TILES for _ in range(2)]
    return paths


def test_a_read_after_a_write_changes_no_row_and_takes_no_lock(settings, engine, units,
                                                              monkeypatch):
    issued = issue_tokens(engine)
    with serving(create_app(settings), log_level="warning") as url, \
            httpx.Client(base_url=url, headers=bearer(issued["admin"]), timeout=20) as client:
        shape = square(46.862, 39.968)  # in Aghdam, on tile 9/322/193
        made = client.post("/api/v1/hazards", json=hazard(shape))
        assert made.status_code == 201, made.text
        cleared = client.post("/api/v1/releases", json=release(
            shape, hazard=made.json()["properties"]["code"]))
        assert cleared.status_code == 201, cleared.text
        paths = reads(made.json()["id"], cleared.json()["id"])

        def refuse(conn):
            raise AssertionError("a read refreshed the accounting")

        drawn = []
        draw = tiles.draw
        monkeypatch.setattr(accounting, "refresh", refuse)
        monkeypatch.setattr(pieces, "refresh", refuse)
        monkeypatch.setattr(tiles, "draw", lambda conn, c, z, x, y, days=None: drawn.append(z)
                            or draw(conn, c, z, x, y, days))

        with engine.connect() as locker:
            before = next_xid(locker)
            tables = locker.execute(text(
                "SELECT string_agg(format('%I', tablename), ', ') FROM pg_tables "
                "WHERE schemaname = 'public'")).scalar_one()
            locker.execute(text(f"LOCK TABLE {tables} IN EXCLUSIVE MODE"))
            locker.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            # Any read waiting on these locks would time out instead of answering.
            answers = {path: client.get(path).status_code for path in paths}
            assert next_xid(locker) == before, "a read wrote a row"
            locker.rollback()
    assert {path: status for path, status in answers.items() if status not in (200, 204)} == {}
    assert answers[f"/api/v1/hazards/{made.json()['id']}"] == 200
    # Each low-zoom tile was drawn once and then served from the server's cache; detailed
    # ones are drawn every time.
    assert sorted(drawn) == sorted([6, 9, 12, 12] * 4)  # TILES, for the four collections


def test_a_write_outside_minemap_makes_reports_refuse_until_refreshed(settings, engine, units):
    """SQL by hand marks cells and does not recompute them: reports say so, never answer."""
    from fastapi.testclient import TestClient

    from test_cli import minemap

    with engine.begin() as conn:
        conn.execute(text("INSERT INTO organisations (name) VALUES ('BYHAND')"))
        conn.execute(text(
            "INSERT INTO hazards (code, classification, hazard_types, organisation_id, "
            "recorded_on, geom) SELECT 'BY-HAND-1', 'SHA', '{AP}', id, DATE '2021-01-01', "
            "ST_Multi(ST_MakeEnvelope(46.86, 39.96, 46.87, 39.97, 4326)) "
            "FROM organisations WHERE name = 'BYHAND'"))
    with TestClient(create_app(settings)) as client:
        for path in ("/api/v1/reports/summary", "/api/v1/reports/districts",
                     "/ogc/collections/remaining/items", "/ogc/collections/districts/items"):
            refused = client.get(path)
            assert refused.status_code == 503, path
            assert "minemap accounting refresh" in refused.json()["detail"]
        assert client.get("/api/v1/releases").status_code == 200  # nothing derived there
        done = minemap("accounting", "refresh", env={"MINEMAP_DATABASE_URL": settings.database_url})
        assert "refreshed in" in done.stdout
        summary = client.get("/api/v1/reports/summary")
        assert summary.status_code == 200
        expected = abs(Geod(ellps="WGS84").geometry_area_perimeter(
            box(46.86, 39.96, 46.87, 39.97))[0])
        assert abs(summary.json()["mapped_m2"] - expected) <= 2
