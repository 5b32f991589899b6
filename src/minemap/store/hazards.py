"""Describe hazard areas to store/records.py: SHA/CHA codes, remaining area and status."""

from sqlalchemy import ARRAY, Table, Text, case, cast

from minemap.db.models import Hazard
from minemap.store.records import Kind

# A hazard is closed once less than 1 m² of it remains unreleased (CONTRACT §4);
# accounting.refresh() keeps remaining_m2 current.
CLOSED_BELOW_M2 = 1.0


def status(t: Table):
    """Return the SQL expression of a hazard's status: 'active' or 'closed'."""
    return case((t.c.remaining_m2 < CLOSED_BELOW_M2, "closed"), else_="active")


def _outputs(t: Table) -> dict:
    return {
        # As text[]: the driver knows no hazard_type[] and would hand back '{AP,AT}'.
        "hazard_types": cast(t.c.hazard_types, ARRAY(Text)),
        "remaining_m2": t.c.remaining_m2,
        "status": status(t),
    }


KIND = Kind(
    name="hazards",
    entity="hazard",
    table=Hazard.__table__,
    inputs=("code", "classification", "hazard_types", "organisation", "recorded_on",
            "description"),
    columns=("code", "classification", "hazard_types", "recorded_on", "description"),
    infix=lambda record: str(record["classification"]),
    outputs=_outputs,
    filters={
        "classification": lambda t, value: t.c.classification == value,
        "status": lambda t, value: status(t) == value,
    },
)
