"""Keep the pieces table current: the overlay of hazards and releases per grid cell.

Every hazard and release that counts for some report (not deleted, not rejected) is cut by the
0.05° grid and by the district borders; the linework of all of them, noded, is polygonized
into disjoint faces. Each face is covered by the same records throughout, so its attributes
(earliest hazard date, earliest release and its method) are found at one interior point, and
any report becomes a sum over pieces. Triggers mark the cells a write touches (see
migrations/sql/0002_accounting.sql); `refresh` recomputes only those.
"""

from itertools import islice

from sqlalchemy import Connection, text

from minemap.errors import AccountingStale

# Cells per statement: large enough to amortise planning, small enough to bound memory.
BATCH = 100
# One refresh at a time: two overlapping refreshes would each delete what the other cannot
# see yet and insert their own pieces twice.
LOCK_KEY = 0x6D696E65  # 'mine'

# Pieces written by one refresh past which their statistics are renewed.
ANALYZE_AFTER = 10_000

COUNTED = "deleted_at IS NULL AND review <> 'rejected'"

# The district a record is counted in for hazard counts and device totals: the one holding
# its point on surface; none (the `outside districts` row) when that lies in no district.
HOME = """(SELECT id FROM districts WHERE ST_Intersects(geom, ST_PointOnSurface({geom})) LIMIT 1)"""

BUILD = text(f"""
WITH cells AS (
    -- Most cells lie inside one district, whose faces then need no point-in-polygon test.
    SELECT c.cx, c.cy, c.box,
           (SELECT id FROM districts WHERE ST_Contains(geom, c.box) LIMIT 1) AS district_id
    FROM (SELECT cx, cy, minemap_cell_box(cx, cy) AS box
          FROM unnest(CAST(:cx AS integer[]), CAST(:cy AS integer[])) AS c (cx, cy)) AS c
),
cleared AS (
    DELETE FROM pieces AS p USING cells AS c WHERE p.cx = c.cx AND p.cy = c.cy
),
clipped AS (
    -- Each record's part of each cell; most records lie inside one cell and need no cutting.
    -- (Not `r.geom @ c.box`: bounding-box operators round to single precision.)
    SELECT k.*, ST_XMin(k.geom) AS x0, ST_XMax(k.geom) AS x1,
           ST_YMin(k.geom) AS y0, ST_YMax(k.geom) AS y1
    FROM (SELECT c.cx, c.cy, r.kind, r.id, r.day, r.method, r.review,
                 CASE WHEN ST_Contains(c.box, r.geom) THEN r.geom
                      ELSE ST_CollectionExtract(ST_Intersection(r.geom, c.box), 3) END AS geom
    FROM cells AS c,
         LATERAL (SELECT 'hazard' AS kind, id, recorded_on AS day,
                         CAST(NULL AS release_method) AS method, review, geom
                  FROM hazards WHERE geom && c.box AND {COUNTED}
                  UNION ALL
                  SELECT 'release', id, completed_on, method, review, geom
                  FROM releases WHERE geom && c.box AND {COUNTED}) AS r
    WHERE ST_Intersects(r.geom, c.box)) AS k
),
linework AS (
    SELECT cx, cy, ST_Boundary(geom) AS line FROM clipped
    UNION ALL
    -- District borders cut the faces too, so that each face lies in one district.
    SELECT c.cx, c.cy, ST_Intersection(ST_Boundary(d.geom), c.box)
    FROM cells AS c
    JOIN districts AS d ON d.geom && c.box AND c.district_id IS NULL
    WHERE EXISTS (SELECT FROM clipped AS k WHERE k.cx = c.cx AND k.cy = c.cy)
),
faces AS MATERIALIZED (
    -- ST_Union nodes the linework (lines cut where they cross), as polygonizing requires.
    SELECT f.*, ST_X(f.pt) AS x, ST_Y(f.pt) AS y
    FROM (SELECT n.cx, n.cy, f.path[1] AS n, f.geom, ST_PointOnSurface(f.geom) AS pt
          FROM (SELECT cx, cy, ST_Union(line) AS lines FROM linework GROUP BY cx, cy) AS n,
               ST_Dump(ST_Polygonize(ARRAY[n.lines])) AS f) AS f
),
covered AS (
    -- Each face with the records covering it, found at one interior point among the few
    -- records of its cell. Faces no record covers (gaps enclosed by records) drop out here.
    SELECT DISTINCT ON (f.cx, f.cy, f.n) f.cx, f.cy, f.geom, f.pt,
           array_agg(k.id) FILTER (WHERE k.kind = 'hazard') OVER face AS hazard_ids,
           min(k.day) FILTER (WHERE k.kind = 'hazard' AND k.review = 'approved') OVER face
               AS hazard_on,
           min(k.day) FILTER (WHERE k.kind = 'hazard') OVER face AS hazard_on_all,
           -- The earliest-completed release wins the piece; ties go to the lower id. Arrays
           -- compare element by element, so the least [day, id] is that release.
           min(ARRAY[k.day - DATE '2000-01-01', k.id])
               FILTER (WHERE k.kind = 'release' AND k.review = 'approved') OVER face AS release,
           min(ARRAY[k.day - DATE '2000-01-01', k.id]) FILTER (WHERE k.kind = 'release')
               OVER face AS release_all
    FROM faces AS f
    -- Bounding boxes compared as plain numbers first: far cheaper than any geometry call.
    JOIN clipped AS k ON k.cx = f.cx AND k.cy = f.cy AND f.x BETWEEN k.x0 AND k.x1
                     AND f.y BETWEEN k.y0 AND k.y1 AND ST_Intersects(k.geom, f.pt)
    WINDOW face AS (PARTITION BY f.cx, f.cy, f.n)
    ORDER BY f.cx, f.cy, f.n
)
INSERT INTO pieces (cx, cy, district_id, geom, area_m2, hazard_ids, hazard_on, hazard_on_all,
                    release_id, release_on, release_method,
                    release_id_all, release_on_all, release_method_all)
SELECT v.cx, v.cy,
       coalesce(c.district_id, (SELECT id FROM districts WHERE ST_Intersects(geom, v.pt) LIMIT 1)),
       v.geom, minemap_geodesic_area(v.geom), v.hazard_ids, v.hazard_on, v.hazard_on_all,
       r.id, r.completed_on, r.method, ra.id, ra.completed_on, ra.method
FROM covered AS v
JOIN cells AS c ON c.cx = v.cx AND c.cy = v.cy
LEFT JOIN releases AS r ON r.id = v.release[2]
LEFT JOIN releases AS ra ON ra.id = v.release_all[2]
""")

# Per hazard touching the recomputed cells: its own remaining area (approved releases, any
# date), the day it closed (minemap_hazard_closed) for each review view, and its home district.
STATUS = text(f"""
WITH cells AS (
    SELECT c.cx, c.cy, minemap_cell_box(c.cx, c.cy) AS box
    FROM unnest(CAST(:cx AS integer[]), CAST(:cy AS integer[])) AS c (cx, cy)
),
touched AS (
    SELECT h.id, h.geom FROM hazards AS h
    WHERE h.id IN (SELECT t.id FROM cells AS c JOIN hazards AS t ON ST_Intersects(t.geom, c.box))
),
shares AS (
    -- A hazard's pieces, also those in cells not recomputed now, by the day they were released.
    SELECT t.id AS hazard_id, s.view, s.released_on, sum(p.area_m2) AS area_m2
    FROM touched AS t
    JOIN pieces AS p ON p.geom && t.geom AND t.id = ANY(p.hazard_ids)
    CROSS JOIN LATERAL (VALUES ('approved', p.release_on), ('all', p.release_on_all))
        AS s (view, released_on)
    GROUP BY 1, 2, 3
),
left_after AS (
    -- What is left of the hazard after its land released on released_on: the land released
    -- later or never (nulls first, then the latest dates).
    SELECT hazard_id, view, released_on, area_m2,
           coalesce(sum(area_m2) OVER later, 0) AS left_m2
    FROM shares
    WINDOW later AS (PARTITION BY hazard_id, view ORDER BY released_on DESC NULLS FIRST
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
status AS (
    SELECT hazard_id,
           coalesce(sum(area_m2) FILTER (WHERE view = 'approved' AND released_on IS NULL), 0)
               AS remaining_m2,
           min(released_on) FILTER (WHERE view = 'approved' AND minemap_hazard_closed(left_m2))
               AS closed_on,
           min(released_on) FILTER (WHERE view = 'all' AND minemap_hazard_closed(left_m2))
               AS closed_on_all
    FROM left_after GROUP BY hazard_id
),
remaining AS (
    UPDATE hazards AS h SET remaining_m2 = s.remaining_m2
    FROM touched AS t LEFT JOIN status AS s ON s.hazard_id = t.id
    WHERE h.id = t.id AND h.remaining_m2 IS DISTINCT FROM s.remaining_m2
)
INSERT INTO hazard_accounting (hazard_id, district_id, closed_on, closed_on_all)
SELECT t.id, {HOME.format(geom='t.geom')}, s.closed_on, s.closed_on_all
FROM touched AS t LEFT JOIN status AS s ON s.hazard_id = t.id
ON CONFLICT (hazard_id) DO UPDATE SET district_id = EXCLUDED.district_id,
    closed_on = EXCLUDED.closed_on, closed_on_all = EXCLUDED.closed_on_all
""")

RELEASE_HOMES = text(f"""
INSERT INTO release_accounting (release_id, district_id)
SELECT r.id, {HOME.format(geom='r.geom')} FROM releases AS r
WHERE r.id IN (SELECT t.id
               FROM unnest(CAST(:cx AS integer[]), CAST(:cy AS integer[])) AS c (cx, cy)
               JOIN releases AS t ON ST_Intersects(t.geom, minemap_cell_box(c.cx, c.cy)))
ON CONFLICT (release_id) DO UPDATE SET district_id = EXCLUDED.district_id
""")

# Loading the districts marks the whole country dirty; cells with neither records nor pieces
# need nothing but forgetting.
DIRTY = text("""
SELECT d.cx, d.cy,
       EXISTS (SELECT FROM pieces AS p WHERE p.cx = d.cx AND p.cy = d.cy)
       OR EXISTS (SELECT FROM hazards WHERE geom && minemap_cell_box(d.cx, d.cy))
       OR EXISTS (SELECT FROM releases WHERE geom && minemap_cell_box(d.cx, d.cy)) AS busy
FROM dirty_cells AS d ORDER BY d.cx, d.cy
""")

# The remaining land of each district in the recomputed cells (the districts collection's
# figure is the sum of its cells').
CELLS_REMAINING = text("""
INSERT INTO cell_remaining (cx, cy, district_id, remaining_m2)
SELECT p.cx, p.cy, p.district_id, sum(p.area_m2)
FROM unnest(CAST(:cx AS integer[]), CAST(:cy AS integer[])) AS c (cx, cy)
JOIN pieces AS p ON p.cx = c.cx AND p.cy = c.cy
WHERE p.hazard_on IS NOT NULL AND p.release_on IS NULL AND p.district_id IS NOT NULL
GROUP BY p.cx, p.cy, p.district_id
""")

CELLS_FORGOTTEN = text("""
DELETE FROM cell_remaining AS r
USING unnest(CAST(:cx AS integer[]), CAST(:cy AS integer[])) AS c (cx, cy)
WHERE r.cx = c.cx AND r.cy = c.cy
""")

CLEAN = text("""
DELETE FROM dirty_cells AS d
USING unnest(CAST(:cx AS integer[]), CAST(:cy AS integer[])) AS c (cx, cy)
WHERE d.cx = c.cx AND d.cy = c.cy
""")

MARK_ALL = text("""
INSERT INTO dirty_cells (cx, cy)
SELECT c.cx, c.cy FROM (SELECT geom FROM hazards UNION ALL SELECT geom FROM releases) AS r,
                       minemap_cells(r.geom) AS c
UNION
SELECT cx, cy FROM pieces
ON CONFLICT DO NOTHING
""")


def _arrays(cells) -> dict:
    return {"cx": [c[0] for c in cells], "cy": [c[1] for c in cells]}


def stale_cells(conn: Connection) -> int:
    """Return how many cells the connection sees marked and not recomputed."""
    return conn.execute(text("SELECT count(*) FROM dirty_cells")).scalar_one()


def require_current(conn: Connection) -> None:
    """Refuse to answer from pieces that a committed write left behind (503).

    Writers refresh before they commit, so only a write outside minemap (SQL by hand)
    leaves cells marked; a report from them would be silently wrong.
    """
    if stale := stale_cells(conn):
        raise AccountingStale(f"{stale:,} grid cells were written and not recomputed; run "
                              "`minemap accounting refresh`")


def refresh(conn: Connection) -> int:
    """Recompute the pieces of the dirty cells, the hazards and districts on them.

    Every writer calls this in its own transaction before it commits, so that readers find
    the accounting current; returns how many cells it recomputed.
    """
    if not conn.execute(text("SELECT EXISTS (SELECT FROM dirty_cells)")).scalar_one():
        return 0
    # The order every writer locks in (store.writes.lock_writes): the data version's row,
    # which a writer holds already, then this refresh's lock, then the hazards it updates.
    conn.execute(text("SELECT 1 FROM data_version FOR UPDATE"))
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    # The planner cannot know how many cells a geometry touches and guesses costs high enough
    # to JIT-compile, which takes longer than the statements; off for this refresh only.
    jit = conn.execute(text("SELECT current_setting('jit')")).scalar_one()
    conn.execute(text("SELECT set_config('jit', 'off', true)"))
    cells = conn.execute(DIRTY).all()
    busy = [(c.cx, c.cy) for c in cells if c.busy]
    batches, added = iter(busy), 0
    while batch := list(islice(batches, BATCH)):
        added += conn.execute(BUILD, _arrays(batch)).rowcount
    if added > ANALYZE_AFTER:
        # Statistics from before a rebuild or a large import would make the planner scan
        # all pieces once per hazard below.
        conn.execute(text("ANALYZE pieces"))
    if busy:
        conn.execute(STATUS, _arrays(busy))
        conn.execute(RELEASE_HOMES, _arrays(busy))
        conn.execute(CELLS_FORGOTTEN, _arrays(busy))
        conn.execute(CELLS_REMAINING, _arrays(busy))
    conn.execute(CLEAN, _arrays(cells))
    conn.execute(text("SELECT set_config('jit', :jit, true)"), {"jit": jit})
    return len(cells)


def rebuild(conn: Connection) -> int:
    """Mark every cell with records or pieces dirty and recompute them all; return how many."""
    conn.execute(MARK_ALL)
    # New pieces have new ids: what was read before (ETags, cached tiles) no longer holds.
    conn.execute(text("UPDATE data_version SET version = version + 1"))
    return refresh(conn)
