"""/api/v1/<kind>: one set of routes, built once per kind of record (kinds.KINDS)."""

from datetime import UTC, date, datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response

from minemap import write
from minemap.api import schemas
from minemap.api.schemas import GEOJSON, MODELS, GeoJSONResponse, documented_body
from minemap.errors import InvalidInput, Problem
from minemap.http.auth import CurrentPrincipal, Reader, Reviewer
from minemap.http.conditional import IfMatch, IfNoneMatch, etag, require_match, unchanged
from minemap.http.deps import ConnectionDep, SettingsDep, path_id
from minemap.kinds import KINDS, KindSpec
from minemap.store import districts, records
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
At = Annotated[datetime | None, Query(
    description="Read the record as it was at this time (ISO 8601; UTC unless it says)")]


def representation(feature: dict) -> tuple[bytes, str]:
    """Return a stored Feature's bytes and strong ETag: id, version and a digest of the bytes.

    The digest covers what changes without a new version (a hazard's remaining area as
    releases are recorded, a release's hazard code), so a stale copy is never confirmed.
    """
    body = orjson.dumps(feature)
    return body, etag(f'{feature["id"]}-{feature["properties"]["version"]}', body)


def _locked(conn, kind: KindSpec, record_id: int, if_match: str | None, actor: Principal, *,
            required: bool = True) -> dict:
    """Return the record, locked, if `if_match` holds its current ETag (else 428 or 412)."""
    if if_match is None and required:
        require_match(None, "", f"{kind.entity} {record_id}")
    current = write.locked(conn, kind, record_id, reader=actor)
    require_match(if_match, representation(current)[1], f"{kind.entity} {record_id}",
                  required=required)
    return current


def _stored(feature: dict, status: int = 200, headers: dict | None = None,
            warnings: list[Problem] = ()) -> Response:
    """Answer with the stored Feature and, as a foreign member, what its check warned of."""
    body, tag = representation(feature)
    if warnings:
        body = orjson.dumps({**feature, "warnings": [w.as_dict() for w in warnings]})
    return GeoJSONResponse(body, status_code=status, headers={"ETag": tag, **(headers or {})})


def router(kind: KindSpec) -> APIRouter:
    """Return the routes of one kind; writes go through minemap.write."""
    models = MODELS[kind.name]
    created, patch, out, collection, query = (models.created, models.patch, models.out,
                                              models.collection, models.query)
    api = APIRouter(prefix=f"/{kind.name}", tags=[kind.name])
    RecordId = path_id(kind.entity)
    one = f"get_{kind.entity}"

    @api.post("", status_code=201, response_model=out, response_class=GeoJSONResponse,
              openapi_extra=documented_body(created), summary=f"Create a {kind.entity}")
    def create(actor: CurrentPrincipal, feature: FeatureBody, conn: ConnectionDep,
               settings: SettingsDep, request: Request) -> Response:
        outline = districts.outline(conn, settings.border_tolerance_m)
        [new_id], warnings = write.create(conn, kind, [feature], actor=actor,
                                          today=date.today(), outline=outline)
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
        if unchanged(if_none_match, tag):
            return Response(status_code=304, headers={"ETag": tag})
        return GeoJSONResponse(body, headers={"ETag": tag})

    @api.patch("/{id}", response_model=out, response_class=GeoJSONResponse,
               openapi_extra=documented_body(patch), summary=f"Change a {kind.entity}")
    def change(id: RecordId, actor: CurrentPrincipal, changes: FeatureBody, conn: ConnectionDep,
               settings: SettingsDep, if_match: IfMatch = None) -> Response:
        current = _locked(conn, kind, id, if_match, actor)
        warnings = write.update(conn, kind, current, changes, actor=actor, today=date.today(),
                                outline=districts.outline(conn, settings.border_tolerance_m))
        return _stored(records.get(conn, kind, id), warnings=warnings)

    @api.delete("/{id}", status_code=204, response_class=Response,
                summary=f"Delete a {kind.entity} (kept in its history)")
    def delete(id: RecordId, actor: CurrentPrincipal, conn: ConnectionDep,
               if_match: IfMatch = None) -> Response:
        current = _locked(conn, kind, id, if_match, actor)
        write.delete(conn, kind, current, actor=actor)
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
        write.review(conn, kind, current, decision=decision.decision, reason=decision.reason,
                     actor=actor)
        return _stored(records.get(conn, kind, id))

    return api


routers = [router(kind) for kind in KINDS.values()]
