"""Store imports: each stored field file, who sent it, its report and its records.

An import is decided as a whole: every record it created that is still submitted, and still
as it was imported, is approved or rejected as one record is (the same rules and history);
the others are named, never silently decided.
"""

import hashlib
from pathlib import Path

from sqlalchemy import Connection, func, select, text

from minemap.db.models import Import, ImportRecord, Organisation, table_of
from minemap.errors import NotFound
from minemap.kinds import KINDS
from minemap.store import writes
from minemap.store.access import imports_visible
from minemap.store.tokens import Principal
from minemap.vocab import HistoryAction, Review

I, R, O = Import.__table__, ImportRecord.__table__, Organisation.__table__


def _digest(path: Path) -> tuple[str, int]:
    """Return the file's sha256 (hex) and size in bytes, reading it in blocks."""
    sha, size = hashlib.sha256(), 0
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            sha.update(block)
            size += len(block)
    return sha.hexdigest(), size


def record(conn: Connection, *, path: Path, name: str, actor: Principal, organisation: str,
           report: dict) -> int:
    """Record a stored import of the file at `path`, sent by `actor` for `organisation`, and
    the records it created; return its id."""
    sha256, size = _digest(path)
    import_id = conn.execute(I.insert().values(
        kind=report["kind"], token_id=actor.token_id, actor=actor.name,
        organisation_id=select(O.c.id).where(O.c.name == organisation).scalar_subquery(),
        file_name=name, file_size=size,
        file_sha256=sha256, features_read=report["features_read"], report=report,
    ).returning(I.c.id)).scalar_one()
    # Every record an import creates is at version 1.
    conn.execute(text("INSERT INTO import_records (import_id, record_id, version) "
                      "SELECT :id, unnest(CAST(:ids AS bigint[])), 1"),
                 {"id": import_id, "ids": report["created"]})
    return import_id


def _summary():
    created = (select(func.count()).select_from(R).where(R.c.import_id == I.c.id)
               .scalar_subquery())
    return select(I.c.id, I.c.at, I.c.kind, I.c.actor, O.c.name.label("organisation"),
                  I.c.file_name, I.c.file_size, I.c.file_sha256, I.c.features_read,
                  created.label("records"), I.c.report
                  ).select_from(I.outerjoin(O, O.c.id == I.c.organisation_id))


def _shaped(row, *, full: bool) -> dict:
    values = dict(row._mapping)
    report = values.pop("report")
    values["file"] = {"name": values.pop("file_name"), "size": values.pop("file_size"),
                      "sha256": values.pop("file_sha256")}
    values["warnings"] = len(report["warnings"])
    if full:
        values["report"] = report
    return values


def search(conn: Connection, reader: Principal | None, *, limit: int, offset: int) -> list[dict]:
    """Return the imports `reader` may see, newest first."""
    rows = conn.execute(_summary().where(imports_visible(I, reader)).order_by(I.c.id.desc())
                        .limit(limit).offset(offset))
    return [_shaped(row, full=False) for row in rows]


def one(conn: Connection, import_id: int, reader: Principal | None) -> dict:
    """Return one import with its report and its records as they are now (else NotFound)."""
    row = conn.execute(_summary().where(I.c.id == import_id, imports_visible(I, reader))).one_or_none()
    if row is None:
        raise NotFound(f"no import {import_id}")
    found = _shaped(row, full=True)
    t = table_of(KINDS[found["kind"]])
    rows = conn.execute(
        select(R.c.record_id.label("id"), t.c.code, R.c.version.label("imported_version"),
               t.c.version, t.c.review, t.c.deleted_at.is_not(None).label("deleted"))
        .select_from(R.join(t, t.c.id == R.c.record_id))
        .where(R.c.import_id == import_id).order_by(R.c.record_id))
    found["records"] = [dict(r._mapping) for r in rows]
    return found


def review(conn: Connection, import_id: int, *, decision: str, state: Review,
           reason: str | None, actor: Principal) -> dict:
    """Set every record of the import still submitted as imported to `state` (approved or
    rejected by `decision`), as store.writes reviews one record: the same history.

    Records edited since the import, already decided or deleted are skipped and named. The
    caller has authorised `actor` and checked the decision.
    """
    found = one(conn, import_id, actor)
    kind = KINDS[found["kind"]]
    t = table_of(kind)
    # Locked first, in id order, so that what is decided is what was read.
    writes.lock_writes(conn)
    locked = {row.id: row for row in conn.execute(
        select(t.c.id, t.c.version, t.c.review, t.c.deleted_at.is_not(None).label("deleted"))
        .where(t.c.id.in_([entry["id"] for entry in found["records"]]))
        .order_by(t.c.id).with_for_update())}
    decided, skipped = 0, []
    for entry in found["records"]:
        now = locked[entry["id"]]
        why = _why_not({**entry, "version": now.version, "review": now.review,
                        "deleted": now.deleted})
        if why is None:
            # Locked and current above, so the change finds it as it is.
            writes.change(conn, kind, entry["id"], version=now.version,
                          action=HistoryAction.review, actor=actor, review=state, reason=reason)
            decided += 1
        else:
            skipped.append({"kind": kind.entity, "id": entry["id"], "code": entry["code"],
                            "reason": why})
    return {"import": import_id, "decision": decision, "decided": decided, "skipped": skipped}


def _why_not(entry: dict) -> str | None:
    """Return why a record of an import is not decided with it, or None if it is."""
    if entry["deleted"]:
        return "deleted since the import"
    if entry["review"] != Review.submitted:
        return f"already {entry['review']}"
    if entry["version"] != entry["imported_version"]:
        return (f"edited since the import (version {entry['imported_version']} then, "
                f"{entry['version']} now): review it on its own")
    return None
