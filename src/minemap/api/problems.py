"""Render every error as an RFC 9457 problem report (application/problem+json)."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from minemap.errors import MinemapError

PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, *, type_: str = "about:blank",
            errors: list[dict] | None = None, headers: dict | None = None, **extra) -> JSONResponse:
    body = {"type": type_, "title": title, "status": status, "detail": detail, **extra}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _minemap_error(request: Request, exc: MinemapError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return problem(exc.status, exc.title, exc.detail, type_=exc.type,
                   errors=[p.as_dict() for p in exc.problems], headers=headers, **exc.extra)


def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        errors.append({"index": None, "code": err["type"], "reason": f"{'.'.join(loc)}: {err['msg']}"})
    detail = "; ".join(e["reason"] for e in errors)
    return problem(422, "Invalid input", detail, errors=errors)


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return problem(exc.status_code, str(exc.detail), str(exc.detail), headers=exc.headers)


def add_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MinemapError, _minemap_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
