"""Identify the caller by bearer token and require a role, as parametrised dependencies.

The token is hashed and looked up, never logged or echoed back.
"""

from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from minemap.db.engine import transaction
from minemap.errors import Forbidden, Unauthorized
from minemap.http.deps import ConnectionDep, EngineDep, SettingsDep
from minemap.settings import Settings
from minemap.store import tokens
from minemap.store.access import REVIEWERS, WRITERS
from minemap.store.tokens import Principal
from minemap.vocab import Role


# Documents the scheme in OpenAPI (the Authorize button of /docs); `Requires` reads the header.
bearer = HTTPBearer(auto_error=False, scheme_name="token",
                    description="An API token from `minemap token create`.")


class Requires:
    """Require a valid token for writes (and for reads unless public_read), and one of `roles`.

    Reads without a token give None when anonymous reads are allowed. A token that is sent
    must be valid even then: a client that means to authenticate hears why it could not.
    The token is looked up in the request's transaction.
    """

    def __init__(self, *, write: bool = False, roles: Iterable[Role] | None = None):
        self.write = write or roles is not None
        self.roles = frozenset(roles) if roles is not None else (
            WRITERS if write else frozenset(Role))

    def __call__(self, request: Request, settings: SettingsDep, conn: ConnectionDep,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
                 ) -> Principal | None:
        token = self.token(request, settings, credentials)
        return None if token is None else self.admit(tokens.authenticate(conn, token))

    def token(self, request: Request, settings: Settings,
              credentials: HTTPAuthorizationCredentials | None) -> str | None:
        """Return the token sent, None for an anonymous read allowed, or refuse."""
        if "authorization" not in request.headers:
            if self.write or not settings.public_read:
                raise Unauthorized("this needs a token: send 'Authorization: Bearer <token>'")
            return None
        if credentials is None or not credentials.credentials.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <token>'")
        return credentials.credentials.strip()

    def admit(self, principal: Principal | None) -> Principal:
        """Return the principal of the token if it may do this, or refuse."""
        if principal is None:
            raise Unauthorized("the token is unknown or revoked")
        if principal.role not in self.roles:
            needed = " or ".join(sorted(self.roles))
            raise Forbidden(f"a {principal.role} token may not do this; it takes {needed}")
        return principal


class RequiresFirst(Requires):
    """Requires, with the token looked up in a short transaction of its own.

    For a route that receives a large body before it touches the database, and opens its
    transaction only then: a request's transaction would stay open, idle, through the upload.
    """

    def __call__(self, request: Request, settings: SettingsDep, engine: EngineDep,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
                 ) -> Principal | None:
        token = self.token(request, settings, credentials)
        if token is None:
            return None
        with transaction(engine) as conn:
            principal = tokens.authenticate(conn, token)
        return self.admit(principal)


# The caller of a read: None when anonymous (MINEMAP_PUBLIC_READ). One instance, so that a
# router requiring it and a handler asking for it share one token lookup per request.
reader = Requires()
Reader = Annotated[Principal | None, Depends(reader)]
# The caller of a write: an admin, reviewer or operator.
CurrentPrincipal = Annotated[Principal, Depends(Requires(write=True))]
# The same, for a write whose body is received before its transaction opens (an upload).
Uploader = Annotated[Principal, Depends(RequiresFirst(write=True))]
# An admin or reviewer, who decide on submissions and may see them in reports.
Reviewer = Annotated[Principal, Depends(Requires(roles=REVIEWERS))]
# An admin, for what only the national authority does.
Admin = Annotated[Principal, Depends(Requires(roles={Role.admin}))]
