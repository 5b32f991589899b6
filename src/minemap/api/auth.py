"""Identify the caller by bearer token and require a role, as parametrised dependencies.

The token is hashed and looked up, never logged or echoed back.
"""

from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from minemap.api.deps import ConnectionDep, SettingsDep
from minemap.errors import Forbidden, InvalidInput, Unauthorized
from minemap.store import tokens
from minemap.store.tokens import Principal
from minemap.vocab import Role

WRITERS = frozenset({Role.admin, Role.reviewer, Role.operator})

# Documents the scheme in OpenAPI (the Authorize button of /docs); `Requires` reads the header.
bearer = HTTPBearer(auto_error=False, scheme_name="token",
                    description="An API token from `minemap token create`.")


class Requires:
    """Require a valid token for writes (and for reads unless public_read), and one of `roles`.

    Reads without a token give None when anonymous reads are allowed. A token that is sent
    must be valid even then: a client that means to authenticate hears why it could not.
    """

    def __init__(self, *, write: bool = False, roles: Iterable[Role] | None = None):
        self.write = write or roles is not None
        self.roles = frozenset(roles) if roles is not None else (
            WRITERS if write else frozenset(Role))

    def __call__(self, request: Request, settings: SettingsDep, conn: ConnectionDep,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
                 ) -> Principal | None:
        if "authorization" not in request.headers:
            if self.write or not settings.public_read:
                raise Unauthorized("this needs a token: send 'Authorization: Bearer <token>'")
            return None
        if credentials is None or not credentials.credentials.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <token>'")
        principal = tokens.authenticate(conn, credentials.credentials.strip())
        if principal is None:
            raise Unauthorized("the token is unknown or revoked")
        if principal.role not in self.roles:
            needed = " or ".join(sorted(self.roles))
            raise Forbidden(f"a {principal.role} token may not do this; it takes {needed}")
        return principal


# The caller of a read: None when anonymous (MINEMAP_PUBLIC_READ). One instance, so that a
# router requiring it and a handler asking for it share one token lookup per request.
reader = Requires()
Reader = Annotated[Principal | None, Depends(reader)]
# The caller of a write: an admin, reviewer or operator.
CurrentPrincipal = Annotated[Principal, Depends(Requires(write=True))]
# An admin or reviewer, who decide on submissions and may see them in reports.
Reviewer = Annotated[Principal, Depends(Requires(roles={Role.admin, Role.reviewer}))]
# An admin, for what only the national authority does.
Admin = Annotated[Principal, Depends(Requires(roles={Role.admin}))]


def sees_submissions(reader: Principal | None, include: str | None) -> bool:
    """Tell whether to count submissions: only when asked, and only for admins and reviewers."""
    if include is None:
        return False
    if include != "submitted":
        raise InvalidInput(f"include must be 'submitted', not {include!r}")
    if reader is None:
        raise Unauthorized("include=submitted needs an admin or reviewer token")
    if reader.role not in (Role.admin, Role.reviewer):
        raise Forbidden(f"a {reader.role} token may not see submissions; it takes admin "
                        "or reviewer")
    return True
