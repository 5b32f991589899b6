"""Write checked records of any kind: stage, check against what is stored, store with history.

Every write of a record takes this path, one record or a hundred thousand: `stage` copies the
records into a temporary table by COPY; `check` finds what the database refuses (codes in
use, unknown references) and what it only warns about (overlaps with stored records of the
kind, reaching beyond the record referenced); `store` numbers the codes left blank and
inserts the records with their history in one statement, `store_change` applies a PATCH.
`change` deletes or reviews one record. Nothing here commits or refreshes the accounting.
"""

import numpy as np
import shapely
from sqlalchemy import Connection, text

from minemap.db.models import table_of
from minemap.errors import Problem
from minemap.geo.shapes import batches
from minemap.kinds import KINDS, KindSpec
from minemap.store import history
from minemap.store.access import visible_sql
from minemap.store.tokens import Principal
from minemap.vocab import HistoryAction, Review

STAGED = "minemap_staged"
# Coordinates per COPY write (as hex EWKB, 32 bytes each): bounds the text held at once.
COPY_COORDINATES = 500_000
NAMED = 5  # codes named in one warning
MIN_BEYOND_M2 = 1.0  # less than this outside its hazard is rounding, not a finding
ANALYZE_FROM = 1_000  # rows stored at once that may mislead the planner
HOMES_IN_PYTHON_FROM = 100  # records without codes from which `_homes` reads the districts


# COPY's text format: \N is NULL, and backslashes and line and field separators are escaped.
_NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text_columns(kind: KindSpec, records: list[dict]) -> list[list[str]]:
    """Return the fields of `records` column by column, as COPY's text format reads them.

    str() writes dates as ISO dates and StrEnum members as their values; lists (the hazard
    types) are written as array literals. Column by column, since that is four times as
    fast as the csv module for the long hex geometries.
    """
    columns = []
    for field in kind.fields:
        values = [record.get(field.name) for record in records]
        if field.is_list:
            values = ["{" + ",".join(value) + "}" if value else None for value in values]
        columns.append([_NULL if value is None else str(value).translate(_ESCAPES)
                        for value in values])
    return columns


def _homes(conn: Connection, geoms: np.ndarray) -> list[str | None]:
    """Return, for each geometry, the code of the district covering it, or None.

    A district covering a geometry holds all of it, so it is the district of largest overlap
    that a generated code names; the few geometries crossing a border are left to
    `_homes_across_borders`. This runs here because GEOS, with the districts prepared, takes
    about a microsecond per geometry, where PostGIS's ST_Covers, detoasting the district for
    every pair, takes fifteen; but reading and preparing the districts costs more than a few
    records save, so a small write leaves them all to SQL.
    """
    if len(geoms) < HOMES_IN_PYTHON_FROM:
        return [None] * len(geoms)
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


def lock_writes(conn: Connection) -> None:
    """Take the data version's row, which every write of a record takes, before any other.

    Every writer then locks in one order: this row, code numbers, the accounting's advisory
    lock, record rows. A change that locked its record first could wait for a writer whose
    accounting refresh waits for that record (PostgreSQL would abort one of them).
    """
    conn.execute(text("SELECT 1 FROM data_version FOR UPDATE"))


def stage(conn: Connection, kind: KindSpec, records: list[dict], *, indexes: list[int],
          own_id: int | None = None) -> None:
    """Copy `records` (feature `indexes[i]` is `records[i]`) into the temporary table STAGED.

    The table takes its column types from `kind`'s table, so COPY itself parses the enums,
    arrays and dates; the geometry arrives as hex EWKB. Records without a code also get the
    parts of the code to generate: the district covering them (if one does) and the infix.
    `own_id` is the stored record a single staged change is to (a PATCH): its geometry is
    kept when the change gives none, and checks do not hold it against itself.
    """
    table = table_of(kind)
    # Row estimates for spatial joins are guesses, high enough to JIT-compile, which takes
    # longer than the statements themselves. (A larger work_mem, which would keep the sorts
    # of 100,000 rows in memory, makes the OGC trigger on hazards pick a plan 30 times slower.)
    conn.execute(text("SELECT set_config('jit', 'off', true)"))
    conn.execute(text(f"DROP TABLE IF EXISTS {STAGED}"))
    conn.execute(text(f"""
        CREATE TEMPORARY TABLE {STAGED} ON COMMIT DROP AS
        SELECT id, {', '.join(kind.columns)}, geom FROM {table.name} WITH NO DATA"""))
    # The fields as written: the organisation's and each reference's code.
    named = [f.name for f in kind.fields if f.name == "organisation" or f.reference]
    conn.execute(text(f"""
        ALTER TABLE {STAGED} ADD COLUMN n integer,
            {''.join(f'ADD COLUMN {name} text, ' for name in named)}
            ADD COLUMN home text, ADD COLUMN infix text"""))
    geoms = np.array([record["geometry"] for record in records] or [], dtype=object)
    unnamed = [i for i, record in enumerate(records) if not record.get("code")]
    homes, infixes = [None] * len(records), [None] * len(records)
    for i, home in zip(unnamed, _homes(conn, geoms[unnamed])):
        homes[i], infixes[i] = home, kind.infix(records[i])
    columns = ", ".join(["n", *kind.inputs, "home", "infix", "geom"])
    with (conn.connection.driver_connection.cursor() as cursor,
          cursor.copy(f"COPY {STAGED} ({columns}) FROM STDIN") as copy):
        for run in batches(geoms, COPY_COORDINATES):
            wkb = shapely.to_wkb(shapely.set_srid(geoms[run], 4326), hex=True, include_srid=True)
            rows = zip(map(str, indexes[run]), *_text_columns(kind, records[run]),
                       [_NULL if h is None else h for h in homes[run]],
                       [_NULL if i is None else i for i in infixes[run]],
                       [_NULL if w is None else w for w in wkb])
            copy.write("".join("\t".join(row) + "\n" for row in rows))
    if own_id is not None:
        conn.execute(text(f"""
            UPDATE {STAGED} AS s SET id = t.id, geom = coalesce(s.geom, t.geom)
            FROM {table.name} AS t WHERE t.id = :id"""), {"id": own_id})
    # Otherwise the planner guesses the staged table's size when joining it.
    conn.execute(text(f"ANALYZE {STAGED}"))


def discard(conn: Connection) -> None:
    """Drop the staged records without storing them."""
    conn.execute(text(f"DROP TABLE IF EXISTS {STAGED}"))


# ---- checks ------------------------------------------------------------------------------

def _codes_in_use(conn: Connection, kind: KindSpec, reader: Principal) -> list[Problem]:
    # Deleted records keep their codes: re-sending an imported file is refused, never doubled.
    # A record the writer may not see is not named by its id.
    rows = conn.execute(text(f"""
        SELECT s.n, s.code, CASE WHEN {visible_sql("t", reader)} THEN t.id END
        FROM {STAGED} AS s JOIN {kind.name} AS t USING (code)
        WHERE t.id IS DISTINCT FROM s.id
        ORDER BY s.n"""))
    return [Problem(n, "duplicate_code", f"{kind.entity} code '{code}' is already in use"
                                         + (f" ({kind.entity} {id_})" if id_ else ""))
            for n, code, id_ in rows]


def _unknown_references(conn: Connection, kind: KindSpec) -> list[Problem]:
    """Resolve each staged reference (a release's hazard code) to an id; name unknown ones."""
    problems = []
    for field in kind.references:
        other = KINDS[field.reference]
        conn.execute(text(f"""
            UPDATE {STAGED} AS s SET {field.column} = r.id FROM {other.name} AS r
            WHERE r.code = s.{field.name} AND r.deleted_at IS NULL"""))
        rows = conn.execute(text(f"""
            SELECT n, {field.name} FROM {STAGED}
            WHERE {field.name} IS NOT NULL AND {field.column} IS NULL ORDER BY n"""))
        problems += [Problem(n, f"unknown_{other.entity}", f"{other.entity} '{code}' does not "
                                                           "exist") for n, code in rows]
    return problems


def _named(codes: list[str]) -> str:
    more = f" and {len(codes) - NAMED:,} more" if len(codes) > NAMED else ""
    return ", ".join(codes[:NAMED]) + more


def _overlaps(conn: Connection, kind: KindSpec, reader: Principal) -> list[Problem]:
    # Interiors meet: intersecting without only touching. ST_Intersects first, as it uses
    # the index and prepared geometries; ST_Touches then runs on the few that meet. Only
    # records the writer may see are named.
    rows = conn.execute(text(f"""
        SELECT s.n, array_agg(t.code ORDER BY t.code)
        FROM {STAGED} AS s
        JOIN {kind.name} AS t ON ST_Intersects(t.geom, s.geom) AND NOT ST_Touches(t.geom, s.geom)
        WHERE t.deleted_at IS NULL AND t.review <> 'rejected' AND t.id IS DISTINCT FROM s.id
          AND {visible_sql("t", reader)}
        GROUP BY s.n ORDER BY s.n"""))
    return [Problem(n, "overlaps_existing", f"overlaps the stored {kind.entity}"
                                            f"{'s' if len(codes) > 1 else ''} {_named(codes)}")
            for n, codes in rows]


def _beyond(conn: Connection, kind: KindSpec) -> list[Problem]:
    """Name the staged records reaching beyond the record they reference (by 1 m² or more)."""
    warnings = []
    for field in kind.references:
        other = KINDS[field.reference]
        rows = conn.execute(text(f"""
            SELECT s.n, r.code, minemap_geodesic_area(ST_Difference(s.geom, r.geom))
            FROM {STAGED} AS s JOIN {other.name} AS r ON r.id = s.{field.column}
            WHERE NOT ST_CoveredBy(s.geom, r.geom)
            ORDER BY s.n"""))
        warnings += [Problem(n, f"beyond_{other.entity}", f"reaches {outside:,.0f} m² beyond "
                                                          f"its {other.entity} {code}")
                     for n, code, outside in rows if outside >= MIN_BEYOND_M2]
    return warnings


def check(conn: Connection, kind: KindSpec, reader: Principal
          ) -> tuple[list[Problem], list[Problem]]:
    """Return the problems and warnings the stored records give the staged ones, as
    `reader` (the writer) may see them."""
    problems = _codes_in_use(conn, kind, reader) + _unknown_references(conn, kind)
    warnings = _overlaps(conn, kind, reader) if kind.warn_overlaps else []
    return problems, warnings + _beyond(conn, kind)


# ---- storing -----------------------------------------------------------------------------

def _homes_across_borders(conn: Connection) -> None:
    """Settle the district of the staged rows without a code whose district `_homes` left
    open: the largest overlap by geodesic area, XX for none."""
    conn.execute(text(f"""
        UPDATE {STAGED} AS s SET home = coalesce((
            SELECT d.code FROM districts AS d
            WHERE ST_Intersects(d.geom, s.geom)
            ORDER BY ST_Area(geography(ST_Intersection(d.geom, s.geom))) DESC, d.code
            LIMIT 1), 'XX')
        WHERE s.code IS NULL AND s.home IS NULL"""))


def _snapshot(conn: Connection, kind: KindSpec) -> str:
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
        ORDER BY attnum"""), {"table": kind.name}).scalars().all()
    pairs = [f"'{name}', written.\"{name}\"" for name in names]
    pairs.append("'geometry', CAST(ST_AsGeoJSON(written.geom) AS jsonb)")
    # jsonb_build_object takes at most 100 arguments: build it 20 pairs at a time.
    return " || ".join(f"jsonb_build_object({', '.join(pairs[i:i + 20])})"
                       for i in range(0, len(pairs), 20))


def _insert_sql(kind: KindSpec, snapshot: str) -> str:
    """Return the statement numbering, inserting and logging the staged rows; ids by index."""
    table, columns = kind.name, ", ".join(kind.columns)
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


def store(conn: Connection, kind: KindSpec, *, actor: Principal, review: Review) -> list[int]:
    """Insert the staged records with their history; return their ids by feature index.

    Codes left blank become AZ-<DISTRICT>-<INFIX>-<n>. The organisations the records name
    must exist, and `check` must have found no problems.
    """
    lock_writes(conn)
    _homes_across_borders(conn)
    # Held to the end of the transaction, so that no other writer takes the same numbers;
    # sorted, so that two writers cannot deadlock.
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
        conn.execute(text(f"ANALYZE {kind.name}"))
    return list(ids)


def store_change(conn: Connection, kind: KindSpec, *, version: int, actor: Principal,
                 review: Review) -> bool:
    """Apply the one staged change (see `stage`'s own_id) to its record, if it is still at
    `version`; a changed record is submitted again or approved as `review` says."""
    sets = ", ".join(f"{c} = s.{c}" for c in kind.columns)
    changed = conn.execute(text(f"""
WITH prior AS (SELECT t.* FROM {kind.name} AS t JOIN {STAGED} AS s ON s.id = t.id),
written AS (
    UPDATE {kind.name} AS t
    SET {sets}, organisation_id = o.id, geom = s.geom, review = CAST(:review AS review_state),
        review_reason = NULL, version = t.version + 1, updated_at = now()
    FROM {STAGED} AS s JOIN organisations AS o ON o.name = s.organisation
    WHERE t.id = s.id AND t.version = :version AND t.deleted_at IS NULL
    RETURNING t.*),
{history.logged(HistoryAction.update, prior=True)}
SELECT id FROM written"""), {"version": version, "review": review.value,
                             **history.params(kind.entity, actor)}).scalar_one_or_none()
    discard(conn)
    return changed is not None


def change(conn: Connection, kind: KindSpec, record_id: int, *, version: int,
           action: HistoryAction, actor: Principal, review: Review | None = None,
           reason: str | None = None) -> bool:
    """Delete (softly: it stays, with its history) or review one record at `version`.

    A review decides a submission once: it changes only a submitted record. Returns whether
    the record changed.
    """
    if action is HistoryAction.delete:
        sets, guard = "deleted_at = now()", ""
    elif action is HistoryAction.review:
        sets = "review = CAST(:review AS review_state), review_reason = CAST(:reason AS text)"
        guard = "AND t.review = 'submitted'"
    else:
        raise ValueError(f"change deletes or reviews, not {action}")
    changed = conn.execute(text(f"""
WITH prior AS (SELECT * FROM {kind.name} WHERE id = :id),
written AS (
    UPDATE {kind.name} AS t SET {sets}, version = t.version + 1, updated_at = now()
    WHERE t.id = :id AND t.version = :version AND t.deleted_at IS NULL {guard}
    RETURNING t.*),
{history.logged(action, prior=True)}
SELECT id FROM written"""), {"id": record_id, "version": version,
                             "review": review.value if review else None,
                             **history.params(kind.entity, actor, reason)}).scalar_one_or_none()
    return changed is not None
