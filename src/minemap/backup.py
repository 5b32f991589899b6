"""Dump minemap's database to a file and restore one: pg_dump and pg_restore, custom format.

The dump is one consistent snapshot of the whole database (schema, migration revision, records,
history, tokens' hashes, accounting tables), so a restore reproduces the same reports and history.
"""

import os
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from minemap.db.cluster import find_bindir
from minemap.db.engine import database_url, make_engine
from minemap.errors import Conflict, MinemapError, SetupError
from minemap.kinds import KINDS
from minemap.settings import Settings, libpq_url

# A database with a row in any of these holds minemap data, which a restore would replace.
DATA_TABLES = ("organisations", "tokens", "districts", "baselines", *KINDS, "history",
               "imports", "import_records")


def _tool(name: str, major: int) -> str:
    """Return the path of pg_dump or pg_restore, preferring the server's major version.

    An older pg_dump refuses a newer server; Debian installs each version's tools apart.
    """
    candidates = [Path(f"/usr/lib/postgresql/{major}/bin") / name]
    try:
        candidates.append(find_bindir() / name)
    except SetupError:
        pass
    found = next((str(p) for p in candidates if p.exists()), None) or shutil.which(name)
    if found is None:
        raise SetupError(f"{name} is not installed: apt-get install postgresql-client-{major}")
    return found


def _connection(settings: Settings) -> tuple[str, dict]:
    """Return the libpq URL without its password, and an environment carrying the password.

    A password in the command line would show in the process list.
    """
    url = make_url(database_url(settings))
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(password=None).render_as_string(hide_password=False)
    return libpq_url(plain), env


def _run(command: list[str], env: dict) -> None:
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
        last = (errors or proc.stderr.strip().splitlines() or ["(no output)"])[0]
        raise MinemapError(f"{Path(command[0]).name} failed: {last}")


def _server_major(conn: Connection) -> int:
    return int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000


def _rows_held(conn: Connection) -> dict[str, int]:
    """Return how many rows each of minemap's data tables holds (absent tables left out)."""
    held = {}
    for table in DATA_TABLES:
        if conn.execute(text("SELECT to_regclass(:t)"), {"t": f"public.{table}"}).scalar():
            held[table] = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    return held


def backup(settings: Settings, path: Path) -> None:
    """Write a consistent dump of the configured database to `path` (pg_dump custom format)."""
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            major = _server_major(conn)
    finally:
        engine.dispose()
    url, env = _connection(settings)
    _run([_tool("pg_dump", major), "--format=custom", f"--file={path}", f"--dbname={url}"], env)


def restore(settings: Settings, path: Path, *, force: bool = False) -> dict[str, int]:
    """Restore the dump at `path` into the configured database; return the rows it held before.

    A database without minemap's schema, or with the schema but no rows, is restored into as
    it is. One that holds data is refused unless `force`, which drops what the dump holds
    first (--clean --if-exists). Either way the restore is one transaction: all or nothing.
    """
    if not Path(path).is_file():
        raise MinemapError(f"no backup file {path}")
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            major, held = _server_major(conn), _rows_held(conn)
    finally:
        engine.dispose()
    url, env = _connection(settings)
    pg_restore = _tool("pg_restore", major)
    _run([pg_restore, "--list", str(path)], env)  # a readable dump, before touching anything
    full = {table: n for table, n in held.items() if n}
    if full and not force:
        rows = ", ".join(f"{n:,} {table}" for table, n in full.items())
        raise Conflict(f"the database already holds data ({rows}); restore with --force to "
                       "replace it")
    command = [pg_restore, f"--dbname={url}", "--no-owner", "--exit-on-error",
               "--single-transaction"]
    if held:  # the schema exists: drop it so the dump's own can take its place
        command += ["--clean", "--if-exists"]
    _run([*command, str(path)], env)
    engine = make_engine(settings)
    try:
        with engine.begin() as conn:
            # The dump's data version may equal one a running server cached at since.
            conn.execute(text("UPDATE data_version SET epoch = gen_random_uuid()"))
    finally:
        engine.dispose()
    return held
