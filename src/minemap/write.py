"""The one way records are written: stage, check, store, history, accounting.

POST, PATCH, DELETE, reviews, imports, the sample and the CLI all write through here, so a
record gets the same numbering, checks, warnings and history whichever door it comes
through. Each write ends by refreshing the accounting in the writing transaction, so that
no read ever has to. Nothing here commits: the caller's transaction does, or rolls back.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from minemap import accounting
from minemap.errors import Conflict, PreconditionFailed, Problem, refuse
from minemap.geo.checks import check_features
from minemap.geo.outline import Outline
from minemap.kinds import KindSpec
from minemap.store import access, organisations, records, writes
from minemap.store import imports as recorded
from minemap.store.tokens import Principal
from minemap.vocab import HistoryAction, Review

# A reviewer's decision and the review state it leads to.
DECISIONS = {"approve": Review.approved, "reject": Review.rejected}


@dataclass
class Checked:
    """Features checked and staged: the records of those accepted, and what was found."""

    records: list[dict]
    indexes: list[int]  # records[i] is feature indexes[i]
    problems: list[Problem]
    warnings: list[Problem]
    new_organisations: list[str]  # what an admin's write creates


def locked(conn, kind: KindSpec, record_id: int, *, reader: Principal | None) -> dict:
    """Return the record to change, its row locked, after the write lock (store.writes)."""
    writes.lock_writes(conn)
    return records.get(conn, kind, record_id, lock=True, reader=reader)


def ordered(problems: list[Problem]) -> list[Problem]:
    """Sort by feature, write-wide ones (index None) first; a feature's keep their order."""
    return sorted(problems, key=lambda p: -1 if p.index is None else p.index)


def check(conn, kind: KindSpec, features: list, *, actor: Principal, today: date,
          outline: Outline | None, organisation: str | None = None) -> Checked:
    """Check `features` of `kind` and stage the good ones: their fields and geometry, their
    organisations (default `organisation`, else the actor's), and what is stored already.

    Raises Forbidden when an operator writes for another organisation; every other problem
    is returned, for the caller to refuse as its door does.
    """
    records, problems, warnings = check_features(kind.name, features, today=today,
                                                 outline=outline)
    rejected = {p.index for p in problems}
    indexes = [i for i in range(len(features)) if i not in rejected]
    for record in records:
        record["organisation"] = (record.get("organisation") or organisation
                                  or actor.organisation)
    return _stage(conn, kind, Checked(records, indexes, problems, warnings, []), actor)


def _stage(conn, kind: KindSpec, checked: Checked, actor: Principal,
           own_id: int | None = None) -> Checked:
    """Stage the checked records and add what their organisations and the stored records
    say of them (store.access, store.writes)."""
    more, said, new = access.organisations(
        conn, [r["organisation"] for r in checked.records], checked.indexes, actor)
    writes.stage(conn, kind, checked.records, indexes=checked.indexes, own_id=own_id)
    found, noted = writes.check(conn, kind, actor)
    return Checked(checked.records, checked.indexes, ordered(checked.problems + more + found),
                   ordered(checked.warnings + said + noted), new)


def store(conn, kind: KindSpec, checked: Checked, *, actor: Principal,
          progress: Callable[[str], None] = lambda stage: None) -> list[int]:
    """Store what `check` staged (it must have found no problems); return the ids in order.

    `progress` hears "accounting" when the records are stored and the refresh begins.
    """
    _create_organisations(conn, checked)
    ids = writes.store(conn, kind, actor=actor, review=access.review_of(actor))
    progress("accounting")
    accounting.refresh(conn)
    return ids


def _create_organisations(conn, checked: Checked) -> None:
    """Create the organisations an admin's write names for the first time."""
    for name in checked.new_organisations:
        organisations.ensure(conn, name)


def _refuse(problems: list[Problem]) -> None:
    """Refuse a write of records: 409 when only their codes are taken, else 422."""
    if problems and all(p.code == "duplicate_code" for p in problems):
        refuse(problems, Conflict)
    refuse(problems)


def create(conn, kind: KindSpec, features: list, *, actor: Principal, today: date,
           outline: Outline | None) -> tuple[list[int], list[Problem]]:
    """Store `features` (GeoJSON Features) as new records, all or none; return their ids and
    the warnings. With no `outline` they are not located against the loaded units."""
    checked = check(conn, kind, features, actor=actor, today=today, outline=outline)
    _refuse(checked.problems)
    return store(conn, kind, checked, actor=actor), checked.warnings


def update(conn, kind: KindSpec, current: dict, changes: dict, *, actor: Principal,
           today: date, outline: Outline) -> list[Problem]:
    """Apply a partial Feature `changes` to the stored Feature `current` (store.records.get,
    locked); return the warnings.

    The merged record is checked in full, so cross-field rules see old and new values alike.
    """
    access.authorise(actor, current["properties"]["organisation"])
    given = changes.get("properties") or {}
    if changes.get("type", "Feature") != "Feature" or not isinstance(given, dict):
        refuse([Problem(0, "invalid_feature", "a PATCH body is a Feature with properties "
                                              "and/or geometry")])
    # The stored values in the form a client sends them (dates as strings), overlaid by the patch.
    stored = json.loads(json.dumps({n: current["properties"][n] for n in kind.inputs},
                                   default=str))
    merged = {"type": "Feature", "properties": stored | given,
              "geometry": changes["geometry"] if "geometry" in changes else current["geometry"]}
    records, problems, warnings = check_features(kind.name, [merged], today=today,
                                                 outline=outline)
    refuse(problems)
    [record] = records
    if "geometry" not in changes:
        record["geometry"] = None  # keep the stored geometry, not its GeoJSON rendering
    record["code"] = record.get("code") or current["properties"]["code"]
    record["organisation"] = record.get("organisation") or actor.organisation
    checked = _stage(conn, kind, Checked([record], [0], [], warnings, []), actor,
                     own_id=current["id"])
    _refuse(checked.problems)
    _create_organisations(conn, checked)
    if not writes.store_change(conn, kind, version=current["properties"]["version"],
                               actor=actor, review=access.review_of(actor)):
        raise PreconditionFailed(f"{kind.entity} {current['id']} changed meanwhile; read it again")
    accounting.refresh(conn)
    return checked.warnings


def delete(conn, kind: KindSpec, current: dict, *, actor: Principal) -> None:
    """Mark the stored Feature `current` deleted; it stays in the table and in history."""
    access.authorise(actor, current["properties"]["organisation"])
    access.authorise_delete(actor, kind.entity, current["properties"]["review"])
    _change(conn, kind, current, HistoryAction.delete, actor)
    accounting.refresh(conn)


def check_decision(decision: str, reason: str | None) -> str | None:
    """Refuse a decision that is neither approve nor reject, or a rejection without a reason;
    return the reason, stripped."""
    if decision not in DECISIONS:
        refuse([Problem(None, "invalid_decision", f"decision '{decision}' is neither "
                                                  "'approve' nor 'reject'")])
    reason = (reason or "").strip() or None
    if decision == "reject" and reason is None:
        refuse([Problem(None, "missing_reason", "a rejection needs a reason")])
    return reason


def review(conn, kind: KindSpec, current: dict, *, decision: str, reason: str | None,
           actor: Principal) -> None:
    """Approve or reject the submitted Feature `current`; a rejection needs a reason.

    The decision and its reason are kept on the record and in its history.
    """
    access.authorise_review(actor)
    reason = check_decision(decision, reason)
    state = current["properties"]["review"]
    if state != Review.submitted:
        raise Conflict(f"{kind.entity} {current['id']} is {state}, not submitted: only "
                       "submissions are reviewed")
    _change(conn, kind, current, HistoryAction.review, actor, DECISIONS[decision], reason)
    accounting.refresh(conn)


def review_import(conn, import_id: int, *, decision: str, reason: str | None,
                  actor: Principal) -> dict:
    """Approve or reject at once every record of an import still submitted as imported."""
    access.authorise_review(actor)
    reason = check_decision(decision, reason)
    done = recorded.review(conn, import_id, decision=decision, state=DECISIONS[decision],
                           reason=reason, actor=actor)
    accounting.refresh(conn)
    return done


def _change(conn, kind, current, action, actor, review=None, reason=None) -> None:
    if not writes.change(conn, kind, current["id"], version=current["properties"]["version"],
                         action=action, actor=actor, review=review, reason=reason):
        raise PreconditionFailed(f"{kind.entity} {current['id']} changed meanwhile; read it again")
