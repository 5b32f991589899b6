"""Load the districts and the synthetic sample hazards and releases (idempotently).

The sample is written as any import is (minemap.write): checked, numbered and logged alike.
Codes already present are skipped, which is what makes a second load change nothing.
"""

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import Connection, select, text

from minemap import accounting, write
from minemap.db.models import table_of
from minemap.kinds import HAZARDS, KINDS, RELEASES, KindSpec
from minemap.resources import project_dir
from minemap.store import districts
from minemap.store.tokens import Principal
from minemap.vocab import Role

# Who history says loaded the sample: minemap itself, with an admin's rights.
LOADER = Principal(None, "load-sample", Role.admin, None, None)


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
        "SELECT " + " OR ".join(f"EXISTS (SELECT FROM {kind})" for kind in KINDS)
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
    # Not located against the units: a deployment's own may not cover the synthetic sample.
    new = [_new(conn, kind, _features(data / "sample_polygons" / f"{kind.name}.geojson"))
           for kind in (HAZARDS, RELEASES)]
    accounting.refresh(conn)  # the districts, if nothing else was new
    return Loaded(n_districts, *new)


def _new(conn: Connection, kind: KindSpec, features: list[dict]) -> int:
    """Write the features whose codes are not stored yet; return how many."""
    t = table_of(kind)
    stored = set(conn.execute(select(t.c.code).where(
        t.c.code.in_([f["properties"]["code"] for f in features]))).scalars())
    features = [f for f in features if f["properties"]["code"] not in stored]
    if not features:
        return 0
    ids, _ = write.create(conn, kind, features, actor=LOADER, today=date.today(),
                          outline=None)
    return len(ids)
