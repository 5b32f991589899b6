"""Describe land releases to store/records.py: the hazard they work on and the devices found."""

from sqlalchemy import Connection, Table, select

from minemap.db.models import Hazard, Release
from minemap.errors import Problem
from minemap.store.records import Kind, refuse
from minemap.vocab import DEVICE_FIELDS

HAZARDS = Hazard.__table__


def _hazard_ids(conn: Connection, records: list[dict]) -> list[dict]:
    """Resolve each record's hazard code to hazard_id; unknown or deleted codes are problems."""
    codes = {r["hazard"] for r in records if r.get("hazard")}
    found = dict(conn.execute(
        select(HAZARDS.c.code, HAZARDS.c.id)
        .where(HAZARDS.c.code.in_(codes), HAZARDS.c.deleted_at.is_(None))
    ).all()) if codes else {}
    problems = [Problem(i, "unknown_hazard", f"hazard '{r['hazard']}' does not exist")
                for i, r in enumerate(records) if r.get("hazard") and r["hazard"] not in found]
    refuse(problems)
    return [{"hazard_id": found.get(r.get("hazard"))} for r in records]


def _hazard_code(t: Table):
    return select(HAZARDS.c.code).where(HAZARDS.c.id == t.c.hazard_id).scalar_subquery()


KIND = Kind(
    name="releases",
    entity="release",
    table=Release.__table__,
    inputs=("code", "method", "hazard", "organisation", "started_on", "completed_on", "land_use",
            *DEVICE_FIELDS, "description"),
    columns=("code", "method", "hazard_id", "started_on", "completed_on", "land_use",
             *DEVICE_FIELDS, "description"),
    infix=lambda record: "REL",
    outputs=lambda t: {"hazard": _hazard_code(t)},
    filters={
        "method": lambda t, value: t.c.method == value,
        "hazard": lambda t, value: t.c.hazard_id.in_(
            select(HAZARDS.c.id).where(HAZARDS.c.code == value)),
    },
    references=_hazard_ids,
)
