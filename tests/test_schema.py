"""The models and the migrations describe the same schema.

Two comparisons: Alembic's autogenerate (what `alembic check` and `minemap db check` run)
between the migrated database and the models, and PostgreSQL's own catalog of the migrated
database against that of one the models create, for what autogenerate does not compare:
CHECK constraints, computed columns, constraint names, index methods and enum labels.
"""

import pprint

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import ARRAY, Enum, create_engine, text

from minemap.db import migrate
from minemap.db.models import Base


def test_autogenerate_finds_no_difference_between_migrations_and_models(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=migrate.COMPARE)
        differences = compare_metadata(context, Base.metadata)
    assert not differences, pprint.pformat(differences, width=100)


def test_alembic_check_passes_on_the_migrated_database(engine):
    migrate.check(engine)  # env.py's configuration, as `alembic check` runs it


# One row per column, constraint and index of our tables, as PostgreSQL describes them.
CATALOG = """
SELECT 'column', c.relname, a.attname,
       concat_ws(' ', format_type(a.atttypid, a.atttypmod),
                 CASE WHEN a.attnotnull THEN 'NOT NULL' END,
                 CASE a.attidentity WHEN 'd' THEN 'IDENTITY BY DEFAULT'
                                    WHEN 'a' THEN 'IDENTITY ALWAYS' END,
                 CASE a.attgenerated WHEN 's' THEN 'GENERATED AS' END,
                 'DEFAULT ' || pg_get_expr(d.adbin, d.adrelid))
FROM pg_attribute AS a
JOIN pg_class AS c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
  AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint', c.relname, k.conname, pg_get_constraintdef(k.oid)
FROM pg_constraint AS k JOIN pg_class AS c ON c.oid = k.conrelid
WHERE c.relnamespace = 'public'::regnamespace
UNION ALL
SELECT 'index', tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT 'enum', '', t.typname, string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder)
FROM pg_enum AS e JOIN pg_type AS t ON t.oid = e.enumtypid
WHERE t.typnamespace = 'public'::regnamespace
GROUP BY t.typname
"""


def catalog(url: str) -> dict:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(CATALOG)).all()
    engine.dispose()
    return {(kind, table, name): what for kind, table, name, what in rows
            if table not in migrate.NOT_OURS}


def enum_types() -> dict[str, Enum]:
    """Return the PostgreSQL enum types the models name (they leave creating them to 0001)."""
    found = {}
    for table in Base.metadata.tables.values():
        for column in table.columns:
            kind = column.type.item_type if isinstance(column.type, ARRAY) else column.type
            if isinstance(kind, Enum):
                found[kind.name] = kind
    return found


def test_the_catalog_of_the_migrations_is_that_of_the_models(database_url, empty_database_url):
    engine = create_engine(empty_database_url)
    with engine.begin() as conn:
        for name, kind in enum_types().items():
            labels = ", ".join(f"'{label}'" for label in kind.enums)
            conn.execute(text(f"CREATE TYPE {name} AS ENUM ({labels})"))
        Base.metadata.create_all(conn)
    engine.dispose()
    migrated, modelled = catalog(database_url), catalog(empty_database_url)
    differences = {key: {"migrations": migrated.get(key), "models": modelled.get(key)}
                   for key in migrated.keys() | modelled.keys()
                   if migrated.get(key) != modelled.get(key)}
    assert not differences, pprint.pformat(differences, width=100)
