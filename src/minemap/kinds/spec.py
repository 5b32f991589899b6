"""What a kind of record is, declared once: a `KindSpec` and its `Field`s.

Everything that differs between hazards, releases and any later kind is data here. The
checks (geo.fields), the request models (kinds.models), the table (db.models), the stored
columns (store), the OGC collection and its queryables (ogc.collections), the REST filters
(api.schemas) and the CLI's choices are all derived from these declarations.
"""

import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from minemap.kinds import values

# OGC queryables' kind of each value type; anything else is a string.
OGC_TYPES = {int: "integer", float: "number", dt.date: "date"}


@dataclass(frozen=True)
class Field:
    """One property a client or a field file writes."""

    name: str
    parse: Callable[[str, Any], Any]  # from kinds.values: (name, value) -> value, or Bad
    type: Any  # the parsed value's type: str, int, dt.date, an enum, or list[an enum]
    description: str
    required: bool = False
    default: Any = None  # the value stored when it is absent
    # The kind it names by code (a release's hazard): stored as <name>_id, the other's id.
    reference: str | None = None
    filter: bool = False  # a filter of the REST listing (?name=value)
    not_future: bool = False  # a date that may not lie after today
    # Bounds of the parsed value, as pydantic's Field takes them (ge, le, max_length, ...).
    bounds: dict = field(default_factory=dict)

    @property
    def column(self) -> str:
        """The column it is stored in."""
        if self.name == "organisation":
            return "organisation_id"
        return f"{self.name}_id" if self.reference else self.name

    @property
    def enum(self) -> type[enum.Enum] | None:
        """The enumeration its values (or its list's items) come from, if any."""
        inner = getattr(self.type, "__args__", (self.type,))[0]
        return inner if isinstance(inner, type) and issubclass(inner, enum.Enum) else None

    @property
    def is_list(self) -> bool:
        return getattr(self.type, "__origin__", None) is list

    @property
    def ogc_type(self) -> str:
        """Its kind in OGC queryables (ogc.collections.TYPES)."""
        return "array" if self.is_list else OGC_TYPES.get(self.type, "string")


@dataclass(frozen=True)
class Derived:
    """A property the service computes, as SQL on the record's row `{t}`.

    `rest` is its expression in the REST representation, `ogc` in the OGC collection (where
    `joins` are added to the FROM list); None where it is not shown.
    """

    name: str
    description: str
    rest: str | None
    ogc: str | None
    type: Any = str
    enum: tuple[str, ...] = ()
    joins: str = ""
    filter: bool = False  # a filter of the REST listing

    @property
    def ogc_type(self) -> str:
        return OGC_TYPES.get(self.type, "string")


@dataclass(frozen=True)
class KindSpec:
    """A kind of record: a table, a REST resource, an OGC collection, an import kind."""

    name: str  # "hazards": the table, the URL segment, the collection id
    entity: str  # "hazard": one of them, as history names it
    title: str
    description: str
    fields: tuple[Field, ...]
    infix: Callable[[dict], str]  # the middle of a generated code: AZ-<district>-<infix>-<n>
    temporal: str  # the date field OGC's datetime selects on
    tile_fields: tuple[str, ...]  # attributes of each feature in detailed tiles
    tile_groups: tuple[str, ...]  # low zooms draw the coverage of each group
    geometry: tuple[str, ...] = ("Polygon", "MultiPolygon")
    derived: tuple[Derived, ...] = ()
    # Pairs of date fields (earlier, later) that must come in that order.
    order: tuple[tuple[str, str], ...] = ()
    # Objects whose members are fields too (a release's `devices: {ap_mines: 3}`).
    groups: tuple[str, ...] = ()
    # Whether a new record that overlaps stored ones of this kind is warned of.
    warn_overlaps: bool = False
    accounted: bool = False  # whether derived properties come from the accounting

    @cached_property
    def inputs(self) -> tuple[str, ...]:
        """The property names a client writes, in output order."""
        return tuple(f.name for f in self.fields)

    @cached_property
    def by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """Where the fields are stored, organisation_id and geom aside."""
        return tuple(f.column for f in self.fields if f.name != "organisation")

    @cached_property
    def references(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.reference)

    @cached_property
    def dates(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.type is dt.date)


CODE_BOUNDS = {"pattern": f"^{values.CODE_PATTERN.pattern}$", "max_length": 64}


# The fields every kind has, in the order they are listed.
def code_field(example: str) -> Field:
    return Field("code", values.code, str, f"Unique code; generated as {example} when absent",
                 bounds=CODE_BOUNDS)


ORGANISATION = Field("organisation", values.as_text, str,
                     "Organisation that recorded it; defaults to the token's organisation")
DESCRIPTION = Field("description", values.description, str, "Free text",
                    bounds={"max_length": values.DESCRIPTION_MAX})


def count_field(name: str, description: str) -> Field:
    return Field(name, values.count, int, description, default=0,
                 bounds={"ge": 0, "le": values.COUNT_MAX})
