"""Describe hazard areas to store/records.py: SHA/CHA codes, remaining area and status."""

from sqlalchemy import ARRAY, Table, Text, cast, func

from minemap.db.models import Hazard
from minemap.store.records import Kind


def status(t: Table):
    """Return the SQL expression of a hazard's status: 'active' or 'closed'.

    The rule (closed below 1 m² unreleased) is the SQL function of migration 0008;
    accounting.refresh() keeps remaining_m2 current.
    """
    return func.minemap_hazard_status(t.c.remaining_m2)


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
