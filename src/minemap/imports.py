"""Import a field file of hazards or releases: read, check, store; all of it or nothing.

The HTTP endpoint and the `minemap import` command both call `run`, so they give the same
verdicts. `run` writes through the caller's connection and never commits: when it raises,
the caller's transaction rolls back and nothing is stored.
"""

from collections.abc import Callable
from datetime import date
from pathlib import Path

from sqlalchemy import Connection, select

from minemap import accounting
from minemap.db.models import Organisation
from minemap.errors import Forbidden, InvalidInput, Problem
from minemap.geo.checks import check_features
from minemap.geo.read import Limits, read_features
from minemap.settings import DEFAULT_BORDER_TOLERANCE_M
from minemap.store import bulk, districts, hazards, organisations, records, releases
from minemap.store import imports as recorded
from minemap.store.tokens import Principal
from minemap.vocab import Role

KINDS = {"hazards": hazards.KIND, "releases": releases.KIND}
STAGES = ("reading", "checking", "storing", "accounting")


def _ordered(problems: list[Problem]) -> list[Problem]:
    """Sort by feature, file-wide ones (index None) first; a feature's keep their order."""
    return sorted(problems, key=lambda p: -1 if p.index is None else p.index)


def _organisations(conn: Connection, names: list[str], indexes: list[int],
                   actor: Principal) -> tuple[list[Problem], list[Problem], list[str]]:
    """Return the problems and warnings of the organisations named, and those to create.

    An operator imports for its own organisation only (403); an admin's import creates the
    organisations it names that are new; anyone else's names only existing ones.
    """
    if actor.role is Role.operator:
        others = [Problem(i, "forbidden_organisation", f"an operator imports only for its own "
                                                       f"organisation ({actor.organisation}), "
                                                       f"not for {name}")
                  for i, name in zip(indexes, names) if name != actor.organisation]
        if others:
            records.refuse(others, Forbidden)
    missing = [Problem(i, "missing_property", "organisation is required")
               for i, name in zip(indexes, names) if not name]
    wanted = set(filter(None, names))
    o = Organisation.__table__
    unknown = wanted - set(conn.execute(select(o.c.name).where(o.c.name.in_(wanted))).scalars())
    if actor.role is Role.admin:
        return missing, [Problem(None, "new_organisation", f"organisation '{name}' is new: "
                                                           "the import creates it")
                         for name in sorted(unknown)], sorted(unknown)
    return missing + [Problem(i, "unknown_organisation", f"organisation '{name}' does not "
                                                         "exist; an admin adds it")
                      for i, name in zip(indexes, names) if name in unknown], [], []


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
        raise InvalidInput(f"kind must be hazards or releases, not '{kind}'",
                           problems=[Problem(None, "invalid_enum",
                                             f"kind '{kind}' is not one of hazards, releases")])
    target = KINDS[kind]
    name = name or Path(path).name
    organisation = organisation or actor.organisation
    records.authorise(actor, organisation)
    outline = districts.outline(conn, border_m)  # before reading: no units, no import
    say = progress or (lambda stage: None)

    say("reading")
    read = read_features(Path(path), crs=crs, layer=layer, limits=limits)
    say("checking")
    checked, problems, warnings = check_features(kind, read.features, outline=outline,
                                                 today=today or date.today())
    warnings = read.warnings + warnings
    features_read = len(read.features)
    read.features.clear()  # the checked records hold all that is stored: let the file go
    if not features_read:
        problems.append(Problem(None, "no_features", f"{name} holds no features"))
    rejected = {p.index for p in problems}
    indexes = [i for i in range(features_read) if i not in rejected]
    for record in checked:
        record["organisation"] = record.get("organisation") or organisation
    more, said, created = _organisations(conn, [r["organisation"] for r in checked], indexes,
                                         actor)
    bulk.stage(conn, target, checked, indexes=indexes)
    found, noted = bulk.check(conn, target)
    problems, warnings = _ordered(problems + more + found), _ordered(warnings + said + noted)
    report = {
        "kind": kind, "dry_run": dry_run, "features_read": features_read,
        "accepted": features_read - len({p.index for p in problems if p.index is not None}),
        "rejected": [p.as_dict() for p in problems], "warnings": [w.as_dict() for w in warnings],
        "created": [], "source_crs": read.source_crs, "layer": read.layer, "format": read.driver,
    }
    if problems:
        raise _refused(report, problems, name)
    if dry_run:
        bulk.discard(conn)
        return report

    say("storing")
    for new in created:
        organisations.ensure(conn, new)
    report["created"] = bulk.store(conn, target, actor=actor, review=records.review_of(actor))
    report["import_id"] = recorded.record(conn, path=Path(path), name=name, actor=actor,
                                          organisation=organisation, report=report)
    say("accounting")
    accounting.refresh(conn)
    return report
