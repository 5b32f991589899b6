"""Import a field file of hazards or releases: read, check, store; all of it or nothing.

The HTTP endpoint and the `minemap import` command both call `run`, so they give the same
verdicts. `run` writes through the caller's connection and never commits: when it raises,
the caller's transaction rolls back and nothing is stored.
"""

from collections.abc import Callable
from datetime import date
from pathlib import Path

from sqlalchemy import Connection

from minemap import write
from minemap.errors import InvalidInput, Problem
from minemap.geo.read import Limits, read_features
from minemap.kinds import KINDS
from minemap.settings import DEFAULT_BORDER_TOLERANCE_M
from minemap.store import access, districts, writes
from minemap.store import imports as recorded
from minemap.store.tokens import Principal

STAGES = ("reading", "checking", "storing", "accounting")


def _refused(report: dict, problems: list[Problem], name: str) -> InvalidInput:
    """Return the error rejecting the file; its `errors` are the report's `rejected`."""
    rejected = len({p.index for p in problems if p.index is not None})
    first, more = problems[0], len(problems) - 1
    where = f"feature {first.index}: " if first.index is not None else ""
    detail = (f"{name}: {rejected:,} of {report['features_read']:,} features rejected, so "
              "nothing was imported" if rejected else f"{name} cannot be imported")
    also = f"; and {more:,} more problem{'s' if more > 1 else ''}" if more else ""
    extra = {k: v for k, v in report.items() if k not in ("rejected", "created")}
    return InvalidInput(f"{detail} ({where}{first.reason}{also})", problems=problems, **extra)


def run(conn: Connection, path: Path, *, kind: str, actor: Principal,
        organisation: str | None = None, dry_run: bool = False, crs: str | None = None,
        layer: str | None = None, name: str | None = None, limits: Limits = Limits(),
        border_m: float = DEFAULT_BORDER_TOLERANCE_M, today: date | None = None,
        progress: Callable[[str], None] | None = None) -> dict:
    """Import every feature of the file at `path` as `kind`, or raise naming every problem.

    `organisation` (default: the actor's) is that of features not naming their own; `name`
    is the file's name as the user knows it; `border_m` how far beyond the loaded units a
    feature may reach. With `dry_run` everything is checked, the database included, and
    nothing stored. `progress` hears each stage of STAGES as it
    starts. Returns the report of CONTRACT §5: kind, dry_run, features_read, accepted,
    rejected, warnings, created (ids, in the order of the features), and the id under which
    the import is recorded (store.imports).
    """
    if kind not in KINDS:
        allowed = ", ".join(KINDS)
        raise InvalidInput(f"kind must be one of {allowed}, not '{kind}'",
                           problems=[Problem(None, "invalid_enum",
                                             f"kind '{kind}' is not one of {allowed}")])
    target = KINDS[kind]
    name = name or Path(path).name
    organisation = organisation or actor.organisation
    access.authorise(actor, organisation)
    outline = districts.outline(conn, border_m)  # before reading: no units, no import
    say = progress or (lambda stage: None)

    say("reading")
    read = read_features(Path(path), crs=crs, layer=layer, limits=limits)
    features_read = len(read.features)
    say("checking")
    checked = write.check(conn, target, read.features, actor=actor, today=today or date.today(),
                          outline=outline, organisation=organisation)
    read.features.clear()  # the checked records hold all that is stored: let the file go
    problems, warnings = checked.problems, write.ordered(read.warnings + checked.warnings)
    if not features_read:
        problems.append(Problem(None, "no_features", f"{name} holds no features"))
    report = {
        "kind": kind, "dry_run": dry_run, "features_read": features_read,
        "accepted": features_read - len({p.index for p in problems if p.index is not None}),
        "rejected": [p.as_dict() for p in problems], "warnings": [w.as_dict() for w in warnings],
        "created": [], "source_crs": read.source_crs, "layer": read.layer, "format": read.driver,
    }
    if problems:
        raise _refused(report, problems, name)
    if dry_run:
        writes.discard(conn)
        return report

    say("storing")
    report["created"] = write.store(conn, target, checked, actor=actor, progress=say)
    report["import_id"] = recorded.record(conn, path=Path(path), name=name, actor=actor,
                                          organisation=organisation, report=report)
    return report
