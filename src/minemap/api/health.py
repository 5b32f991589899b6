"""GET /health: is the service up, can it reach PostGIS, and can it report."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from minemap.db.engine import postgis_version
from minemap.store import districts

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request) -> JSONResponse:
    """Report the database, PostGIS and the units loaded; 503 when the database is unreachable.

    With no districts loaded the service is `degraded`: it serves, but reports refuse to
    answer (they cannot be right) until `minemap districts load` has run.
    """
    try:
        with request.app.state.engine.connect() as conn:
            version = postgis_version(conn)
            units = districts.count(conn)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        return JSONResponse(
            {"status": "error", "database": "unreachable", "detail": reason}, status_code=503
        )
    body = {"status": "ok" if units else "degraded", "database": "ok", "postgis": version,
            "districts": units}
    if not units:
        body["detail"] = districts.NONE_LOADED
    return JSONResponse(body)
