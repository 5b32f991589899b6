"""Read the query parameters of /items into one checked ItemsQuery, or refuse them with a 400.

Parameters arrive as strings and are parsed here rather than by FastAPI's validation, because
OGC API Features asks for 400 (not 422) on a bad value or an unknown parameter.
"""

import datetime as dt
import math
from dataclasses import dataclass
from typing import Annotated

from fastapi import Path, Query, Request

from minemap.db.models import MAX_ID
from minemap.errors import MinemapError, NotFound
from minemap.ogc import cql
from minemap.ogc import crs as crs_
from minemap.ogc.collections import COLLECTIONS, Collection

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
ITEMS_PARAMETERS = {"f", "limit", "offset", "after", "bbox", "bbox-crs", "datetime", "properties",
                    "sortby", "filter", "filter-lang", "filter-crs", "crs", "include"}


Days = tuple[dt.date | None, dt.date | None] | None  # of `datetime`: first and last, inclusive


@dataclass(frozen=True)
class ItemsQuery:
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    after: int | None = None  # the last id of the previous page (keyset paging, in id order)
    bbox: tuple[float, float, float, float] | None = None
    bbox_crs: crs_.Crs = crs_.CRS84
    days: Days = None  # from `datetime`
    properties: tuple[str, ...] | None = None
    sortby: tuple[tuple[str, bool], ...] = ()  # (field, descending)
    filter: dict | bool | None = None  # CQL2 JSON
    filter_crs: crs_.Crs = crs_.CRS84
    crs: crs_.Crs = crs_.CRS84

    @property
    def selects(self) -> bool:
        """Whether anything narrows the collection (else every feature matches)."""
        return self.bbox is not None or self.days is not None or self.filter is not None


def collection(collection_id: Annotated[str, Path(description=", ".join(COLLECTIONS))]
               ) -> Collection:
    found = COLLECTIONS.get(collection_id)
    if found is None:
        raise NotFound(f"no collection {collection_id!r}; there are {', '.join(COLLECTIONS)}")
    return found


def items_query(
    request: Request,
    collection_id: str,
    limit: Annotated[str | None, Query(description="Features per page (1 to 10000, default 100)")] = None,
    offset: Annotated[str | None, Query(description="Features to skip")] = None,
    after: Annotated[str | None, Query(description="Continue after this feature id (next links "
                                                   "use it: deep pages cost no more than the first)")] = None,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in bbox-crs")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs")] = None,
    datetime: Annotated[str | None, Query(description="An instant or an interval (a/b, ../b, a/..)")] = None,
    properties: Annotated[str | None, Query(description="The properties to return, comma-separated")] = None,
    sortby: Annotated[str | None, Query(description="Fields, comma-separated; - for descending")] = None,
    filter: Annotated[str | None, Query(description="A CQL2 filter")] = None,
    filter_lang: Annotated[str | None, Query(alias="filter-lang")] = None,
    filter_crs: Annotated[str | None, Query(alias="filter-crs")] = None,
    crs: Annotated[str | None, Query(description="CRS of the output geometry")] = None,
) -> ItemsQuery:
    """Return the checked query of an /items request."""
    unknown = sorted(set(request.query_params) - ITEMS_PARAMETERS)
    if unknown:
        raise MinemapError(f"unknown query parameter(s): {', '.join(unknown)}")
    source = collection(collection_id)
    tree = None
    if filter is not None:
        tree = cql.parse(filter, filter_lang or "cql2-text")
    order = _sortby(source, sortby)
    if after is not None and order:
        raise MinemapError("after continues the default order (by id): not with sortby")
    return ItemsQuery(
        limit=min(_integer("limit", limit, DEFAULT_LIMIT, minimum=1), MAX_LIMIT),
        offset=_integer("offset", offset, 0, minimum=0),
        after=None if after is None else _integer("after", after, 0, minimum=0),
        bbox=_bbox(bbox),
        bbox_crs=crs_.parse(bbox_crs, "bbox-crs"),
        days=days(datetime),
        properties=_properties(source, properties),
        sortby=order,
        filter=tree,
        filter_crs=crs_.parse(filter_crs, "filter-crs"),
        crs=crs_.parse(crs, "crs"),
    )


def _integer(name: str, value: str | None, default: int, *, minimum: int) -> int:
    """Parse a query integer; at most a bigint, which is what the database can compare."""
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise MinemapError(f"{name} must be an integer, not {value!r}") from None
    if number < minimum:
        raise MinemapError(f"{name} must be at least {minimum}")
    if number > MAX_ID:
        raise MinemapError(f"{name} must be at most {MAX_ID}")
    return number


def _bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        raise MinemapError(f"bbox must be 4 or 6 comma-separated numbers, not {value!r}") from None
    if len(numbers) not in (4, 6) or not all(math.isfinite(n) for n in numbers):
        raise MinemapError(f"bbox must be 4 or 6 comma-separated numbers, not {value!r}")
    half = len(numbers) // 2
    x0, y0, x1, y1 = numbers[0], numbers[1], numbers[half], numbers[half + 1]
    if x0 > x1 or y0 > y1:
        raise MinemapError("bbox: the lower corner comes first (boxes across the antimeridian "
                           "are not supported)")
    return x0, y0, x1, y1


def _day(value: str) -> dt.date | None:
    """Return the UTC day of an RFC 3339 date or date-time; None for an open end."""
    if value in ("", ".."):
        return None
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value)
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        return moment.astimezone(dt.UTC).date() if moment.tzinfo else moment.date()
    except ValueError:
        raise MinemapError(f"datetime: {value!r} is not an RFC 3339 date or date-time") from None
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise MinemapError(f"datetime: {value!r} is outside the years 1 to 9999 in UTC") from None


def days(value: str | None) -> Days:
    """Return the first and last day a feature's date may fall on to meet `datetime`.

    A date field is a whole day, so it meets an instant on that day, and an interval when the
    day overlaps it: from the day the interval starts to the day it ends.
    """
    if value is None:
        return None
    if "/" not in value:
        day = _day(value)
        if day is None:
            raise MinemapError("datetime: an instant cannot be open ('..')")
        return day, day
    start, _, end = value.partition("/")
    first, last = _day(start), _day(end)
    if first and last and first > last:
        raise MinemapError("datetime: the interval ends before it starts")
    return first, last


def _properties(source: Collection, value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    unknown = [n for n in names if n not in source.field]
    if unknown:
        raise MinemapError(f"properties: unknown {', '.join(map(repr, unknown))}; "
                           f"{source.id} has {', '.join(source.field)}")
    return names


def _sortby(source: Collection, value: str | None) -> tuple[tuple[str, bool], ...]:
    if value is None:
        return ()
    keys = []
    for part in value.split(","):
        # '+' arrives as a space unless the client encoded it.
        part = part.strip()
        descending = part.startswith("-")
        name = part.lstrip("+-").strip()
        field = source.field.get(name)
        if name != "id" and (field is None or field.kind == "array"):
            sortable = [f.name for f in source.fields if f.kind != "array"]
            raise MinemapError(f"sortby: cannot sort {source.id} by {name!r}; "
                               f"sortable: id, {', '.join(sortable)}")
        keys.append((name, descending))
    return tuple(keys)
