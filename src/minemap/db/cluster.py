"""Run a private PostgreSQL/PostGIS cluster under a directory, with no administrator.

PostgreSQL refuses to run as root, so when the caller is root the cluster runs as Debian's
`postgres` account; otherwise as the caller. The server listens only on a Unix socket inside
the cluster directory (no TCP port is opened), readable by its owner alone.
"""

import getpass
import glob
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from minemap.errors import SetupError

DEFAULT_PORT = 54329
INSTALL_HINT = "apt-get install postgresql-15 postgresql-15-postgis-3"


def find_bindir() -> Path:
    """Return the directory of the newest PostgreSQL server binaries on this machine."""
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(Path(out.stdout.strip()))
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    candidates += [Path(p) for p in versions]
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    raise SetupError(f"PostgreSQL server is not installed: {INSTALL_HINT}")


def check_postgis(bindir: Path) -> None:
    """Raise SetupError naming the package when PostGIS is missing for this PostgreSQL."""
    sharedir = subprocess.run(
        [str(bindir / "pg_config"), "--sharedir"], capture_output=True, text=True
    ).stdout.strip()
    if not glob.glob(os.path.join(sharedir, "extension", "postgis.control")):
        major = bindir.parent.name
        raise SetupError(f"PostGIS is not installed: apt-get install postgresql-{major}-postgis-3")


def server_account() -> str:
    """Return the account the server runs as: `postgres` for root, else the caller."""
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise SetupError(
                "running as root needs the unprivileged 'postgres' account: " + INSTALL_HINT
            ) from None
        return "postgres"
    return getpass.getuser()


def private_url(home: Path | str, port: int = DEFAULT_PORT, dbname: str = "minemap") -> str:
    """Return the URL of the private cluster in `home`, without needing its binaries."""
    sockdir = Path(home).absolute() / "run"
    return f"postgresql://{server_account()}@/{dbname}?host={sockdir}&port={port}"


@dataclass
class Cluster:
    """A PostgreSQL cluster living in `home` (data, socket and log)."""

    home: Path
    port: int = DEFAULT_PORT
    dbname: str = "minemap"
    # A throwaway test cluster trades crash safety for speed.
    durable: bool = True

    def __post_init__(self):
        self.home = Path(self.home).absolute()
        self.bindir = find_bindir()
        self.account = server_account()

    @property
    def datadir(self) -> Path:
        return self.home / "pgdata"

    @property
    def sockdir(self) -> Path:
        return self.home / "run"

    @property
    def logfile(self) -> Path:
        return self.home / "postgresql.log"

    def url(self, dbname: str | None = None) -> str:
        """Return the libpq URL of a database in this cluster (over the Unix socket)."""
        return private_url(self.home, self.port, dbname or self.dbname)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", self.account, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if check and proc.returncode != 0:
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise SetupError(f"{args[0]} failed: {last[0]} (see {self.logfile})")
        return proc

    def is_running(self) -> bool:
        if not (self.datadir / "PG_VERSION").exists():
            return False
        return self._run("pg_ctl", "-D", str(self.datadir), "status", check=False).returncode == 0

    def _check_reachable(self) -> None:
        """Refuse clearly when the server account cannot enter a parent of the cluster home."""
        if os.geteuid() != 0:
            return
        for parent in self.home.parents:
            mode = parent.stat().st_mode
            if not mode & 0o001 and parent.owner() != self.account:
                raise SetupError(
                    f"the '{self.account}' account that runs PostgreSQL cannot enter {parent}: "
                    f"chmod o+x {parent}, or set MINEMAP_HOME to a directory it can reach"
                )

    def _prepare_home(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self._check_reachable()
        self.sockdir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            # The server account must reach and own its directories.
            os.chmod(self.home, 0o755)
            shutil.chown(self.home, user=self.account)
            shutil.chown(self.sockdir, user=self.account)

    def start(self) -> None:
        """Initialise the cluster on first use, start it, and create the database with PostGIS."""
        check_postgis(self.bindir)
        if self.is_running():
            return
        self._prepare_home()
        if not (self.datadir / "PG_VERSION").exists():
            self._run(
                "initdb", "-D", str(self.datadir), "-U", self.account, "--auth=trust",
                "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
            )
        options = (
            f"-k {self.sockdir} -p {self.port} -c listen_addresses='' "
            "-c unix_socket_permissions=0700"
        )
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            "pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60",
            "-o", options, "start",
        )
        self.create_database(self.dbname)

    def create_database(self, dbname: str) -> None:
        """Create `dbname` with PostGIS unless it exists."""
        sql = f"SELECT 1 FROM pg_database WHERE datname = '{dbname}'"
        exists = self.psql("postgres", sql).strip() == "1"
        if not exists:
            self._run("createdb", "-h", str(self.sockdir), "-p", str(self.port), dbname)
        self.psql(dbname, "CREATE EXTENSION IF NOT EXISTS postgis")

    def psql(self, dbname: str, sql: str) -> str:
        return self._run(
            "psql", "-h", str(self.sockdir), "-p", str(self.port), "-d", dbname,
            "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql,
        ).stdout

    def stop(self) -> None:
        if self.is_running():
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")
