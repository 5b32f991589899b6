"""Who may read and write what: every access rule of records, imports and submissions.

- Approved records are public; submitted and rejected ones are seen by admins, reviewers and
  the operators of the organisation that owns them.
- Admins, reviewers and operators write; an operator only for its own organisation, and what
  it writes is submitted for review. Only admins name organisations that do not exist yet.
- Admins and reviewers decide on submissions and may count them in reports.
- Imports list submitted records, so they are seen as those are.
"""

from sqlalchemy import ColumnElement, Connection, FromClause, or_, select, true

from minemap.db.models import Organisation
from minemap.errors import Forbidden, InvalidInput, Problem, Unauthorized, refuse
from minemap.store.tokens import Principal
from minemap.vocab import Review, Role

WRITERS = frozenset({Role.admin, Role.reviewer, Role.operator})
REVIEWERS = frozenset({Role.admin, Role.reviewer})


def _authorise_writer(actor: Principal) -> None:
    if actor.role not in WRITERS:
        raise Forbidden(f"a {actor.role} token may not write")


def authorise(actor: Principal, organisation: str | None) -> None:
    """Refuse a write by `actor` on a record of `organisation` outside its role (403)."""
    _authorise_writer(actor)
    if actor.role is Role.operator and organisation != actor.organisation:
        raise Forbidden(f"an operator writes only for its own organisation ({actor.organisation}),"
                        f" not for {organisation}")


def authorise_review(actor: Principal) -> None:
    """Refuse a review by anyone but an admin or reviewer (403)."""
    if actor.role not in REVIEWERS:
        raise Forbidden(f"a {actor.role} token may not review; it takes admin or reviewer")


def authorise_delete(actor: Principal, entity: str, review: Review) -> None:
    """An operator deletes only what is not approved: approved land leaves the reports only by
    a reviewer's or an admin's hand (an operator's change to it is submitted for review)."""
    if actor.role is Role.operator and review == Review.approved:
        raise Forbidden(f"an operator may not delete an approved {entity}; "
                        "a reviewer or admin does")


def review_of(actor: Principal) -> Review:
    """Return the review state of what `actor` writes: approved at once unless an operator."""
    return Review.submitted if actor.role is Role.operator else Review.approved


def visible(t: FromClause, reader: Principal | None) -> ColumnElement[bool]:
    """Return the records of table `t` that `reader` (None: anonymous) may read."""
    if reader is not None and reader.role in REVIEWERS:
        return true()
    if reader is not None and reader.role is Role.operator:
        return or_(t.c.review == Review.approved, t.c.organisation_id == reader.organisation_id)
    return t.c.review == Review.approved


def visible_sql(alias: str, reader: Principal | None) -> str:
    """Return `visible` as SQL text on the table aliased `alias`, for statements written out."""
    if reader is not None and reader.role in REVIEWERS:
        return "true"
    if reader is not None and reader.role is Role.operator:
        return (f"({alias}.review = 'approved' "
                f"OR {alias}.organisation_id = {int(reader.organisation_id)})")
    return f"{alias}.review = 'approved'"


def imports_visible(t: FromClause, reader: Principal | None) -> ColumnElement[bool]:
    """Return the imports of table `t` that `reader` may see (401 anonymous, 403 viewers)."""
    if reader is None:
        raise Unauthorized("imports are not public: send a token")
    if reader.role is Role.viewer:
        raise Forbidden("imports are seen by admins, reviewers and the importing "
                        "organisation's operators")
    if reader.role is Role.operator:
        return t.c.organisation_id == reader.organisation_id
    return true()


def sees_submissions(reader: Principal | None, include: str | None) -> bool:
    """Tell whether to count submissions: only when asked, and only for admins and reviewers."""
    if include is None:
        return False
    if include != "submitted":
        raise InvalidInput(f"include must be 'submitted', not {include!r}")
    if reader is None:
        raise Unauthorized("include=submitted needs an admin or reviewer token")
    if reader.role not in REVIEWERS:
        raise Forbidden(f"a {reader.role} token may not see submissions; it takes admin "
                        "or reviewer")
    return True


def organisations(conn: Connection, names: list[str | None], indexes: list[int],
                  actor: Principal) -> tuple[list[Problem], list[Problem], list[str]]:
    """Return the problems and warnings of the organisations records name, and those to create.

    `names[i]` is feature `indexes[i]`'s. An operator writes for its own organisation only
    (forbidden_organisation); an admin's write creates the organisations it names that are
    new; anyone else's names only existing ones.
    """
    _authorise_writer(actor)
    if actor.role is Role.operator:
        refuse([Problem(i, "forbidden_organisation", f"an operator writes only for its own "
                                                     f"organisation ({actor.organisation}), "
                                                     f"not for {name}")
                for i, name in zip(indexes, names) if name and name != actor.organisation],
               Forbidden)
    problems = [Problem(i, "missing_property", "organisation is required")
                for i, name in zip(indexes, names) if not name]
    wanted = set(filter(None, names))
    o = Organisation.__table__
    unknown = wanted - set(conn.execute(select(o.c.name).where(o.c.name.in_(wanted))).scalars())
    if actor.role is Role.admin:
        return problems, [Problem(None, "new_organisation", f"organisation '{name}' is new: "
                                                            "it is created")
                          for name in sorted(unknown)], sorted(unknown)
    return problems + [Problem(i, "unknown_organisation", f"organisation '{name}' does not "
                                                          "exist; an admin adds it")
                       for i, name in zip(indexes, names) if name in unknown], [], []
