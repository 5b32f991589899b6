"""/api/v1/imports: a field file streamed to disk, imported all or nothing, recorded, and
reviewed as a whole.

An upload may take minutes. Its import runs in a transaction of its own, opened once the
file is on disk, so that no connection idles in a transaction while the body arrives.
"""

import tempfile
from functools import partial
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from minemap import imports, write
from minemap.http.auth import Reader, Reviewer, Uploader
from minemap.http.deps import ConnectionDep, EngineDep, SettingsDep, path_id
from minemap.api.schemas import ReviewIn
from minemap.db.engine import transaction
from minemap.db.models import MAX_ID
from minemap.store import imports as recorded
from minemap.errors import InvalidInput, PayloadTooLarge, Problem
from minemap.geo.read import FORMATS
from minemap.kinds import KINDS

router = APIRouter(prefix="/imports", tags=["imports"])

MB = 1024 * 1024
FIELDS = ("kind", "dry_run", "crs", "layer", "organisation")
FIELD_MAX = 1024  # bytes of one text field
FORM_OVERHEAD = 64 * 1024  # boundaries, part headers and text fields around the file
TRUE, FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}


class ImportReport(BaseModel):
    """What an import did (or, with dry_run, would do)."""

    kind: str
    dry_run: bool
    features_read: int
    accepted: int
    rejected: list[dict]
    warnings: list[dict]
    created: list[int]
    import_id: int | None = Field(None, description="Where the import is recorded: "
                                                    "/api/v1/imports/{import_id}")
    source_crs: str | None = None
    layer: str | None = None
    format: str | None = None


UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file", "kind"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": FORMATS},
        "kind": {"type": "string", "enum": list(KINDS)},
        "dry_run": {"type": "boolean", "default": False,
                    "description": "check everything, the database included; store nothing"},
        "crs": {"type": "string", "description": "the file's CRS when it has none, or to "
                                                 "override it, e.g. EPSG:32638"},
        "layer": {"type": "string", "description": "the layer of a file holding several"},
        "organisation": {"type": "string", "description": "of the features not naming one; "
                                                          "default the token's"},
    }}}}}}


def _invalid(code: str, reason: str) -> InvalidInput:
    return InvalidInput(reason, problems=[Problem(None, code, reason)])


def _too_large(limit: int) -> PayloadTooLarge:
    reason = f"the upload is larger than MINEMAP_MAX_UPLOAD_MB ({limit // MB:,} MB)"
    return PayloadTooLarge(reason, problems=[Problem(None, "file_too_large", reason)])


def safe_name(name: str) -> str:
    """Return the last part of a client's file name, fit to name a file here."""
    last = name.replace("\\", "/").rsplit("/", 1)[-1]
    last = "".join(c for c in last if c.isprintable() and c not in "\x00:")[-100:]
    return last if last.strip(". ") else "upload"


class Form:
    """A multipart/form-data body as it streams in: its file written to `folder`, its fields.

    The methods are python-multipart's callbacks; raising in one stops the parsing.
    """

    def __init__(self, folder: Path, limit: int):
        self.folder, self.limit = folder, limit
        self.path: Path | None = None
        self.name: str | None = None
        self.complete = False  # the file part ended: the upload was not cut short
        self.fields: dict[str, str] = {}
        self._header, self._value = bytearray(), bytearray()
        self._disposition = b""
        self._part = ""
        self._sink = None
        self._text = bytearray()
        self._size = 0

    def on_part_begin(self) -> None:
        self._disposition = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        if self._header.lower() == b"content-disposition":
            self._disposition = bytes(self._value)
        self._header.clear()
        self._value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._part = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" not in options:
            self._text.clear()
            return
        if self._part != "file" or self.path is not None:
            raise _invalid("invalid_form", "send one file, in the form field 'file'")
        self.name = safe_name(options[b"filename"].decode("utf-8", "replace"))
        self.path = self.folder / self.name
        self._sink = self.path.open("wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._sink is not None:
            self._size += end - start
            if self._size > self.limit:
                raise _too_large(self.limit)
            self._sink.write(data[start:end])
        else:
            self._text += data[start:end]
            if len(self._text) > FIELD_MAX:
                raise _invalid("invalid_form", f"form field '{self._part}' is longer than "
                                               f"{FIELD_MAX} bytes")

    def on_part_end(self) -> None:
        if self._sink is not None:
            self.close()
            self.complete = True
        elif self._part in FIELDS:
            self.fields[self._part] = self._text.decode("utf-8", "replace").strip()

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None


async def receive(request: Request, folder: Path, limit: int) -> Form:
    """Stream the form into `folder`, refusing past `limit` bytes without reading the rest."""
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data" or not options.get(b"boundary"):
        raise _invalid("invalid_form", "send the file as multipart/form-data, in the form "
                                       "field 'file', with the field 'kind'")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
        raise _too_large(limit)
    form = Form(folder, limit)
    callbacks = {name: getattr(form, name) for name in (
        "on_part_begin", "on_header_field", "on_header_value", "on_header_end",
        "on_headers_finished", "on_part_data", "on_part_end")}
    parser = MultipartParser(options[b"boundary"], callbacks, max_size=limit + FORM_OVERHEAD)
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit + FORM_OVERHEAD:
                raise _too_large(limit)
            parser.write(chunk)
        parser.finalize()
    except FormParserError as error:
        raise _invalid("invalid_form", f"the multipart body cannot be read ({error})") from None
    finally:
        form.close()
    if form.path is None:
        raise _invalid("invalid_form", "no file: send it in the form field 'file'")
    if not form.complete:
        raise _invalid("invalid_form", "the upload ended before the file did")
    return form


def _import(engine: Engine, path: Path, **options) -> dict:
    """Run imports.run in one transaction: committed when it returns, rolled back if it raises."""
    with transaction(engine) as conn:
        return imports.run(conn, path, **options)


def _flag(text: str | None) -> bool:
    value = (text or "").lower()
    if value not in TRUE | FALSE:
        raise _invalid("invalid_value", f"dry_run '{text}' is not true or false")
    return value in TRUE


@router.post("", summary="Import a field file of hazards or releases, all or nothing",
             openapi_extra=UPLOAD_BODY,
             responses={200: {"model": ImportReport, "description": "Checked (dry_run)"},
                        201: {"model": ImportReport, "description": "Imported"},
                        413: {"description": "Larger than MINEMAP_MAX_UPLOAD_MB"},
                        422: {"description": "Rejected: `errors` names each feature's "
                                             "problems, and nothing was stored"}})
async def create_import(request: Request, actor: Uploader, engine: EngineDep,
                        settings: SettingsDep) -> JSONResponse:
    with tempfile.TemporaryDirectory(prefix="minemap-upload-") as folder:
        form = await receive(request, Path(folder), settings.max_upload_mb * MB)
        fields = form.fields
        for name, value in fields.items():
            if not value.isprintable():
                raise _invalid("invalid_value", f"the form field '{name}' must be printable "
                                                "text")
        if not fields.get("kind"):
            raise _invalid("missing_property", f"kind is required: {' or '.join(KINDS)}")
        dry_run = _flag(fields.get("dry_run"))
        # Reading and checking take seconds: off the event loop.
        report = await run_in_threadpool(partial(
            _import, engine, form.path, kind=fields["kind"], actor=actor,
            organisation=fields.get("organisation") or None, dry_run=dry_run,
            crs=fields.get("crs") or None, layer=fields.get("layer") or None, name=form.name,
            border_m=settings.border_tolerance_m))
    if dry_run:
        return JSONResponse(report)
    location = str(request.url_for("get_import", id=report["import_id"]))
    return JSONResponse(report, status_code=201, headers={"Location": location})


ImportId = path_id("import")


@router.get("", summary="The recorded imports, newest first",
            description="Admins and reviewers see every import; operators their "
                        "organisation's.")
def list_imports(reader: Reader, conn: ConnectionDep,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> dict:
    found = recorded.search(conn, reader, limit=limit, offset=offset)
    return {"imports": found, "numberReturned": len(found)}


@router.get("/{id}", summary="One recorded import: the file, its report and its records")
def get_import(id: ImportId, reader: Reader, conn: ConnectionDep) -> dict:
    return recorded.one(conn, id, reader)


@router.post("/{id}/review", summary="Approve or reject every record of an import at once",
             description="In one transaction, with a history entry per record. Records "
                         "edited since the import, already decided or deleted are skipped "
                         "and named in `skipped`.")
def review_import(id: ImportId, actor: Reviewer, decision: ReviewIn,
                  conn: ConnectionDep) -> dict:
    return write.review_import(conn, id, decision=decision.decision, reason=decision.reason,
                               actor=actor)
