"""Land releases: cancelled by non-technical survey, reduced by technical survey, cleared."""

import datetime as dt

from minemap.kinds import values
from minemap.kinds.spec import (CODE_BOUNDS, DESCRIPTION, ORGANISATION, Field, KindSpec, code_field,
                                 count_field)
from minemap.vocab import DEVICES, LandUse, ReleaseMethod


RELEASES = KindSpec(
    name="releases",
    entity="release",
    title="Land releases",
    description="Land released by non-technical survey (cancelled), technical survey "
                "(reduced) or clearance (cleared), approved and not deleted.",
    fields=(
        code_field("AZ-<DISTRICT>-REL-<n>"),
        Field("method", values.choice(ReleaseMethod, str.lower), ReleaseMethod,
              "cancelled, reduced or cleared", required=True, filter=True),
        Field("hazard", values.code, str, "Code of the hazard worked on; null for land never "
                                          "recorded as hazardous",
              reference="hazards", filter=True, bounds=CODE_BOUNDS),
        ORGANISATION,
        Field("started_on", values.day, dt.date, "First day of work"),
        Field("completed_on", values.day, dt.date, "Day the land was released",
              required=True, not_future=True),
        Field("land_use", values.choice(LandUse, str.lower), LandUse, "Intended use of the land"),
        *(count_field(name, f"{what} found and destroyed") for name, what in DEVICES.items()),
        DESCRIPTION,
    ),
    infix=lambda record: "REL",
    temporal="completed_on",
    tile_fields=("code", "method", "review"),
    tile_groups=("method", "review"),
    order=(("started_on", "completed_on"),),
    groups=("devices",),
)
