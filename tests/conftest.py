"""A throwaway PostGIS cluster for the whole run; a fresh database per test from a template.

The template database gets the schema from the real Alembic migrations, so every test runs
against what `minemap db upgrade` builds.
"""

import itertools
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from pytest_postgresql.janitor import DatabaseJanitor
from sqlalchemy import create_engine

from minemap.db import migrate
from minemap.db.cluster import Cluster
from minemap.settings import Settings, sqlalchemy_url

ROOT = Path(__file__).parents[1]
TEMPLATE = "minemap_template"
_counter = itertools.count()


@pytest.fixture(scope="session")
def cluster():
    home = Path(tempfile.mkdtemp(prefix="minemap-test-"))
    # MINEMAP_TEST_PORT lets several runs share a machine, each with its own cluster.
    port = int(os.environ.get("MINEMAP_TEST_PORT", "54339"))
    test_cluster = Cluster(home, port=port, dbname="postgres", durable=False)
    test_cluster.start()
    yield test_cluster
    test_cluster.stop()
    shutil.rmtree(home, ignore_errors=True)


def janitor(cluster: Cluster, dbname: str, **kwargs) -> DatabaseJanitor:
    return DatabaseJanitor(user=cluster.account, host=str(cluster.sockdir), port=cluster.port,
                           dbname=dbname, **kwargs)


@pytest.fixture(scope="session")
def template(cluster):
    """The migrated, empty database that each test's database is copied from."""
    with janitor(cluster, TEMPLATE, as_template=True):
        engine = create_engine(sqlalchemy_url(cluster.url(TEMPLATE)))
        migrate.upgrade(engine)
        engine.dispose()
        yield TEMPLATE


def fresh_database(cluster: Cluster, template: str | None):
    name = f"test_{os.getpid()}_{next(_counter)}"
    return name, janitor(cluster, name, template_dbname=template)


@pytest.fixture
def database_url(cluster, template):
    """The URL of a fresh, migrated database for one test."""
    name, jan = fresh_database(cluster, template)
    with jan:
        yield sqlalchemy_url(cluster.url(name))


@pytest.fixture
def empty_database_url(cluster):
    """The URL of a fresh database with PostGIS but no schema (for migration tests)."""
    name, jan = fresh_database(cluster, None)
    with jan:
        cluster.psql(name, "CREATE EXTENSION postgis")
        yield sqlalchemy_url(cluster.url(name))


@pytest.fixture
def settings(database_url, tmp_path):
    return Settings(database_url=database_url, home=str(tmp_path / "home"), _env_file=None)


@pytest.fixture
def engine(settings):
    eng = create_engine(settings.database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def client(settings):
    from fastapi.testclient import TestClient

    from minemap.app import create_app

    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def units(engine):
    """Load the bundled Azerbaijan units into the test's database, as `minemap districts load`."""
    from minemap import accounting
    from minemap.db.engine import transaction
    from minemap.store import districts

    with transaction(engine) as conn:
        loaded = districts.load(conn)
        accounting.refresh(conn)
    return loaded
