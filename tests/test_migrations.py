"""The real migrations go up and back down, and the schema enforces the vocabulary."""

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from minemap.db import migrate

TABLES = {"organisations", "districts", "hazards", "releases", "baselines", "tokens", "history",
          "imports", "import_records"}
SQUARE = "ST_GeomFromText('MULTIPOLYGON(((47 40, 47.01 40, 47.01 40.01, 47 40.01, 47 40)))', 4326)"


def test_upgrade_then_downgrade_to_base_then_upgrade_again(empty_database_url):
    engine = create_engine(empty_database_url)
    assert migrate.status(engine)[0] is None
    migrate.upgrade(engine)
    current, head = migrate.status(engine)
    assert current == head
    assert TABLES <= set(inspect(engine).get_table_names())

    migrate.downgrade(engine, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        leftover_types = conn.execute(text(
            "SELECT typname FROM pg_type WHERE typname IN ('classification', 'release_method')"
        )).scalars().all()
    assert leftover_types == []

    migrate.upgrade(engine)
    assert TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_geometry_columns_are_multipolygon_4326_with_gist_index(engine):
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT f_table_name, type, srid FROM geometry_columns ORDER BY f_table_name"
        )).all()
        indexes = conn.execute(text(
            "SELECT tablename FROM pg_indexes WHERE indexdef LIKE '%USING gist (geom)%'"
        )).scalars().all()
    assert {(r.f_table_name, r.type, r.srid) for r in rows} >= {
        ("districts", "MULTIPOLYGON", 4326),
        ("hazards", "MULTIPOLYGON", 4326),
        ("releases", "MULTIPOLYGON", 4326),
    }
    assert {"districts", "hazards", "releases"} <= set(indexes)


def insert_hazard(conn, *, geom=SQUARE, classification="'SHA'", types="ARRAY['AP']::hazard_type[]",
                  code="'AZ-AGM-SHA-1'"):
    org = conn.execute(text(
        "INSERT INTO organisations (name) VALUES ('ANAMA') ON CONFLICT DO NOTHING RETURNING id"
    )).scalar() or conn.execute(text("SELECT id FROM organisations WHERE name='ANAMA'")).scalar()
    return conn.execute(text(
        f"INSERT INTO hazards (code, classification, hazard_types, organisation_id, recorded_on, geom)"
        f" VALUES ({code}, {classification}, {types}, {org}, DATE '2022-05-01', {geom}) RETURNING area_m2"
    )).scalar_one()


def test_geodesic_area_is_kept_by_the_database(engine):
    from pyproj import Geod
    from shapely import wkt

    with engine.begin() as conn:
        area = insert_hazard(conn)
    square = wkt.loads("POLYGON((47 40, 47.01 40, 47.01 40.01, 47 40.01, 47 40))")
    expected = abs(Geod(ellps="WGS84").geometry_area_perimeter(square)[0])
    assert area == pytest.approx(expected, rel=1e-9)
    with engine.connect() as conn:
        via_function = conn.execute(text(f"SELECT minemap_geodesic_area({SQUARE})")).scalar_one()
    assert via_function == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("classification", "'XYZ'"),
        ("types", "ARRAY['MINE']::hazard_type[]"),
        ("types", "ARRAY[]::hazard_type[]"),
        # a bow-tie: self-intersecting, invalid
        ("geom", "ST_GeomFromText('MULTIPOLYGON(((47 40, 47.01 40.01, 47.01 40, 47 40.01, 47 40)))', 4326)"),
        ("geom", "ST_GeomFromText('MULTIPOLYGON EMPTY', 4326)"),
        ("geom", "ST_GeomFromText('MULTIPOLYGON(((47 40, 47.01 40, 47.01 40.01, 47 40)))', 3857)"),
        ("geom", "ST_GeomFromText('POINT(47 40)', 4326)"),
    ],
)
def test_database_refuses_what_the_vocabulary_forbids(engine, field, value):
    with pytest.raises((IntegrityError, DBAPIError)):
        with engine.begin() as conn:
            insert_hazard(conn, **{field: value})
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM hazards")).scalar_one() == 0


def test_history_is_append_only(engine):
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO history (entity, entity_id, action, version, actor) "
            "VALUES ('hazard', 1, 'create', 1, 'test')"
        ))
    for statement in ("UPDATE history SET actor = 'someone else'", "DELETE FROM history"):
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text(statement))
