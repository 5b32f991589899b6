"""Turn a CQL2 filter (text or JSON) into a SQLAlchemy condition on a collection's fields.

The `cql2` library parses and validates both encodings into CQL2 JSON; this module walks that
tree. Property names must be the collection's fields (or `geometry`), every literal is a bound
value and every operand's kind is checked, so a filter either becomes SQL or a 400 naming what
is wrong; nothing from it is ever spliced into SQL text.
"""

import datetime as dt
import json
import operator
from dataclasses import dataclass
from typing import Any

import cql2
import shapely
from shapely.geometry import box, shape
from sqlalchemy import (
    Date,
    DateTime,
    Float,
    LargeBinary,
    Text,
    and_,
    false,
    func,
    literal,
    not_,
    or_,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement

from minemap.errors import MinemapError
from minemap.ogc import crs as crs_
from minemap.ogc.collections import Collection

LANGUAGES = ("cql2-text", "cql2-json")
GEOMETRY = "geometry"  # the name filters use for a feature's geometry
GEOJSON_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                 "MultiPolygon", "GeometryCollection"}

COMPARISONS = {"=": operator.eq, "<>": operator.ne, "<": operator.lt, "<=": operator.le,
               ">": operator.gt, ">=": operator.ge}
SPATIAL = {"s_intersects": func.ST_Intersects, "s_equals": func.ST_Equals,
           "s_disjoint": func.ST_Disjoint, "s_touches": func.ST_Touches,
           "s_within": func.ST_Within, "s_overlaps": func.ST_Overlaps,
           "s_crosses": func.ST_Crosses, "s_contains": func.ST_Contains}
ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
TEMPORAL = ("t_before", "t_after", "t_equals", "t_intersects", "t_disjoint", "t_during")
ARRAYS = ("a_equals", "a_contains", "a_containedby", "a_overlaps")


class InvalidFilter(MinemapError):
    title = "Invalid filter"


@dataclass(frozen=True)
class Operand:
    sql: Any  # a column expression, or (start, end) for an interval
    kind: str  # string, number, date, array, geometry or interval


def parse(value: str, language: str) -> dict | bool:
    """Return the filter as CQL2 JSON, parsed and validated by the cql2 library."""
    if language not in LANGUAGES:
        raise InvalidFilter(f"filter-lang must be one of {', '.join(LANGUAGES)}, not {language!r}")
    try:
        expr = cql2.parse_text(value) if language == "cql2-text" else cql2.parse_json(value)
        expr.validate()
    except (cql2.ParseError, cql2.ValidationError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:300]
        raise InvalidFilter(f"the filter is not valid {language}: {reason}") from None
    return expr.to_json()


def to_sql(tree: dict | bool, collection: Collection, table, filter_crs=crs_.CRS84) -> ColumnElement:
    """Return the condition that CQL2 JSON `tree` states on `table` (the collection's source)."""
    return _Compiler(collection, table, filter_crs).condition(tree)


class _Compiler:
    def __init__(self, collection: Collection, table, filter_crs: crs_.Crs):
        self.collection, self.table, self.crs = collection, table, filter_crs

    # Conditions

    def condition(self, node) -> ColumnElement:
        if isinstance(node, bool):
            return true() if node else false()
        if not isinstance(node, dict) or "op" not in node:
            raise InvalidFilter(f"expected a condition, found {_show(node)}")
        op, args = node["op"].lower(), node.get("args", [])
        if op in ("and", "or"):
            parts = [self.condition(a) for a in args]
            return and_(*parts) if op == "and" else or_(*parts)
        if op == "not":
            return not_(self.condition(self._one(op, args)))
        if op in COMPARISONS:
            a, b = self._operands(op, args, 2)
            self._same_kind(op, a, b, ("string", "number", "date"))
            return COMPARISONS[op](a.sql, b.sql)
        if op == "like":
            a, b = self._operands(op, args, 2)
            self._same_kind(op, a, b, ("string",))
            return a.sql.like(b.sql, escape="\\")
        if op == "between":
            a, low, high = self._operands(op, args, 3)
            self._same_kind(op, a, low, ("number", "date"))
            self._same_kind(op, a, high, ("number", "date"))
            return a.sql.between(low.sql, high.sql)
        if op == "in":
            a, options = self._operands(op, args, 2)
            if options.kind != "array" or not isinstance(options.sql, list):
                raise InvalidFilter("in: the second argument must be a list of values")
            values = [self.value(v) for v in options.sql]
            for v in values:
                self._same_kind(op, a, v, ("string", "number", "date"))
            return a.sql.in_([v.sql for v in values])
        if op == "isnull":
            return self.value(self._one(op, args)).sql.is_(None)
        if op in SPATIAL:
            a, b = self._operands(op, args, 2)
            self._same_kind(op, a, b, ("geometry",))
            return SPATIAL[op](a.sql, b.sql)
        if op in TEMPORAL:
            return self._temporal(op, *self._operands(op, args, 2))
        if op in ARRAYS:
            a, b = self._operands(op, args, 2)
            self._same_kind(op, a, b, ("array",))
            a_sql, b_sql = (self._array(x) for x in (a, b))
            return {"a_equals": operator.eq, "a_contains": lambda x, y: x.contains(y),
                    "a_containedby": lambda x, y: x.contained_by(y),
                    "a_overlaps": lambda x, y: x.overlap(y)}[op](a_sql, b_sql)
        raise InvalidFilter(f"unsupported operator {node['op']!r}")

    def _temporal(self, op: str, a: Operand, b: Operand) -> ColumnElement:
        if a.kind != "date" or b.kind not in ("date", "interval"):
            raise InvalidFilter(f"{op}: needs a date property and a date, timestamp or interval")
        if b.kind == "date":
            compare = {"t_before": operator.lt, "t_after": operator.gt, "t_equals": operator.eq,
                       "t_intersects": operator.eq, "t_disjoint": operator.ne}.get(op)
            if compare is None:
                raise InvalidFilter(f"{op}: needs an interval as its second argument")
            return compare(a.sql, b.sql)
        start, end = b.sql
        if op == "t_before":
            return a.sql < start if start is not None else false()
        if op == "t_after":
            return a.sql > end if end is not None else false()
        if op == "t_equals":
            raise InvalidFilter("t_equals: an instant never equals an interval")
        inside = and_(true() if start is None else a.sql >= start,
                      true() if end is None else a.sql <= end)
        if op == "t_during":
            inside = and_(true() if start is None else a.sql > start,
                          true() if end is None else a.sql < end)
        return not_(inside) if op == "t_disjoint" else inside

    # Values

    def value(self, node) -> Operand:
        if isinstance(node, bool):
            raise InvalidFilter("booleans can only stand as conditions; no field is boolean")
        if isinstance(node, (int, float)):
            return Operand(literal(node, Float()), "number")
        if isinstance(node, str):
            return Operand(literal(node, Text()), "string")
        if isinstance(node, list):
            return Operand(node, "array")
        if not isinstance(node, dict):
            raise InvalidFilter(f"unexpected value {_show(node)}")
        if "property" in node:
            return self._property(node["property"])
        if "date" in node:
            return Operand(literal(_date(node["date"]), Date()), "date")
        if "timestamp" in node:
            return Operand(literal(_timestamp(node["timestamp"]), DateTime()), "date")
        if "interval" in node:
            ends = node["interval"]
            if not isinstance(ends, list) or len(ends) != 2:
                raise InvalidFilter("an interval has a start and an end")
            return Operand(tuple(_instant(e) for e in ends), "interval")
        if "bbox" in node:
            return Operand(self._geometry(_bbox(node["bbox"])), "geometry")
        if node.get("type") in GEOJSON_TYPES:
            try:
                geometry = shapely.force_2d(shape(node))
            except (ValueError, TypeError, KeyError, IndexError, AttributeError,
                    shapely.errors.GEOSException) as exc:
                raise InvalidFilter(f"invalid {node.get('type')} geometry: {exc}") from None
            return Operand(self._geometry(geometry), "geometry")
        if "op" in node:
            return self._function(node["op"].lower(), node.get("args", []))
        raise InvalidFilter(f"unexpected value {_show(node)}")

    def _property(self, name) -> Operand:
        if name == GEOMETRY:
            return Operand(self.table.c.geom, "geometry")
        field = self.collection.field.get(name) if isinstance(name, str) else None
        if field is None:
            known = ", ".join([GEOMETRY, *self.collection.field])
            raise InvalidFilter(f"unknown property {name!r} in the filter; the queryables of "
                                f"{self.collection.id} are: {known}")
        kind = "number" if field.kind == "integer" else field.kind
        return Operand(self.table.c[field.name], kind)

    def _function(self, op: str, args: list) -> Operand:
        if op == "casei":
            a = self.value(self._one(op, args))
            if a.kind != "string":
                raise InvalidFilter("casei: needs a string")
            return Operand(func.lower(a.sql), "string")
        if op in ARITHMETIC:
            a, b = self._operands(op, args, 2)
            self._same_kind(op, a, b, ("number",))
            return Operand(ARITHMETIC[op](a.sql, b.sql), "number")
        raise InvalidFilter(f"unsupported function {op!r}")

    def _geometry(self, geometry) -> ColumnElement:
        crs_.check_domain(geometry, self.crs, "filter")
        wkb = literal(shapely.to_wkb(geometry), LargeBinary())
        return crs_.to_storage(func.ST_GeomFromWKB(wkb), self.crs)

    def _array(self, operand: Operand):
        if isinstance(operand.sql, list):
            values = [self.value(v) for v in operand.sql]
            if any(v.kind != "string" for v in values):
                raise InvalidFilter("array functions compare lists of strings")
            return literal([str(v) for v in operand.sql], ARRAY(Text()))
        return operand.sql

    # Checks

    def _operands(self, op: str, args: list, count: int) -> list[Operand]:
        if len(args) != count:
            raise InvalidFilter(f"{op}: takes {count} arguments, got {len(args)}")
        return [self.value(a) for a in args]

    @staticmethod
    def _one(op: str, args: list):
        if len(args) != 1:
            raise InvalidFilter(f"{op}: takes 1 argument, got {len(args)}")
        return args[0]

    @staticmethod
    def _same_kind(op: str, a: Operand, b: Operand, allowed: tuple[str, ...]) -> None:
        if a.kind not in allowed or b.kind != a.kind:
            raise InvalidFilter(f"{op}: cannot compare a {a.kind} with a {b.kind}"
                                + ("" if a.kind in allowed else f" (it takes {'/'.join(allowed)})"))


def _show(node) -> str:
    return json.dumps(node)[:80]


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidFilter(f"invalid date {value!r}") from None


def _timestamp(value: str) -> dt.datetime:
    """Return the instant as a naive UTC datetime, comparable with date fields (at 00:00)."""
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        raise InvalidFilter(f"invalid timestamp {value!r}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


def _instant(value):
    if value == "..":
        return None
    if isinstance(value, dict):
        value = value.get("date") or value.get("timestamp")
    if isinstance(value, str) and len(value) == 10:
        return literal(_date(value), Date())
    return literal(_timestamp(value), DateTime())


def _bbox(values) -> shapely.Geometry:
    if not isinstance(values, list) or len(values) not in (4, 6):
        raise InvalidFilter("a bbox has 4 or 6 numbers")
    half = len(values) // 2
    x0, y0, x1, y1 = values[0], values[1], values[half], values[half + 1]
    if x0 > x1 or y0 > y1:
        raise InvalidFilter("bbox: the lower corner must come first")
    return box(x0, y0, x1, y1)
