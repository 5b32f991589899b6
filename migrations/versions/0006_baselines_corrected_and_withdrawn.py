"""Baselines that can be corrected and withdrawn, with history; absurd values refused.

Baselines gain a version, `updated_at` and `withdrawn_at` (a withdrawn baseline is kept but no
report uses it), and history entries of their own (entity 'baseline', action 'withdraw').

Stored baselines the new rules refuse are withdrawn, not deleted, each with a history entry
saying why: an area that is not a number, under 1 m² (the reports' resolution), over the
Earth's surface, or over the loaded units' geodesic area (the district's own for a district
baseline, the union of the loaded units for a national one); an `as_of` before 1990 or after
the day it was stored (or today). Labels are cleaned instead: control characters become
spaces, the label is trimmed to 200 characters, and the original stays in the history.
Baselines stored before this revision get a 'create' entry, so every baseline has a history.

Then CHECK constraints make the database itself refuse what the rules forbid in a baseline in
use; a withdrawn one keeps the values it had. The comparison with the units' area needs
other tables, so only minemap's writes check it.

The downgrade removes the baselines' history and the new columns: baselines withdrawn here
or since count again in reports, and cleaned labels stay cleaned.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ACTOR = "migration 0006"
# The limits of minemap.store.baselines, frozen here: a later change is a later revision.
FIRST_DAY = "DATE '1990-01-01'"
MIN_KM2 = "0.000001"  # 1 m²: reports count whole m²
EARTH_KM2 = "510065622"  # the WGS84 ellipsoid's surface
CONTROL = r"'[\u0001-\u001f\u007f-\u009f]'"  # C0, DEL and C1; PostgreSQL text has no NUL
LABEL_MAX = 200

ACTIONS_BEFORE = ("create", "update", "review", "delete")
ACTIONS_AFTER = (*ACTIONS_BEFORE, "withdraw")

# A timestamp's day in UTC: immutable, unlike a cast that follows the session's time zone.
# One day of slack: minemap's "today" is the server's local day, up to 14 h ahead of UTC.
STORED_DAY = "CAST(updated_at AT TIME ZONE 'UTC' AS date) + 1"

CHECKS = {
    "ck_baselines_area_plausible":
        f"withdrawn_at IS NOT NULL OR (area_km2 >= {MIN_KM2} AND area_km2 <= {EARTH_KM2})",
    "ck_baselines_as_of_plausible":
        f"withdrawn_at IS NOT NULL OR (as_of >= {FIRST_DAY} AND as_of <= {STORED_DAY})",
    "ck_baselines_label_printable":
        f"label = btrim(label) AND length(label) BETWEEN 1 AND {LABEL_MAX}"
        f" AND label !~ {CONTROL}",
}

# Why a stored baseline breaks the rules, or NULL when it does not. NaN is greater than every
# number in PostgreSQL, Infinity than every finite one, so the comparisons catch them.
UNITS = """
    (SELECT ST_Area(geography(ST_Union(geom))) / 1e6 FROM districts) AS country_km2,
    (SELECT d.area_m2 / 1e6 FROM districts AS d WHERE d.id = b.district_id) AS district_km2
"""
REASON = f"""concat_ws('; ',
    CASE WHEN b.area_km2 = 'NaN' OR b.area_km2 IN ('Infinity', '-Infinity')
         THEN 'area_km2 ' || b.area_km2 || ' is not a finite number'
         WHEN b.area_km2 < {MIN_KM2} THEN 'area_km2 ' || b.area_km2 || ' is under 1 m²'
         WHEN b.area_km2 > {EARTH_KM2}
         THEN 'area_km2 ' || b.area_km2 || ' exceeds the Earth''s surface'
         WHEN b.district_id IS NOT NULL AND b.area_km2 > u.district_km2
         THEN 'area_km2 ' || b.area_km2 || ' exceeds the district''s '
              || round(CAST(u.district_km2 AS numeric), 1) || ' km²'
         WHEN b.district_id IS NULL AND b.area_km2 > u.country_km2
         THEN 'area_km2 ' || b.area_km2 || ' exceeds the loaded districts'' '
              || round(CAST(u.country_km2 AS numeric), 1) || ' km²'
    END,
    CASE WHEN b.as_of < {FIRST_DAY} THEN 'as_of ' || b.as_of || ' is before 1990-01-01'
         WHEN b.as_of > current_date THEN 'as_of ' || b.as_of || ' is in the future'
         WHEN b.as_of > {STORED_DAY.replace('updated_at', 'b.updated_at')}
         THEN 'as_of ' || b.as_of || ' was in the future when it was stored, on '
              || CAST(b.created_at AT TIME ZONE 'UTC' AS date)
    END)"""


def _history(action: str, source: str, reason: str, at: str = "clock_timestamp()") -> str:
    """Return an INSERT of one history row per row of `source` (a baseline's columns)."""
    return f"""
INSERT INTO history (entity, entity_id, action, version, actor, reason, before, after, at)
SELECT 'baseline', s.id, CAST('{action}' AS history_action), s.version, '{ACTOR}', {reason},
       {"s.before" if action != "create" else "NULL"}, to_jsonb(s) - 'before' - 'why', {at}
FROM {source} AS s"""


def _recreate_actions(values: tuple[str, ...]) -> None:
    # A value added by ALTER TYPE ... ADD VALUE cannot be used before the transaction commits;
    # a type created in it can, so this revision may record withdrawals itself.
    listed = ", ".join(f"'{v}'" for v in values)
    op.execute("ALTER TYPE history_action RENAME TO history_action_old")
    op.execute(f"CREATE TYPE history_action AS ENUM ({listed})")
    op.execute("ALTER TABLE history ALTER COLUMN action TYPE history_action"
               " USING CAST(CAST(action AS text) AS history_action)")
    op.execute("DROP TYPE history_action_old")


def upgrade() -> None:
    op.execute("ALTER TABLE baselines"
               " ADD COLUMN version integer NOT NULL DEFAULT 1,"
               " ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),"
               " ADD COLUMN withdrawn_at timestamptz")
    op.execute("UPDATE baselines SET updated_at = created_at")
    op.execute("ALTER TABLE history DROP CONSTRAINT ck_history_entity")
    op.execute("ALTER TABLE history ADD CONSTRAINT ck_history_entity"
               " CHECK (entity IN ('hazard', 'release', 'baseline'))")
    _recreate_actions(ACTIONS_AFTER)

    op.execute(_history("create", "(SELECT b.*, NULL AS before, NULL AS why FROM baselines AS b)",
                        "'recorded before baselines kept a history'", at="s.created_at"))
    op.execute(f"""
WITH judged AS (
    SELECT b.id, {REASON} AS why, to_jsonb(b) AS before
    FROM baselines AS b CROSS JOIN LATERAL (SELECT {UNITS}) AS u
),
withdrawn AS (
    UPDATE baselines AS b SET withdrawn_at = now(), version = b.version + 1,
                              updated_at = now()
    FROM judged AS j WHERE j.id = b.id AND j.why <> ''
    RETURNING b.*, j.before, j.why
)
{_history("withdraw", "withdrawn", "'withdrawn: ' || s.why")}""")
    cleaned = (f"left(btrim(regexp_replace(label, {CONTROL}, ' ', 'g')), {LABEL_MAX})")
    op.execute(f"""
WITH prior AS (SELECT b.id, to_jsonb(b) AS before FROM baselines AS b),
cleaned AS (
    UPDATE baselines AS b
    SET label = coalesce(nullif(btrim({cleaned}), ''), 'baseline ' || b.id),
        version = b.version + 1, updated_at = now()
    FROM prior AS p
    WHERE p.id = b.id AND NOT ({CHECKS["ck_baselines_label_printable"]})
    RETURNING b.*, p.before, NULL AS why
)
{_history("update", "cleaned", "'label cleaned: control characters made spaces, "
                               f"trimmed to {LABEL_MAX} characters'")}""")
    for name, check in CHECKS.items():
        op.execute(f"ALTER TABLE baselines ADD CONSTRAINT {name} CHECK ({check})")


def downgrade() -> None:
    for name in CHECKS:
        op.execute(f"ALTER TABLE baselines DROP CONSTRAINT {name}")
    # History is append-only; this revision's part of it goes with the revision.
    op.execute("ALTER TABLE history DISABLE TRIGGER history_append_only")
    op.execute("DELETE FROM history WHERE entity = 'baseline'")
    op.execute("ALTER TABLE history ENABLE TRIGGER history_append_only")
    _recreate_actions(ACTIONS_BEFORE)
    op.execute("ALTER TABLE history DROP CONSTRAINT ck_history_entity")
    op.execute("ALTER TABLE history ADD CONSTRAINT ck_history_entity"
               " CHECK (entity IN ('hazard', 'release'))")
    op.execute("ALTER TABLE baselines DROP COLUMN withdrawn_at, DROP COLUMN updated_at,"
               " DROP COLUMN version")
