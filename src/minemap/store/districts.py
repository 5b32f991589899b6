"""Districts: the first-level administrative units that reports are split by."""

import json
from pathlib import Path

from sqlalchemy import Connection, text

# Shusha city has no ISO 3166-2 code of its own; it still needs a short code for hazard codes.
CITY_CODES = {("Shusha", "city"): "SUSC"}

UPSERT = text("""
INSERT INTO districts (code, name, name_az, kind, iso_3166_2, region, geom)
SELECT f->>'code', f->>'name', f->>'name_az', f->>'kind', f->>'iso_3166_2', f->>'region',
       ST_ForcePolygonCCW(ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(f->'geometry'), 4326)))
FROM jsonb_array_elements(CAST(:features AS jsonb)) AS f
ON CONFLICT (code) DO UPDATE SET
    name = EXCLUDED.name, name_az = EXCLUDED.name_az, kind = EXCLUDED.kind,
    iso_3166_2 = EXCLUDED.iso_3166_2, region = EXCLUDED.region, geom = EXCLUDED.geom
""")


def load(conn: Connection, path: Path) -> int:
    """Insert or update the districts of a GeoJSON file; return how many."""
    features = []
    for feature in json.loads(Path(path).read_text())["features"]:
        p = feature["properties"]
        iso = p.get("iso_3166_2")
        code = iso.removeprefix("AZ-") if iso else CITY_CODES[(p["name"], p["kind"])]
        features.append({
            "code": code, "name": p["name"], "name_az": p["name_az"], "kind": p["kind"],
            "iso_3166_2": iso, "region": p.get("karabakh_ez_2021"),
            "geometry": feature["geometry"],
        })
    conn.execute(UPSERT, {"features": json.dumps(features)})
    return len(features)


def count(conn: Connection) -> int:
    return conn.execute(text("SELECT count(*) FROM districts")).scalar_one()
