"""Describe the four OGC collections as data: source SQL, fields, time, and how tiles draw them.

Each source is a SELECT of the rows the public sees (not deleted, approved) with an `id`, a
`geom` (EPSG:4326) and one column per field; features, filters and tiles are all built on it.
Field names come only from here, so a name in a request is either one of these or refused.
`with_submitted` is the same collection counting submitted records too, for reviewers.
"""

import re
from dataclasses import dataclass, replace
from functools import cached_property

from sqlalchemy import BigInteger, Date, Float, Integer, Subquery, Text, column, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import TypeEngine

from minemap.vocab import Classification, HazardType, LandUse, ReleaseMethod, Review

# JSON Schema for each kind of field (queryables); the SQL type goes with it.
KINDS: dict[str, tuple[dict, TypeEngine]] = {
    "string": ({"type": "string"}, Text()),
    "integer": ({"type": "integer"}, Integer()),
    "number": ({"type": "number"}, Float()),
    "date": ({"type": "string", "format": "date"}, Date()),
    "array": ({"type": "array", "items": {"type": "string"}}, ARRAY(Text())),
}


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    description: str
    enum: tuple[str, ...] = ()

    def __post_init__(self):
        # Field names are written into SQL as identifiers and keys: plain names only.
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name) or self.kind not in KINDS:
            raise ValueError(f"bad field {self.name!r} ({self.kind})")

    @property
    def sql_type(self) -> TypeEngine:
        return KINDS[self.kind][1]

    @property
    def schema(self) -> dict:
        schema = {"title": self.name, "description": self.description, **KINDS[self.kind][0]}
        if self.enum and self.kind == "array":
            schema["items"] = {"type": "string", "enum": list(self.enum)}
        elif self.enum:
            schema["enum"] = list(self.enum)
        return schema


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    source: str
    fields: tuple[Field, ...]
    temporal: str | None  # the field `datetime` selects on
    tile_fields: tuple[str, ...]  # each feature's attributes in detailed tiles
    tile_groups: tuple[str, ...] | None  # low zooms: coverage per group; None: simplified features
    accounted: bool = False  # derived from the accounting, which must be current
    source_with_submitted: str = ""  # the source counting submitted records too
    submitted: bool = False  # whether this is that view (never cached, never public)

    @property
    def key(self) -> str:
        """Names the view in caches: the id, marked when it counts submissions."""
        return f"{self.id}+submitted" if self.submitted else self.id

    def with_submitted(self) -> "Collection":
        return replace(self, source=self.source_with_submitted, submitted=True)

    @cached_property
    def field(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    @cached_property
    def table(self) -> Subquery:
        """The source as a table `t` with typed columns, for building statements on."""
        columns = [column("id", BigInteger()), column("geom")]
        columns += [column(f.name, f.sql_type) for f in self.fields]
        return text(self.source).columns(*columns).subquery("t")


def names(enum) -> tuple[str, ...]:
    return tuple(member.value for member in enum)


def _hazards(reviews: str) -> str:
    return f"""
SELECT h.id, h.geom, h.code, CAST(h.classification AS text) AS classification,
       CAST(h.hazard_types AS text[]) AS hazard_types, o.name AS organisation, h.recorded_on,
       h.description, h.area_m2, coalesce(h.remaining_m2, h.area_m2) AS remaining_m2,
       minemap_hazard_status(h.remaining_m2) AS status,
       d.name AS district, CAST(h.review AS text) AS review
FROM hazards AS h
JOIN organisations AS o ON o.id = h.organisation_id
LEFT JOIN hazard_accounting AS a ON a.hazard_id = h.id
LEFT JOIN districts AS d ON d.id = a.district_id
WHERE h.deleted_at IS NULL AND h.review IN ({reviews})"""


def _releases(reviews: str) -> str:
    return f"""
SELECT r.id, r.geom, r.code, CAST(r.method AS text) AS method, h.code AS hazard,
       o.name AS organisation, r.started_on, r.completed_on, CAST(r.land_use AS text) AS land_use,
       r.ap_mines, r.at_mines, r.uxo, r.cmr, r.ied, r.description, r.area_m2,
       CAST(r.review AS text) AS review
FROM releases AS r
JOIN organisations AS o ON o.id = r.organisation_id
LEFT JOIN hazards AS h ON h.id = r.hazard_id
WHERE r.deleted_at IS NULL AND r.review IN ({reviews})"""


def _remaining(hazard_on: str, release_on: str) -> str:
    return f"""
SELECT p.id, p.geom, d.name AS district, p.{hazard_on} AS hazard_on, p.area_m2
FROM pieces AS p
LEFT JOIN districts AS d ON d.id = p.district_id
WHERE p.{hazard_on} IS NOT NULL AND p.{release_on} IS NULL"""


APPROVED, WITH_SUBMITTED = "'approved'", "'approved', 'submitted'"

HAZARDS = Collection(
    id="hazards",
    title="Hazard areas",
    description="Suspected (SHA) and confirmed (CHA) hazardous areas, approved and not deleted. "
                "`status` is `closed` once less than 1 m² remains unreleased by approved "
                "releases.",
    source=_hazards(APPROVED),
    source_with_submitted=_hazards(WITH_SUBMITTED),
    fields=(
        Field("code", "string", "Unique code, AZ-<district>-<SHA|CHA>-<n> when generated"),
        Field("classification", "string", "SHA: suspected; CHA: confirmed",
              names(Classification)),
        Field("hazard_types", "array", "Kinds of explosive ordnance", names(HazardType)),
        Field("organisation", "string", "Organisation that recorded it"),
        Field("recorded_on", "date", "Date of the survey"),
        Field("description", "string", "Free text"),
        Field("area_m2", "number", "Geodesic area in m²"),
        Field("remaining_m2", "number", "Area not yet released, in m²"),
        Field("status", "string", "closed once less than 1 m² remains", ("active", "closed")),
        Field("district", "string", "District holding its point on surface"),
        Field("review", "string", "Review state", names(Review)),
    ),
    temporal="recorded_on",
    tile_fields=("code", "classification", "status", "review"),
    tile_groups=("classification", "status", "review"),
    accounted=True,
)

RELEASES = Collection(
    id="releases",
    title="Land releases",
    description="Land released by non-technical survey (cancelled), technical survey "
                "(reduced) or clearance (cleared), approved and not deleted.",
    source=_releases(APPROVED),
    source_with_submitted=_releases(WITH_SUBMITTED),
    fields=(
        Field("code", "string", "Unique code"),
        Field("method", "string", "cancelled, reduced or cleared", names(ReleaseMethod)),
        Field("hazard", "string", "Code of the hazard it works on (null: none recorded)"),
        Field("organisation", "string", "Organisation that did it"),
        Field("started_on", "date", "First day of work"),
        Field("completed_on", "date", "Day the land was released"),
        Field("land_use", "string", "Intended use of the land", names(LandUse)),
        Field("ap_mines", "integer", "Anti-personnel mines found and destroyed"),
        Field("at_mines", "integer", "Anti-tank mines found and destroyed"),
        Field("uxo", "integer", "Unexploded ordnance found and destroyed"),
        Field("cmr", "integer", "Cluster munition remnants found and destroyed"),
        Field("ied", "integer", "Improvised explosive devices found and destroyed"),
        Field("description", "string", "Free text"),
        Field("area_m2", "number", "Geodesic area in m²"),
        Field("review", "string", "Review state", names(Review)),
    ),
    temporal="completed_on",
    tile_fields=("code", "method", "review"),
    tile_groups=("method", "review"),
)

DISTRICT_COLUMNS = """
SELECT d.id, d.geom, d.code, d.name, d.name_az, d.kind, d.iso_3166_2, d.region, d.area_m2,
       coalesce(r.remaining_m2, 0) AS remaining_m2
FROM districts AS d"""

DISTRICTS = Collection(
    id="districts",
    title="Districts",
    description="First-level administrative units of Azerbaijan, with the hazardous land "
                "that remains in each.",
    source=DISTRICT_COLUMNS + """
LEFT JOIN district_remaining AS r ON r.district_id = d.id""",
    # Reviewers are few: their view sums the pieces on each request.
    source_with_submitted=DISTRICT_COLUMNS + """
LEFT JOIN (SELECT district_id, sum(area_m2) AS remaining_m2 FROM pieces
           WHERE hazard_on_all IS NOT NULL AND release_on_all IS NULL
           GROUP BY district_id) AS r ON r.district_id = d.id""",
    fields=(
        Field("code", "string", "Short code used in hazard codes"),
        Field("name", "string", "Name in Latin script"),
        Field("name_az", "string", "Name in Azerbaijani"),
        Field("kind", "string", "district or city", ("district", "city")),
        Field("iso_3166_2", "string", "ISO 3166-2 code"),
        Field("region", "string", "Economic region"),
        Field("area_m2", "number", "Geodesic area in m²"),
        Field("remaining_m2", "number", "Hazardous land not yet released, in m²"),
    ),
    temporal=None,
    tile_fields=("name", "iso_3166_2", "kind", "region"),
    tile_groups=None,
    accounted=True,
)

REMAINING = Collection(
    id="remaining",
    title="Remaining hazardous land",
    description="Hazardous land not yet released: the approved hazards less the approved "
                "releases, in disjoint pieces cut by district and by a 0.05° grid. Piece ids "
                "change when the pieces are recomputed.",
    source=_remaining("hazard_on", "release_on"),
    source_with_submitted=_remaining("hazard_on_all", "release_on_all"),
    fields=(
        Field("district", "string", "District it lies in"),
        Field("hazard_on", "date", "Earliest survey date of the hazards covering it"),
        Field("area_m2", "number", "Geodesic area in m²"),
    ),
    temporal="hazard_on",
    tile_fields=("district", "hazard_on"),
    tile_groups=("district",),
    accounted=True,
)

COLLECTIONS: dict[str, Collection] = {c.id: c for c in (HAZARDS, RELEASES, DISTRICTS, REMAINING)}
