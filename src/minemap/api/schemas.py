"""Shape the bodies of /api/v1: documented models, query parameters and the GeoJSON response.

The models of each kind's routes are built from its spec (kinds): the properties' models
(kinds.models) are those geo.checks validates every feature with, so the problem reports
of a POST name each field and reason the way imports do.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Literal, Union

import orjson
from fastapi.responses import Response
from geojson_pydantic import Feature, FeatureCollection, MultiPolygon, Polygon
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from minemap.db.models import MAX_ID
from minemap.kinds import KINDS, KindSpec, models
from minemap.vocab import Review

GEOJSON = "application/geo+json"


class GeoJSONResponse(Response):
    """GeoJSON (RFC 7946) serialised by orjson."""

    media_type = GEOJSON

    def render(self, content) -> bytes:
        return content if isinstance(content, bytes) else orjson.dumps(content)


def inline(schema: dict) -> dict:
    """Return a pydantic JSON schema with its $defs inlined, to embed in an OpenAPI operation."""
    defs = schema.get("$defs", {})

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(defs[node["$ref"].rsplit("/", 1)[1]])
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def documented_body(model: type[BaseModel]) -> dict:
    """Return `openapi_extra` documenting `model` as the body of a route that reads it raw."""
    schema = {"schema": inline(model.model_json_schema())}
    return {"requestBody": {"required": True,
                            "content": {GEOJSON: schema, "application/json": schema}}}


# The GeoJSON geometry types a kind's spec may name.
GEOMETRIES = {"Polygon": Polygon, "MultiPolygon": MultiPolygon}


class Stored(BaseModel):
    """What the service adds to every stored record."""

    code: str
    organisation: str
    area_m2: float = Field(description="Geodesic area on the WGS84 ellipsoid")
    districts: list[str] = Field(description="Districts the geometry lies in")
    review: Review
    review_reason: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


def _derived(kind: KindSpec) -> dict:
    """The derived properties of a kind's REST representation, as pydantic fields."""
    fields = {}
    for derived in kind.derived:
        if derived.rest is not None:
            annotation = Literal[derived.enum] if derived.enum else derived.type | None
            fields[derived.name] = (annotation, Field(description=derived.description))
    return fields


class Link(BaseModel):
    href: str
    rel: str
    type: str = GEOJSON


def _printable(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and no name holds control characters: refuse them here.
    if any(ord(c) < 32 for c in value):
        raise ValueError("must not contain control characters")
    return value


Name = Annotated[str, AfterValidator(_printable)]


def _prose(value: str) -> str:
    # A reason may run over lines; other control characters (NUL above all) are refused.
    _printable(value.translate({ord("\n"): " ", ord("\r"): " ", ord("\t"): " "}))
    return value


Prose = Annotated[str, AfterValidator(_prose)]


class ReviewIn(BaseModel):
    """A reviewer's decision on a submitted hazard or release."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    reason: Prose | None = Field(None, max_length=2000,
                               description="Why; required to reject. Kept in the history.")


# ---- query parameters --------------------------------------------------------------------

def _bbox(value: str) -> tuple[float, float, float, float]:
    try:
        box = tuple(float(part) for part in value.split(","))
    except ValueError:
        raise ValueError("bbox must be four numbers: minx,miny,maxx,maxy") from None
    if len(box) != 4:
        raise ValueError("bbox must be four numbers: minx,miny,maxx,maxy")
    minx, miny, maxx, maxy = box
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise ValueError("bbox must be minx,miny,maxx,maxy in degrees with min <= max")
    return box


Bbox = Annotated[str, AfterValidator(_bbox),
                 Field(description="minx,miny,maxx,maxy in degrees (EPSG:4326)",
                       examples=["46.5,39.5,47.5,40.5"])]


class RecordQuery(BaseModel):
    """Filters and paging shared by hazards and releases."""

    model_config = ConfigDict(extra="forbid")

    bbox: Bbox | None = None
    district: Name | None = Field(None, description="District name or ISO 3166-2 code (AZ-AGM)")
    organisation: Name | None = None
    review: Review | None = None
    limit: int = Field(100, ge=1, le=10_000)
    offset: int = Field(0, ge=0, le=MAX_ID)

    def filters(self) -> dict:
        """Return the filters that were given (paging left out)."""
        return {name: getattr(self, name) for name in type(self).model_fields
                if name not in ("limit", "offset") and getattr(self, name) is not None}


def _filters(kind: KindSpec) -> dict:
    """The kind's own filters of a listing, as query parameters."""
    fields = {}
    for field in kind.fields:
        if field.filter:
            annotation = field.enum if field.enum else Name
            fields[field.name] = (annotation | None, Field(None, description=field.description))
    for derived in kind.derived:
        if derived.filter:
            fields[derived.name] = (Literal[derived.enum] | None,
                                    Field(None, description=derived.description))
    return fields


@dataclass(frozen=True)
class Models:
    """The models documenting one kind's routes; kinds.models' validate the properties."""

    created: type[BaseModel]
    patch: type[BaseModel]
    out: type[BaseModel]
    collection: type[BaseModel]
    query: type[RecordQuery]


def models_of(kind: KindSpec) -> Models:
    name = kind.entity.title()
    geometry = Union[tuple(GEOMETRIES[type_] for type_ in kind.geometry)]  # noqa: UP007
    properties = models.properties(kind.name)
    out_properties = create_model(f"{name}OutProperties", __base__=(Stored, properties),
                                  **_derived(kind))
    out = create_model(f"{name}Out", __base__=Feature[geometry, out_properties],
                       __doc__=f"A stored {kind.entity}.", id=(int, ...))
    return Models(
        created=create_model(f"{name}In", __base__=Feature[geometry, properties],
                             __doc__=f"A {kind.entity} to create."),
        patch=create_model(f"{name}Patch", __doc__=f"The properties and/or geometry of a "
                                                   f"{kind.entity} to change; the rest is kept.",
                           type=(Literal["Feature"], "Feature"),
                           properties=(models.properties(kind.name, partial=True) | None, None),
                           geometry=(geometry | None, None)),
        out=out,
        collection=create_model(f"{name}Collection", __base__=FeatureCollection[out],
                                numberReturned=(int, ...), links=(list[Link], ...)),
        query=create_model(f"{name}Query", __base__=RecordQuery, **_filters(kind)),
    )


MODELS = {name: models_of(kind) for name, kind in KINDS.items()}


# ---- baselines ---------------------------------------------------------------------------
# Types only: the rules (area within the units', date from 1990 to today, printable label)
# are store.baselines', whose problem reports name each field and reason.

Km2 = Annotated[float, Field(strict=True, description="km², more than 0 and at most the "
                                                      "units' geodesic area: the district's, "
                                                      "or the whole country's")]
Label = Annotated[str, Field(description="Printable text, 1 to 200 characters once stripped")]
AsOf = Annotated[dt.date, Field(description="From 1990-01-01 to today")]
DistrictName = Annotated[Name, Field(description="District name or ISO 3166-2 code; none "
                                                 "for the whole country")]


class BaselineIn(BaseModel):
    """A baseline to add, national or for one district."""

    model_config = ConfigDict(extra="forbid")

    label: Label
    as_of: AsOf
    area_km2: Km2
    district: DistrictName | None = None


class BaselinePatch(BaseModel):
    """The fields of a baseline to change; the rest is kept. `district: null` makes it national."""

    model_config = ConfigDict(extra="forbid")

    label: Label | None = None
    as_of: AsOf | None = None
    area_km2: Km2 | None = None
    district: DistrictName | None = None


class BaselineOut(BaseModel):
    id: int | None
    label: str
    as_of: dt.date
    area_km2: float | None = Field(description="null only for a withdrawn baseline whose "
                                               "stored area is not a finite number")
    district: str | None
    iso_3166_2: str | None
    version: int | None = Field(None, description="null for the settings' default")
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    withdrawn_at: dt.datetime | None = Field(None, description="Set once withdrawn: kept, "
                                                               "but used by no report")


class Baselines(BaseModel):
    default: BaselineOut = Field(description="The national baseline of the settings "
                                             "(MINEMAP_BASELINE_KM2, MINEMAP_BASELINE_DATE)")
    baselines: list[BaselineOut]
