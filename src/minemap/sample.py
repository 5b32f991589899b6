"""Load the districts and the synthetic sample hazards and releases (idempotently)."""

import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, text

from minemap import accounting
from minemap.resources import project_dir
from minemap.store import districts, organisations


# Set-based: one statement per file, history written alongside. Codes already present are
# skipped, which is what makes a second load change nothing.
HAZARDS = text("""
WITH f AS (SELECT f->'properties' AS p, f->'geometry' AS g
           FROM jsonb_array_elements(CAST(:features AS jsonb)) AS f),
ins AS (
    INSERT INTO hazards (code, classification, hazard_types, organisation_id, recorded_on,
                         description, geom)
    SELECT p->>'code', CAST(p->>'classification' AS classification),
           CAST(ARRAY(SELECT jsonb_array_elements_text(p->'hazard_types')) AS hazard_type[]),
           o.id, CAST(p->>'recorded_on' AS date), p->>'description',
           ST_ForcePolygonCCW(ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(g), 4326)))
    FROM f JOIN organisations o ON o.name = p->>'organisation'
    ON CONFLICT (code) DO NOTHING
    RETURNING *)
INSERT INTO history (entity, entity_id, action, version, actor, organisation_id, after)
SELECT 'hazard', id, 'create', 1, 'load-sample', organisation_id, minemap_snapshot(to_jsonb(ins))
FROM ins
""")

RELEASES = text("""
WITH f AS (SELECT f->'properties' AS p, f->'geometry' AS g
           FROM jsonb_array_elements(CAST(:features AS jsonb)) AS f),
ins AS (
    INSERT INTO releases (code, method, hazard_id, organisation_id, started_on, completed_on,
                          land_use, ap_mines, at_mines, uxo, cmr, ied, description, geom)
    SELECT p->>'code', CAST(p->>'method' AS release_method), h.id, o.id,
           CAST(p->>'started_on' AS date), CAST(p->>'completed_on' AS date),
           CAST(p->>'land_use' AS land_use),
           coalesce(CAST(p->>'ap_mines' AS int), 0), coalesce(CAST(p->>'at_mines' AS int), 0),
           coalesce(CAST(p->>'uxo' AS int), 0), coalesce(CAST(p->>'cmr' AS int), 0),
           coalesce(CAST(p->>'ied' AS int), 0), p->>'description',
           ST_ForcePolygonCCW(ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(g), 4326)))
    FROM f JOIN organisations o ON o.name = p->>'organisation'
    LEFT JOIN hazards h ON h.code = p->>'hazard'
    ON CONFLICT (code) DO NOTHING
    RETURNING *)
INSERT INTO history (entity, entity_id, action, version, actor, organisation_id, after)
SELECT 'release', id, 'create', 1, 'load-sample', organisation_id, minemap_snapshot(to_jsonb(ins))
FROM ins
""")


@dataclass(frozen=True)
class Loaded:
    districts: int
    hazards: int
    releases: int


def _features(path: Path) -> list[dict]:
    return json.loads(path.read_text())["features"]


def load_districts(conn: Connection, data: Path | None = None) -> int:
    """Load the bundled units, as `minemap districts load` does; return how many."""
    return districts.load(conn, data / "districts" / "azerbaijan_districts.geojson"
                          if data else None).units


def has_records(conn: Connection) -> bool:
    return conn.execute(text(
        "SELECT EXISTS (SELECT FROM hazards) OR EXISTS (SELECT FROM releases)"
    )).scalar_one()


def load(conn: Connection, data: Path | None = None, *, if_empty: bool = False) -> Loaded:
    """Load districts and the sample; return how many hazards and releases were new.

    With `if_empty`, districts are loaded only when none are, and the sample only into a
    database holding no records yet, so a demo restarted after real edits, or after its own
    units were loaded, keeps them as they are.
    """
    data = data or project_dir("data")
    loaded = districts.count(conn) if if_empty else 0
    n_districts = loaded or load_districts(conn, data)
    if if_empty and has_records(conn):
        accounting.refresh(conn)  # the districts, if just loaded
        return Loaded(n_districts, 0, 0)
    hazards = _features(data / "sample_polygons" / "hazards.geojson")
    releases = _features(data / "sample_polygons" / "releases.geojson")
    for name in sorted({f["properties"]["organisation"] for f in hazards + releases}):
        organisations.ensure(conn, name)
    new_hazards = conn.execute(HAZARDS, {"features": json.dumps(hazards)}).rowcount
    new_releases = conn.execute(RELEASES, {"features": json.dumps(releases)}).rowcount
    accounting.refresh(conn)
    return Loaded(n_districts, new_hazards, new_releases)
