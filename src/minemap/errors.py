"""The MinemapError family: a problem code, an HTTP status and, for features, the problems.

Lower layers raise these; the HTTP layer renders them as RFC 9457 problem reports and the
CLI prints their message. Nothing here knows about FastAPI.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input feature (`index` is its position, 0-based)."""

    index: int | None
    code: str
    reason: str

    def as_dict(self) -> dict:
        return {"index": self.index, "code": self.code, "reason": self.reason}


class MinemapError(Exception):
    """Base of every error minemap reports to a user."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, problems: list[Problem] | None = None, **extra):
        super().__init__(detail)
        self.detail = detail
        self.problems = problems or []
        self.extra = extra

    @property
    def type(self) -> str:
        return "https://minemap.org/problems/" + self.title.lower().replace(" ", "-")


class InvalidInput(MinemapError):
    status = 422
    title = "Invalid input"


def refuse(problems: list[Problem], error: type[MinemapError] = InvalidInput) -> None:
    """Raise `error` listing `problems`, if there are any."""
    if problems:
        shown = "; ".join(p.reason for p in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise error(shown + more, problems=problems)


class NotFound(MinemapError):
    status = 404
    title = "Not found"


class Conflict(MinemapError):
    status = 409
    title = "Conflict"


class PreconditionFailed(MinemapError):
    status = 412
    title = "Precondition failed"


class PreconditionRequired(MinemapError):
    status = 428
    title = "Precondition required"


class Unauthorized(MinemapError):
    status = 401
    title = "Unauthorized"


class Forbidden(MinemapError):
    status = 403
    title = "Forbidden"


class PayloadTooLarge(MinemapError):
    status = 413
    title = "Payload too large"


class DatabaseUnavailable(MinemapError):
    status = 503
    title = "Database unavailable"


class AccountingStale(MinemapError):
    """Records were written without recomputing the accounting: a report would be wrong."""

    status = 503
    title = "Accounting not current"


class SetupError(MinemapError):
    """The machine lacks something minemap needs (PostgreSQL, PostGIS, a free port...)."""

    status = 500
    title = "Setup error"
