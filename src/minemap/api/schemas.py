"""Shape the bodies of /api/v1: documented models, query parameters and the GeoJSON response.

Feature bodies are documented here with geojson-pydantic but validated by geo.checks, whose
problem reports name each field and reason the way imports do.
"""

import datetime as dt
from typing import Annotated, Literal

import orjson
from fastapi.responses import Response
from geojson_pydantic import Feature, FeatureCollection, MultiPolygon, Polygon
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from minemap.db.models import MAX_ID
from minemap.vocab import Classification, HazardType, LandUse, ReleaseMethod, Review

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


Polygonal = Polygon | MultiPolygon


# ---- properties ------------------------------------------------------------------------

class HazardProperties(BaseModel):
    code: str | None = Field(None,
                             description="Generated as AZ-<DISTRICT>-<SHA|CHA>-<n> when absent")
    classification: Classification
    hazard_types: list[HazardType] = Field(min_length=1)
    organisation: str | None = Field(None, description="Defaults to the token's organisation")
    recorded_on: dt.date = Field(description="Date of the survey; not in the future")
    description: str | None = None


class ReleaseProperties(BaseModel):
    code: str | None = Field(None, description="Generated as AZ-<DISTRICT>-REL-<n> when absent")
    method: ReleaseMethod
    hazard: str | None = Field(None, description="Code of the hazard worked on; null for land "
                                                 "never recorded as hazardous")
    organisation: str | None = Field(None, description="Defaults to the token's organisation")
    started_on: dt.date | None = None
    completed_on: dt.date
    land_use: LandUse | None = None
    ap_mines: int = Field(0, ge=0)
    at_mines: int = Field(0, ge=0)
    uxo: int = Field(0, ge=0)
    cmr: int = Field(0, ge=0)
    ied: int = Field(0, ge=0)
    description: str | None = None


class Derived(BaseModel):
    """What the service adds to every stored hazard and release."""

    code: str
    organisation: str
    area_m2: float = Field(description="Geodesic area on the WGS84 ellipsoid")
    districts: list[str] = Field(description="Districts the geometry lies in")
    review: Review
    review_reason: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class HazardOutProperties(Derived, HazardProperties):
    remaining_m2: float | None = Field(description="Area not yet released")
    status: Literal["active", "closed"]


class ReleaseOutProperties(Derived, ReleaseProperties):
    pass


def _optional(model: type[BaseModel]) -> type[BaseModel]:
    """Return `model` with every field optional: the properties of a PATCH."""
    fields = {name: (info.annotation | None, None) for name, info in model.model_fields.items()}
    return create_model(f"{model.__name__}Patch", **fields)


HazardPatchProperties = _optional(HazardProperties)
ReleasePatchProperties = _optional(ReleaseProperties)


# ---- features ----------------------------------------------------------------------------

class HazardIn(Feature[Polygonal, HazardProperties]):
    """A hazard area to create."""


class HazardPatch(BaseModel):
    """The properties and/or geometry of a hazard area to change; the rest is kept."""

    type: Literal["Feature"] = "Feature"
    properties: HazardPatchProperties | None = None
    geometry: Polygonal | None = None


class HazardOut(Feature[Polygonal, HazardOutProperties]):
    """A stored hazard area."""

    id: int


class ReleaseIn(Feature[Polygonal, ReleaseProperties]):
    """A land release to create."""


class ReleasePatch(BaseModel):
    """The properties and/or geometry of a land release to change; the rest is kept."""

    type: Literal["Feature"] = "Feature"
    properties: ReleasePatchProperties | None = None
    geometry: Polygonal | None = None


class ReleaseOut(Feature[Polygonal, ReleaseOutProperties]):
    """A stored land release."""

    id: int


class Link(BaseModel):
    href: str
    rel: str
    type: str = GEOJSON


class HazardCollection(FeatureCollection[HazardOut]):
    numberReturned: int
    links: list[Link]


class ReleaseCollection(FeatureCollection[ReleaseOut]):
    numberReturned: int
    links: list[Link]


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


class HazardQuery(RecordQuery):
    classification: Classification | None = None
    status: Literal["active", "closed"] | None = None


class ReleaseQuery(RecordQuery):
    method: ReleaseMethod | None = None
    hazard: Name | None = Field(None, description="Code of the hazard released")


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
