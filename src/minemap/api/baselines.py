"""/api/v1/baselines: the contaminated area progress is measured against.

Read by anyone who may read; added, corrected and withdrawn by admins, with If-Match as for
hazards (428 without it, 412 when stale) and a history of every change.
"""

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from minemap.http.auth import Admin, Reader
from minemap.http.deps import ConnectionDep, SettingsDep
from minemap.http.conditional import IfMatch, IfNoneMatch, etag, require_match, unchanged
from minemap.api.schemas import BaselineIn, BaselineOut, BaselinePatch, Baselines
from minemap.store import baselines

router = APIRouter(prefix="/baselines", tags=["baselines"])
JSON = "application/json"
Include = Annotated[Literal["withdrawn"] | None, Query(
    description="'withdrawn' to list withdrawn baselines too")]


def representation(row: dict) -> tuple[bytes, str]:
    """Return a baseline's bytes and strong ETag: id, version and a digest of the bytes."""
    body = BaselineOut(**row).model_dump_json().encode()
    return body, etag(f'{row["id"]}-{row["version"]}', body)


def _locked(conn, baseline_id: int, if_match: str | None) -> dict:
    """Return the baseline, locked, if `if_match` holds its current ETag (else 428 or 412)."""
    if if_match is None:
        require_match(None, "", f"baseline {baseline_id}")
    current = baselines.get(conn, baseline_id, lock=True)
    require_match(if_match, representation(current)[1], f"baseline {baseline_id}")
    return current


def _stored(row: dict, status: int = 200, headers: dict | None = None) -> Response:
    body, tag = representation(row)
    return Response(body, status_code=status, media_type=JSON,
                    headers={"ETag": tag, **(headers or {})})


@router.get("", summary="List baselines")
def list_baselines(reader: Reader, conn: ConnectionDep, settings: SettingsDep,
                   include: Include = None) -> Baselines:
    """List the baselines in use, and the national default the settings give."""
    default = BaselineOut(id=None, label="national default", as_of=settings.baseline_date,
                          area_km2=settings.baseline_km2, district=None, iso_3166_2=None)
    rows = baselines.all_(conn, withdrawn=include == "withdrawn")
    return Baselines(default=default, baselines=[BaselineOut(**row) for row in rows])


@router.post("", status_code=201, response_model=BaselineOut, summary="Add a baseline")
def create_baseline(actor: Admin, body: BaselineIn, conn: ConnectionDep,
                    request: Request) -> Response:
    """Add a baseline, national or for one district (admins only; 409 without districts)."""
    new_id = baselines.create(conn, **body.model_dump(), today=date.today(), actor=actor)
    location = str(request.url_for("get_baseline", id=new_id))
    return _stored(baselines.get(conn, new_id), 201, {"Location": location})


@router.get("/{id}", name="get_baseline", response_model=BaselineOut,
            summary="Read a baseline", responses={304: {"description": "Not modified"}})
def read_baseline(id: int, reader: Reader, conn: ConnectionDep,
                  if_none_match: IfNoneMatch = None) -> Response:
    """Read a baseline, withdrawn or not, with its ETag."""
    body, tag = representation(baselines.get(conn, id))
    # Weak comparison, as RFC 9110 asks for If-None-Match.
    if unchanged(if_none_match, tag):
        return Response(status_code=304, headers={"ETag": tag})
    return Response(body, media_type=JSON, headers={"ETag": tag})


@router.patch("/{id}", response_model=BaselineOut, summary="Correct a baseline")
def change_baseline(id: int, actor: Admin, changes: BaselinePatch, conn: ConnectionDep,
                    if_match: IfMatch = None) -> Response:
    """Change the fields given (admins only; If-Match required). The result is checked as a
    new baseline is; a withdrawn baseline is not changed (409)."""
    current = _locked(conn, id, if_match)
    baselines.update(conn, current, changes.model_dump(exclude_unset=True), today=date.today(),
                     actor=actor)
    return _stored(baselines.get(conn, id))


@router.delete("/{id}", status_code=204, response_class=Response,
               summary="Withdraw a baseline (kept, with its history)")
def withdraw_baseline(id: int, actor: Admin, conn: ConnectionDep,
                      if_match: IfMatch = None) -> Response:
    """Withdraw a baseline (admins only; If-Match required): reports stop using it."""
    baselines.withdraw(conn, _locked(conn, id, if_match), actor=actor)
    return Response(status_code=204)


@router.get("/{id}/history", summary="The history of a baseline")
def baseline_history(id: int, reader: Reader, conn: ConnectionDep) -> list[dict]:
    """Every create, update and withdrawal, oldest first, with who, when, and the baseline
    before and after."""
    return baselines.changes(conn, id)
