"""Store many checked hazards or releases at once: staged by COPY, checked and inserted in SQL.

`stage` copies the records into a temporary table; `check` finds what the database refuses
(codes in use, unknown hazards) and what it only warns about (overlaps with stored hazards,
releases reaching beyond their hazard); `store` numbers the codes left blank and inserts the
records with their history in one statement. Nothing here commits.
"""

import numpy as np
import shapely
from sqlalchemy import Connection, text

from minemap.errors import Problem
from minemap.geo.fields import FIELDS
from minemap.geo.shapes import batches
from minemap.store import history
from minemap.store.records import Kind
from minemap.store.tokens import Principal
from minemap.vocab import HistoryAction, Review

STAGED = "minemap_staged"
# Coordinates per COPY write (as hex EWKB, 32 bytes each): bounds the text held at once.
COPY_COORDINATES = 500_000
NAMED = 5  # codes named in one warning
MIN_BEYOND_M2 = 1.0  # less than this outside its hazard is rounding, not a finding
ANALYZE_FROM = 1_000  # rows stored at once that may mislead the planner


# COPY's text format: \N is NULL, and backslashes and line and field separators are escaped.
_NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text_columns(kind: Kind, records: list[dict]) -> list[list[str]]:
    """Return the fields of `records` column by column, as COPY's text format reads them.

    str() writes dates as ISO dates and StrEnum members as their values; lists (the hazard
    types) are written as array literals. Column by column, since that is four times as
    fast as the csv module for the long hex geometries.
    """
    columns = []
    for name in FIELDS[kind.name]:
        values = [record.get(name) for record in records]
        if name == "hazard_types":
            values = ["{" + ",".join(value) + "}" if value else None for value in values]
        columns.append([_NULL if value is None else str(value).translate(_ESCAPES)
                        for value in values])
    return columns


def _homes(conn: Connection, geoms: np.ndarray) -> list[str | None]:
    """Return, for each geometry, the code of the district covering it, or None.

    A district covering a geometry holds all of it, so it is the district of largest overlap
    that a generated code names; the few geometries crossing a border are left to `_number`.
    This runs here because GEOS, with the districts prepared, takes about a microsecond per
    geometry, where PostGIS's ST_Covers, detoasting the district for every pair, takes fifteen.
    """
    rows = conn.execute(text("SELECT code, ST_AsBinary(geom) FROM districts ORDER BY code")).all()
    homes: list[str | None] = [None] * len(geoms)
    if not rows or not len(geoms):
        return homes
    districts = shapely.from_wkb([bytes(wkb) for _, wkb in rows])
    shapely.prepare(districts)
    mine, theirs = shapely.STRtree(districts).query(geoms)
    covered = shapely.covers(districts[theirs], geoms[mine])
    for index, district in zip(mine[covered].tolist(), theirs[covered].tolist()):
        homes[index] = rows[district][0]
    return homes


def stage(conn: Connection, kind: Kind, records: list[dict], *, indexes: list[int]) -> None:
    """Copy `records` (feature `indexes[i]` is `records[i]`) into the temporary table STAGED.

    The table takes its column types from `kind`'s table, so COPY itself parses the enums,
    arrays and dates; the geometry arrives as hex EWKB. Records without a code also get the
    parts of the code to generate: the district covering them (if one does) and the infix.
    """
    # Row estimates for spatial joins are guesses, high enough to JIT-compile, which takes
    # longer than the statements themselves. (A larger work_mem, which would keep the sorts
    # of 100,000 rows in memory, makes the OGC trigger on hazards pick a plan 30 times slower.)
    conn.execute(text("SELECT set_config('jit', 'off', true)"))
    conn.execute(text(f"DROP TABLE IF EXISTS {STAGED}"))
    conn.execute(text(f"""
        CREATE TEMPORARY TABLE {STAGED} ON COMMIT DROP AS
        SELECT {', '.join(kind.columns)}, geom FROM {kind.table.name} WITH NO DATA"""))
    conn.execute(text(f"""
        ALTER TABLE {STAGED} ADD COLUMN n integer, ADD COLUMN organisation text,
            ADD COLUMN hazard text, ADD COLUMN home text, ADD COLUMN infix text"""))
    fields = FIELDS[kind.name]
    geoms = np.array([record["geometry"] for record in records] or [], dtype=object)
    unnamed = [i for i, record in enumerate(records) if not record.get("code")]
    homes, infixes = [None] * len(records), [None] * len(records)
    for i, home in zip(unnamed, _homes(conn, geoms[unnamed])):
        homes[i], infixes[i] = home, kind.infix(records[i])
    columns = ", ".join(["n", *fields, "home", "infix", "geom"])
    with (conn.connection.driver_connection.cursor() as cursor,
          cursor.copy(f"COPY {STAGED} ({columns}) FROM STDIN") as copy):
        for run in batches(geoms, COPY_COORDINATES):
            wkb = shapely.to_wkb(shapely.set_srid(geoms[run], 4326), hex=True, include_srid=True)
            rows = zip(map(str, indexes[run]), *_text_columns(kind, records[run]),
                       [_NULL if h is None else h for h in homes[run]],
                       [_NULL if i is None else i for i in infixes[run]], wkb)
            copy.write("".join("\t".join(row) + "\n" for row in rows))
    # Otherwise the planner guesses the staged table's size when joining it.
    conn.execute(text(f"ANALYZE {STAGED}"))


def discard(conn: Connection) -> None:
    """Drop the staged records without storing them."""
    conn.execute(text(f"DROP TABLE IF EXISTS {STAGED}"))


# ---- checks ------------------------------------------------------------------------------

def _codes_in_use(conn: Connection, kind: Kind) -> list[Problem]:
    # Deleted records keep their codes: re-sending an imported file is refused, never doubled.
    rows = conn.execute(text(f"""
        SELECT s.n, s.code, t.id FROM {STAGED} AS s JOIN {kind.table.name} AS t USING (code)
        ORDER BY s.n"""))
    return [Problem(n, "duplicate_code", f"{kind.entity} code '{code}' is already in use "
                                         f"({kind.entity} {id_})") for n, code, id_ in rows]


def _unknown_hazards(conn: Connection) -> list[Problem]:
    """Resolve each staged release's hazard code to hazard_id; return the unknown ones."""
    conn.execute(text(f"""
        UPDATE {STAGED} AS s SET hazard_id = h.id FROM hazards AS h
        WHERE h.code = s.hazard AND h.deleted_at IS NULL"""))
    rows = conn.execute(text(f"""
        SELECT n, hazard FROM {STAGED} WHERE hazard IS NOT NULL AND hazard_id IS NULL
        ORDER BY n"""))
    return [Problem(n, "unknown_hazard", f"hazard '{code}' does not exist") for n, code in rows]


def _named(codes: list[str]) -> str:
    more = f" and {len(codes) - NAMED:,} more" if len(codes) > NAMED else ""
    return ", ".join(codes[:NAMED]) + more


def _overlaps(conn: Connection) -> list[Problem]:
    # Interiors meet: intersecting without only touching. ST_Intersects first, as it uses
    # the index and prepared geometries; ST_Touches then runs on the few that meet.
    rows = conn.execute(text(f"""
        SELECT s.n, array_agg(h.code ORDER BY h.code)
        FROM {STAGED} AS s
        JOIN hazards AS h ON ST_Intersects(h.geom, s.geom) AND NOT ST_Touches(h.geom, s.geom)
        WHERE h.deleted_at IS NULL AND h.review <> 'rejected'
        GROUP BY s.n ORDER BY s.n"""))
    return [Problem(n, "overlaps_existing",
                    f"overlaps the stored hazard{'s' if len(codes) > 1 else ''} {_named(codes)}")
            for n, codes in rows]


def _beyond(conn: Connection) -> list[Problem]:
    rows = conn.execute(text(f"""
        SELECT s.n, h.code, minemap_geodesic_area(ST_Difference(s.geom, h.geom))
        FROM {STAGED} AS s JOIN hazards AS h ON h.id = s.hazard_id
        WHERE NOT ST_CoveredBy(s.geom, h.geom)
        ORDER BY s.n"""))
    return [Problem(n, "beyond_hazard", f"reaches {outside:,.0f} m² beyond its hazard {code}")
            for n, code, outside in rows if outside >= MIN_BEYOND_M2]


def check(conn: Connection, kind: Kind) -> tuple[list[Problem], list[Problem]]:
    """Return the problems and warnings the stored records give the staged ones."""
    problems = _codes_in_use(conn, kind)
    if kind.name == "releases":
        problems += _unknown_hazards(conn)
        warnings = _beyond(conn)
    else:
        warnings = _overlaps(conn)
    return problems, warnings


# ---- storing -----------------------------------------------------------------------------

def _homes_across_borders(conn: Connection) -> None:
    """Settle the district of staged rows without a code that no district covers whole.

    As store/records.py decides it: the largest overlap by geodesic area, XX for none.
    """
    conn.execute(text(f"""
        UPDATE {STAGED} AS s SET home = coalesce((
            SELECT d.code FROM districts AS d
            WHERE ST_Intersects(d.geom, s.geom)
            ORDER BY ST_Area(geography(ST_Intersection(d.geom, s.geom))) DESC, d.code
            LIMIT 1), 'XX')
        WHERE s.code IS NULL AND s.home IS NULL"""))


def _snapshot(conn: Connection, kind: Kind) -> str:
    """Return SQL building from the row `written` what minemap_snapshot(to_jsonb(row)) does.

    Every column but geom by name (from the catalog, so that none is missed), and the
    geometry as GeoJSON. to_jsonb converts the geometry to GeoJSON and minemap_snapshot
    parses it and converts it again, at 0.7 ms a row: most of the time of a large import.
    The result is the same, since both round the coordinates to 9 decimals once.
    """
    names = conn.execute(text("""
        SELECT attname FROM pg_attribute
        WHERE attrelid = CAST(:table AS regclass) AND attnum > 0 AND NOT attisdropped
              AND attname <> 'geom'
        ORDER BY attnum"""), {"table": kind.table.name}).scalars().all()
    pairs = [f"'{name}', written.\"{name}\"" for name in names]
    pairs.append("'geometry', CAST(ST_AsGeoJSON(written.geom) AS jsonb)")
    # jsonb_build_object takes at most 100 arguments: build it 20 pairs at a time.
    return " || ".join(f"jsonb_build_object({', '.join(pairs[i:i + 20])})"
                       for i in range(0, len(pairs), 20))


def _insert_sql(kind: Kind, snapshot: str) -> str:
    """Return the statement numbering, inserting and logging the staged rows; ids by index."""
    table, columns = kind.table.name, ", ".join(kind.columns)
    values = ", ".join("c.code" if c == "code" else f"s.{c}" for c in kind.columns)
    return f"""
WITH prefixed AS (
    SELECT n, 'AZ-' || home || '-' || infix AS prefix FROM {STAGED} WHERE code IS NULL
),
used AS (
    -- Numbers continue the highest in use under each prefix: stored (deleted records too,
    -- as they keep their codes) or given in the file itself.
    SELECT m[1] AS prefix, max(CAST(m[2] AS numeric)) AS k
    FROM (SELECT code FROM {table} WHERE code LIKE 'AZ-%'
          UNION ALL SELECT code FROM {STAGED} WHERE code LIKE 'AZ-%') AS c,
         regexp_match(c.code, '^(.*)-([0-9]+)$') AS m
    WHERE m IS NOT NULL AND m[1] IN (SELECT prefix FROM prefixed)
    GROUP BY m[1]
),
coded AS MATERIALIZED (
    SELECT s.n, coalesce(s.code, p.prefix || '-' || (coalesce(u.k, 0)
           + row_number() OVER (PARTITION BY p.prefix ORDER BY s.n))) AS code
    FROM {STAGED} AS s LEFT JOIN prefixed AS p USING (n) LEFT JOIN used AS u USING (prefix)
),
written AS (
    INSERT INTO {table} ({columns}, organisation_id, geom, review)
    SELECT {values}, o.id, s.geom, CAST(:review AS review_state)
    FROM {STAGED} AS s JOIN coded AS c USING (n)
    JOIN organisations AS o ON o.name = s.organisation
    ORDER BY s.n
    RETURNING *),
logged AS (
    -- The rows store/history.py `logged` appends, with the faster snapshot.
    INSERT INTO history (entity, entity_id, action, version, token_id, actor, organisation_id,
                         reason, before, after)
    SELECT CAST(:entity AS text), written.id,
           CAST('{HistoryAction.create.value}' AS history_action), written.version,
           CAST(:token_id AS integer), CAST(:actor AS text),
           CAST(:actor_organisation_id AS integer), CAST(:reason AS text), NULL, {snapshot}
    FROM written)
SELECT w.id FROM written AS w JOIN coded AS c USING (code) ORDER BY c.n"""


def store(conn: Connection, kind: Kind, *, actor: Principal, review: Review) -> list[int]:
    """Insert the staged records with their history; return their ids by feature index.

    Codes left blank become AZ-<DISTRICT>-<INFIX>-<n>. The organisations the records name
    must exist, and `check` must have found no problems.
    """
    _homes_across_borders(conn)
    # The same locks as store/records.py takes, held to the end of the transaction, so that
    # no other writer takes the same numbers; sorted, so that two writers cannot deadlock.
    conn.execute(text(f"""
        SELECT pg_advisory_xact_lock(hashtextextended('minemap code ' || p, 0))
        FROM (SELECT DISTINCT 'AZ-' || home || '-' || infix AS p FROM {STAGED}
              WHERE code IS NULL ORDER BY p) AS sorted"""))
    ids = conn.execute(text(_insert_sql(kind, _snapshot(conn, kind))), {
        "review": review.value, **history.params(kind.entity, actor)}).scalars().all()
    discard(conn)
    if len(ids) >= ANALYZE_FROM:
        # The planner's statistics predate these rows: refreshing the accounting with them
        # took a minute for 10,000 hazards in a new database, and two seconds after this.
        # ANALYZE in the transaction counts its own new rows.
        conn.execute(text(f"ANALYZE {kind.table.name}"))
    return list(ids)
