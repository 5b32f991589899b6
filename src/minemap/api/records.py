"""/api/v1/hazards and /api/v1/releases: one set of routes, built once per kind of record."""

import hashlib
from datetime import UTC, date, datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response

from minemap import accounting
from minemap.api import schemas
from minemap.api.auth import CurrentPrincipal, Reader, Reviewer
from minemap.api.deps import ConnectionDep, SettingsDep, path_id
from minemap.api.schemas import GEOJSON, GeoJSONResponse, documented_body
from minemap.errors import InvalidInput, PreconditionFailed, PreconditionRequired, Problem
from minemap.store import districts, hazards, records, releases
from minemap.store.records import Kind
from minemap.store.tokens import Principal


async def feature_body(request: Request) -> dict:
    """Read the body as a JSON object; geo.checks decides whether it is a good Feature."""
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not JSON: {exc}",
                           problems=[Problem(0, "invalid_json", f"the body is not JSON: {exc}")]
                           ) from None
    if not isinstance(body, dict):
        raise InvalidInput("the body is not a GeoJSON Feature", problems=[
            Problem(0, "invalid_feature", "input is not a GeoJSON Feature")])
    return body


FeatureBody = Annotated[dict, Depends(feature_body)]
IfMatch = Annotated[str | None, Header(description="The ETag of the record as last read")]
IfNoneMatch = Annotated[str | None, Header()]
At = Annotated[datetime | None, Query(
    description="Read the record as it was at this time (ISO 8601; UTC unless it says)")]


def representation(feature: dict) -> tuple[bytes, str]:
    """Return a stored Feature's bytes and strong ETag: id, version and a digest of the bytes.

    The digest covers what changes without a new version (a hazard's remaining area as
    releases are recorded, a release's hazard code), so a stale copy is never confirmed.
    """
    body = orjson.dumps(feature)
    digest = hashlib.blake2b(body, digest_size=6).hexdigest()
    return body, f'"{feature["id"]}-{feature["properties"]["version"]}-{digest}"'


def _tags(header: str) -> set[str]:
    return {tag.strip() for tag in header.split(",")}


def _locked(conn, kind: Kind, record_id: int, if_match: str | None, actor: Principal, *,
            required: bool = True) -> dict:
    """Return the record, locked, if `if_match` holds its current ETag (else 428 or 412)."""
    if if_match is None and required:
        raise PreconditionRequired(f"send If-Match with the ETag of the {kind.entity} "
                                   "(from GET) to change it")
    current = records.get(conn, kind, record_id, lock=True, reader=actor)
    _, tag = representation(current)
    if if_match is not None and if_match.strip() != "*" and tag not in _tags(if_match):
        raise PreconditionFailed(f"{kind.entity} {record_id} has changed since it was read "
                                 f"(its ETag is now {tag}); read it again")
    return current


def _stored(feature: dict, status: int = 200, headers: dict | None = None,
            warnings: list[Problem] = ()) -> Response:
    """Answer with the stored Feature and, as a foreign member, what its check warned of."""
    body, tag = representation(feature)
    if warnings:
        body = orjson.dumps({**feature, "warnings": [w.as_dict() for w in warnings]})
    return GeoJSONResponse(body, status_code=status, headers={"ETag": tag, **(headers or {})})


def router(kind: Kind, *, created: type, patch: type, out: type, collection: type,
           query: type[schemas.RecordQuery]) -> APIRouter:
    """Return the routes of one kind; the models only document bodies and parameters."""
    api = APIRouter(prefix=f"/{kind.name}", tags=[kind.name])
    RecordId = path_id(kind.entity)
    one = f"get_{kind.entity}"

    @api.post("", status_code=201, response_model=out, response_class=GeoJSONResponse,
              openapi_extra=documented_body(created), summary=f"Create a {kind.entity}")
    def create(actor: CurrentPrincipal, feature: FeatureBody, conn: ConnectionDep,
               settings: SettingsDep, request: Request) -> Response:
        outline = districts.outline(conn, settings.border_tolerance_m)
        [record], warnings = records.check(kind, [feature], today=date.today(), outline=outline)
        [new_id] = records.create(conn, kind, [record], actor=actor)
        accounting.refresh(conn)
        location = str(request.url_for(one, id=new_id))
        return _stored(records.get(conn, kind, new_id), 201, {"Location": location}, warnings)

    @api.get("", response_model=collection, response_class=GeoJSONResponse,
             summary=f"List {kind.name}",
             description="Approved records for everyone; submitted and rejected ones too for "
                         "admins, reviewers and the operators of their organisation.")
    def search(params: Annotated[query, Query()], reader: Reader, conn: ConnectionDep,
               request: Request) -> Response:
        features, more = records.search(conn, kind, limit=params.limit, offset=params.offset,
                                        reader=reader, **params.filters())
        links = [{"href": str(request.url), "rel": "self", "type": GEOJSON}]
        if more:
            following = request.url.include_query_params(offset=params.offset + params.limit,
                                                         limit=params.limit)
            links.append({"href": str(following), "rel": "next", "type": GEOJSON})
        return GeoJSONResponse({"type": "FeatureCollection", "features": features,
                                "numberReturned": len(features), "links": links})

    @api.get("/{id}", name=one, response_model=out, response_class=GeoJSONResponse,
             summary=f"Read a {kind.entity}",
             responses={304: {"description": "Not modified (If-None-Match)"}})
    def read(id: RecordId, reader: Reader, conn: ConnectionDep, at: At = None,
             if_none_match: IfNoneMatch = None) -> Response:
        if at is not None:
            # A past state is for reading, not for conditional requests: no ETag.
            at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
            return GeoJSONResponse(records.get(conn, kind, id, reader=reader, at=at))
        body, tag = representation(records.get(conn, kind, id, reader=reader))
        # Weak comparison, as RFC 9110 asks for If-None-Match.
        if if_none_match and (if_none_match.strip() == "*" or tag in {
                t.removeprefix("W/") for t in _tags(if_none_match)}):
            return Response(status_code=304, headers={"ETag": tag})
        return GeoJSONResponse(body, headers={"ETag": tag})

    @api.patch("/{id}", response_model=out, response_class=GeoJSONResponse,
               openapi_extra=documented_body(patch), summary=f"Change a {kind.entity}")
    def change(id: RecordId, actor: CurrentPrincipal, changes: FeatureBody, conn: ConnectionDep,
               settings: SettingsDep, if_match: IfMatch = None) -> Response:
        current = _locked(conn, kind, id, if_match, actor)
        warnings = records.update(conn, kind, current, changes, actor=actor, today=date.today(),
                                  outline=districts.outline(conn, settings.border_tolerance_m))
        accounting.refresh(conn)
        return _stored(records.get(conn, kind, id), warnings=warnings)

    @api.delete("/{id}", status_code=204, response_class=Response,
                summary=f"Delete a {kind.entity} (kept in its history)")
    def delete(id: RecordId, actor: CurrentPrincipal, conn: ConnectionDep,
               if_match: IfMatch = None) -> Response:
        current = _locked(conn, kind, id, if_match, actor)
        records.delete(conn, kind, current, actor=actor)
        accounting.refresh(conn)
        return Response(status_code=204)

    @api.get("/{id}/history", summary=f"The history of a {kind.entity}",
             description="Every create, update, review and delete, oldest first, with who, "
                         "when, and the record before and after (deleted records included).")
    def changes_of(id: RecordId, reader: Reader, conn: ConnectionDep) -> list[dict]:
        return records.changes(conn, kind, id, reader=reader)

    @api.post("/{id}/review", response_model=out, response_class=GeoJSONResponse,
              summary=f"Approve or reject a submitted {kind.entity}",
              description="For admins and reviewers, on a submitted record only (else 409). "
                          "If-Match is optional: when sent, a stale ETag gives 412.")
    def review(id: RecordId, actor: Reviewer, decision: schemas.ReviewIn, conn: ConnectionDep,
               if_match: IfMatch = None) -> Response:
        current = _locked(conn, kind, id, if_match, actor, required=False)
        records.review(conn, kind, current, decision=decision.decision, reason=decision.reason,
                       actor=actor)
        accounting.refresh(conn)
        return _stored(records.get(conn, kind, id))

    return api


hazards_router = router(hazards.KIND, created=schemas.HazardIn, patch=schemas.HazardPatch,
                        out=schemas.HazardOut, collection=schemas.HazardCollection,
                        query=schemas.HazardQuery)
releases_router = router(releases.KIND, created=schemas.ReleaseIn, patch=schemas.ReleasePatch,
                         out=schemas.ReleaseOut, collection=schemas.ReleaseCollection,
                         query=schemas.ReleaseQuery)
