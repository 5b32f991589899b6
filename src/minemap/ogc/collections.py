"""Describe the OGC collections as data: source SQL, fields, time, and how tiles draw them.

One collection per kind of record, built from its spec (kinds), and two of the accounting:
the districts with their remaining land, and the remaining land itself.

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

from minemap.kinds import KINDS, KindSpec
from minemap.vocab import Review

# JSON Schema for each kind of field (queryables); the SQL type goes with it.
TYPES: dict[str, tuple[dict, TypeEngine]] = {
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
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name) or self.kind not in TYPES:
            raise ValueError(f"bad field {self.name!r} ({self.kind})")

    @property
    def sql_type(self) -> TypeEngine:
        return TYPES[self.kind][1]

    @property
    def schema(self) -> dict:
        schema = {"title": self.name, "description": self.description, **TYPES[self.kind][0]}
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
    temporal: str | None  # the field `datetime` selects on: the day a feature begins
    tile_fields: tuple[str, ...]  # each feature's attributes in detailed tiles
    tile_groups: tuple[str, ...] | None  # low zooms: coverage per group; None: simplified features
    accounted: bool = False  # derived from the accounting, which must be current
    source_with_submitted: str = ""  # the source counting submitted records too
    submitted: bool = False  # whether this is that view (never cached, never public)
    # The day a feature ends (it is no more from then on), for features that do: without
    # `datetime`, only those not ended are served; with one, those alive at some moment of it.
    ends: str | None = None

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


APPROVED, WITH_SUBMITTED = "'approved'", "'approved', 'submitted'"


def names(enum) -> tuple[str, ...]:
    return tuple(member.value for member in enum)


def _record_source(kind: KindSpec, reviews: str) -> str:
    """Return the SELECT of a kind's records in `reviews`, one column per field."""
    columns, joins = ["t.id", "t.geom"], []
    for field in kind.fields:
        if field.name == "organisation":
            expression = "o.name"
        elif field.reference:
            alias = f"r_{field.name}"
            joins.append(f"LEFT JOIN {field.reference} AS {alias} ON {alias}.id = t.{field.column}")
            expression = f"{alias}.code"
        elif field.enum is not None:
            expression = f"CAST(t.{field.column} AS text{'[]' if field.is_list else ''})"
        else:
            expression = f"t.{field.column}"
        columns.append(f"{expression} AS {field.name}")
    columns.append("t.area_m2")
    for derived in kind.derived:
        if derived.ogc is not None:
            columns.append(f"{derived.ogc.format(t='t')} AS {derived.name}")
            if derived.joins:
                joins.append(derived.joins.format(t="t"))
    columns.append("CAST(t.review AS text) AS review")
    return f"""
SELECT {', '.join(columns)}
FROM {kind.name} AS t
JOIN organisations AS o ON o.id = t.organisation_id
{chr(10).join(joins)}
WHERE t.deleted_at IS NULL AND t.review IN ({reviews})"""


def _record_fields(kind: KindSpec) -> tuple[Field, ...]:
    fields = [Field(f.name, f.ogc_type, f.description, names(f.enum) if f.enum else ())
              for f in kind.fields]
    fields.append(Field("area_m2", "number", "Geodesic area in m²"))
    fields += [Field(d.name, d.ogc_type, d.description, d.enum) for d in kind.derived
               if d.ogc is not None]
    fields.append(Field("review", "string", "Review state", names(Review)))
    return tuple(fields)


def record_collection(kind: KindSpec) -> Collection:
    """Return the collection of a kind's approved records, as its spec describes them."""
    return Collection(
        id=kind.name, title=kind.title, description=kind.description,
        source=_record_source(kind, APPROVED),
        source_with_submitted=_record_source(kind, WITH_SUBMITTED),
        fields=_record_fields(kind), temporal=kind.temporal, tile_fields=kind.tile_fields,
        tile_groups=kind.tile_groups, accounted=kind.accounted)


def _remaining(hazard_on: str, release_on: str) -> str:
    # Every piece ever hazardous: the land remaining at a date is among them (`ends`).
    return f"""
SELECT p.id, p.geom, d.name AS district, p.{hazard_on} AS hazard_on,
       p.{release_on} AS released_on, p.area_m2
FROM pieces AS p
LEFT JOIN districts AS d ON d.id = p.district_id
WHERE p.{hazard_on} IS NOT NULL"""


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
LEFT JOIN (SELECT district_id, sum(remaining_m2) AS remaining_m2 FROM cell_remaining
           GROUP BY district_id) AS r ON r.district_id = d.id""",
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
                "releases, in disjoint pieces cut by district and by a 0.05° grid. Today's, or "
                "with `datetime` the land remaining then (hazard recorded by that day and not "
                "yet released). Piece ids change when the pieces are recomputed.",
    source=_remaining("hazard_on", "release_on"),
    source_with_submitted=_remaining("hazard_on_all", "release_on_all"),
    fields=(
        Field("district", "string", "District it lies in"),
        Field("hazard_on", "date", "Earliest survey date of the hazards covering it"),
        Field("released_on", "date", "Day its first release was completed (empty in "
                                     "today's remaining land; later than the day asked for "
                                     "with `datetime`)"),
        Field("area_m2", "number", "Geodesic area in m²"),
    ),
    temporal="hazard_on",
    ends="released_on",
    tile_fields=("district", "hazard_on"),
    tile_groups=("district",),
    accounted=True,
)

RECORDS = tuple(record_collection(kind) for kind in KINDS.values())
COLLECTIONS: dict[str, Collection] = {c.id: c for c in (*RECORDS, DISTRICTS, REMAINING)}
HAZARDS = COLLECTIONS["hazards"]  # bench/serve.py serves it
