"""Hazard areas: suspected (SHA) and confirmed (CHA) hazardous areas, from survey."""

import datetime as dt

from minemap.kinds import values
from minemap.kinds.spec import DESCRIPTION, ORGANISATION, Derived, Field, KindSpec, code_field
from minemap.vocab import Classification, HazardType

# The district holding the hazard's point on surface (accounting.refresh keeps it).
HOME = ("LEFT JOIN hazard_accounting AS a ON a.hazard_id = {t}.id "
        "LEFT JOIN districts AS d ON d.id = a.district_id")

HAZARDS = KindSpec(
    name="hazards",
    entity="hazard",
    title="Hazard areas",
    description="Suspected (SHA) and confirmed (CHA) hazardous areas, approved and not deleted. "
                "`status` is `closed` once less than 1 m² remains unreleased by approved "
                "releases.",
    fields=(
        code_field("AZ-<DISTRICT>-<SHA|CHA>-<n>"),
        Field("classification", values.choice(Classification, str.upper), Classification,
              "SHA: suspected; CHA: confirmed", required=True, filter=True),
        Field("hazard_types", values.choices(HazardType), list[HazardType],
              "Kinds of explosive ordnance", required=True, bounds={"min_length": 1}),
        ORGANISATION,
        Field("recorded_on", values.day, dt.date, "Date of the survey",
              required=True, not_future=True),
        DESCRIPTION,
    ),
    infix=lambda record: str(record["classification"]),
    temporal="recorded_on",
    tile_fields=("code", "classification", "status", "review"),
    tile_groups=("classification", "status", "review"),
    derived=(
        Derived("remaining_m2", "Area not yet released, in m²", "{t}.remaining_m2",
                "coalesce({t}.remaining_m2, {t}.area_m2)", float),
        # The rule (closed below 1 m² unreleased) is one SQL function (migration 0008).
        Derived("status", "closed once less than 1 m² remains",
                "minemap_hazard_status({t}.remaining_m2)",
                "minemap_hazard_status({t}.remaining_m2)", enum=("active", "closed"),
                filter=True),
        Derived("district", "District holding its point on surface", None, "d.name",
                joins=HOME),
    ),
    warn_overlaps=True,
    accounted=True,
)
