"""API tokens: issued once, stored as hashes, revoked at once."""

from typing import Annotated

import typer

from minemap.cli.common import app, err, out, reports_errors, settings_of
from minemap.db.engine import make_engine, transaction
from minemap.vocab import Role

token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
@reports_errors
def token_create(
    ctx: typer.Context,
    org: Annotated[str, typer.Option(help="Organisation (created if new).")],
    role: Annotated[Role, typer.Option(help="admin, reviewer, operator or viewer.")],
    name: Annotated[str | None, typer.Option(help="A label for the token.")] = None,
) -> None:
    """Print a new API token; only its hash is stored, so it cannot be shown again."""
    from minemap.store import tokens

    with transaction(make_engine(settings_of(ctx))) as conn:
        token_id, token = tokens.create(conn, organisation=org, role=role, name=name)
    err.print(f"token {token_id} ({role.value} of {org}); keep it, it is shown only once:")
    print(token)


@token_app.command("revoke")
@reports_errors
def token_revoke(ctx: typer.Context, token_id: int) -> None:
    """Revoke token TOKEN_ID: it stops working at once."""
    from minemap.store import tokens

    with transaction(make_engine(settings_of(ctx))) as conn:
        tokens.revoke(conn, token_id)
    out.print(f"token {token_id} revoked")

