"""The `minemap` command line, run as a user runs it: a real process on real databases."""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from minemap.db.cluster import Cluster


def minemap(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "minemap", *args],
        env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=120,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def reachable_dir():
    """A directory the server account can enter (pytest's own are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="minemap-cli-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_private_cluster_starts_migrates_and_stops(reachable_dir):
    home = reachable_dir / "home"
    env = {"MINEMAP_HOME": str(home), "MINEMAP_DATABASE_URL": ""}
    started = minemap("db", "start", env=env)
    assert "PostGIS running" in started.stdout
    try:
        assert "needs `minemap db upgrade`" in minemap("db", "status", env=env).stdout
        assert "up to date" in minemap("db", "upgrade", env=env).stdout
        # Starting again is harmless.
        minemap("db", "start", env=env)
        cluster = Cluster(home)
        assert cluster.is_running()
        assert cluster.psql("minemap", "SELECT count(*) FROM districts").strip() == "0"
        assert not list((home / "run").glob(".s.PGSQL.*[0-9]")) == []
    finally:
        minemap("db", "stop", env=env)
    assert not Cluster(home).is_running()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the cluster to another account")
def test_unreachable_home_is_refused_with_the_fix(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    proc = minemap("db", "start", env={"MINEMAP_HOME": str(private / "home"),
                                        "MINEMAP_DATABASE_URL": ""}, check=False)
    assert proc.returncode == 1
    assert "cannot enter" in proc.stderr and "MINEMAP_HOME" in proc.stderr


def test_db_commands_fail_with_one_line_when_the_cluster_is_not_running(tmp_path):
    env = {"MINEMAP_HOME": str(tmp_path / "nothing"), "MINEMAP_DATABASE_URL": ""}
    proc = minemap("db", "status", env=env, check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().startswith("error:")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_downgrade_and_upgrade_through_the_cli(database_url):
    env = {"MINEMAP_DATABASE_URL": database_url}
    assert "base (empty)" in minemap("db", "downgrade", "base", env=env).stdout
    assert "up to date" in minemap("db", "upgrade", env=env).stdout


def test_token_create_prints_the_token_once_and_stores_only_its_hash(database_url):
    env = {"MINEMAP_DATABASE_URL": database_url}
    proc = minemap("token", "create", "--org", "MAG", "--role", "operator", "--name", "mag-field",
                   env=env)
    token = proc.stdout.strip()
    assert token.startswith("mm_") and len(token) > 40
    engine = create_engine(database_url)
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT t.token_hash, t.role::text, o.name FROM tokens t "
            "JOIN organisations o ON o.id = t.organisation_id"
        )).one()
        dump = conn.execute(text("SELECT string_agg(t::text, ' ') FROM tokens t")).scalar_one()
    engine.dispose()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert (row.role, row.name) == ("operator", "MAG")
    assert token not in dump


def test_token_revoke_unknown_id_fails_cleanly(database_url):
    proc = minemap("token", "revoke", "999", env={"MINEMAP_DATABASE_URL": database_url}, check=False)
    assert proc.returncode == 1
    assert "no active token with id 999" in proc.stderr


def test_wrong_role_is_refused_by_the_cli(database_url):
    proc = minemap("token", "create", "--org", "MAG", "--role", "god",
                   env={"MINEMAP_DATABASE_URL": database_url}, check=False)
    assert proc.returncode != 0
    assert "god" in proc.stderr
