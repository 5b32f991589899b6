"""Draw Mapbox vector tiles with ST_AsMVT: each feature from zoom 10, generalised and cached below.

From DETAIL_ZOOM on, every feature touching the tile is in it with its id and attributes.
Below, a tile may hold tens of thousands of small polygons, more than any tile should carry,
yet none may be dropped: small features are drawn instead as the pixels they cover, merged
per group of attributes (a map styles by those) with the count of features in each group;
districts are simplified to a quarter pixel. These tiles take long enough to draw that each
server process keeps them (`Cache`) under the data version they were drawn at.
"""

import threading

from cachetools import LRUCache
from sqlalchemy import Connection, text
from sqlalchemy.dialects import postgresql

from minemap.ogc.collections import Collection
from minemap.ogc.features import during, require_current
from minemap.ogc.query import Days

TILE_MATRIX_SET = "WebMercatorQuad"
TILE_MATRIX_SET_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
MVT = "application/vnd.mapbox-vector-tile"
MAX_ZOOM = 22
DETAIL_ZOOM = 10
EXTENT = 4096  # tile units per side
BUFFER = 64  # tile units drawn beyond each edge, so that strokes join across tiles
CELL = 16  # tile units per pixel of a 256-pixel tile: the size of a low-zoom coverage cell

BOUNDS = f"""bounds AS (
    SELECT ST_TileEnvelope(:z, :x, :y) AS env,
           ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => {BUFFER / EXTENT}), 4326) AS box
)"""

# A feature too small for the tile's grid collapses in ST_AsMVTGeom; it is drawn as a square of
# two tile units at its point on surface instead, so that no feature goes missing.
MVT_GEOM = f"""coalesce(
    ST_AsMVTGeom({{geom}}, b.env, {EXTENT}, {BUFFER}, true),
    ST_AsMVTGeom(ST_Expand(ST_Transform(ST_PointOnSurface(t.geom), 3857),
                           (ST_XMax(b.env) - ST_XMin(b.env)) / {EXTENT}),
                 b.env, {EXTENT}, {BUFFER}, true))"""


def check(z: int, x: int, y: int) -> bool:
    """Whether (z, x, y) is a tile of WebMercatorQuad up to MAX_ZOOM."""
    return 0 <= z <= MAX_ZOOM and 0 <= x < 2 ** z and 0 <= y < 2 ** z


def _during(collection: Collection, days: Days) -> str:
    """Return the condition of `datetime` on `t` as SQL, its dates written in as literals
    (dates the request's parser made, never request text)."""
    condition = during(collection, days)
    return str(condition.compile(dialect=postgresql.dialect(),
                                 compile_kwargs={"literal_binds": True}))


def _features(collection: Collection, geom: str, fields: tuple[str, ...], days: Days) -> str:
    """Return the statement drawing each feature of the tile (with `geom` in EPSG:3857)."""
    columns = "".join(f"t.{name}, " for name in fields)
    return f"""
WITH {BOUNDS}
SELECT ST_AsMVT(f, :layer, {EXTENT}, 'geom', 'id') FROM (
    SELECT t.id, {columns}{MVT_GEOM.format(geom=geom)} AS geom
    FROM ({collection.source}) AS t, bounds AS b
    WHERE t.geom && b.box AND {_during(collection, days)}
) AS f WHERE f.geom IS NOT NULL"""


def _coverage(collection: Collection, days: Days) -> str:
    """Return the statement drawing the pixels covered by each group of features.

    A pixel is a cell of the 2^(z+8) grid of Web Mercator; a feature's cells come from its
    bounding box, which for a feature of a pixel or two is exact enough, and are checked
    against its geometry when it spans more. Cells are merged into runs along each row and
    the runs of a group make one MultiPolygon, in tile units, so no GEOS union is needed.
    """
    groups = ", ".join(collection.tile_groups)

    def of(alias: str) -> str:
        return ", ".join(f"{alias}.{g}" for g in collection.tile_groups)

    same = " AND ".join(f"f.{g} IS NOT DISTINCT FROM k.{g}" for g in collection.tile_groups)
    lat = "degrees(atan(sinh(pi() * (1 - 2 * {} / g.n))))"  # row edge → latitude
    # Row of a latitude: Web Mercator y, as the fraction of the world from the top.
    row = "floor((1 - asinh(tan(radians({}))) / pi()) / 2 * g.n)::integer"
    return f"""
WITH {BOUNDS},
grid AS (SELECT 256 * 2 ^ CAST(:z AS integer) AS n, 256 * :x AS x, 256 * :y AS y),
features AS MATERIALIZED (
    SELECT {of("t")}, t.geom,
           floor((ST_XMin(t.geom) + 180) / 360 * g.n)::integer AS x0,
           floor((ST_XMax(t.geom) + 180) / 360 * g.n)::integer AS x1,
           {row.format("ST_YMax(t.geom)")} AS y0, {row.format("ST_YMin(t.geom)")} AS y1
    FROM ({collection.source}) AS t, bounds AS b, grid AS g
    WHERE t.geom && b.box AND {_during(collection, days)}
),
-- The groups get numbers: the cells are sorted below, and integers sort fastest.
keys AS (
    SELECT k.*, row_number() OVER () AS key
    FROM (SELECT {groups}, count(*) AS count FROM features GROUP BY {groups}) AS k
),
shapes AS (SELECT k.key, f.* FROM features AS f JOIN keys AS k ON {same}),
cells AS (
    SELECT key, cx, cy FROM (
        -- Most features span a cell or two each way: their corners' cells are all they cover.
        SELECT key, c.cx, c.cy
        FROM shapes, LATERAL (VALUES (x0, y0, true), (x1, y0, x1 > x0), (x0, y1, y1 > y0),
                                     (x1, y1, x1 > x0 AND y1 > y0)) AS c (cx, cy, distinct_cell)
        WHERE x1 - x0 <= 1 AND y1 - y0 <= 1 AND c.distinct_cell
        UNION ALL
        SELECT key, cx, cy
        FROM shapes, grid AS g, generate_series(x0, x1) AS cx, generate_series(y0, y1) AS cy
        WHERE (x1 - x0 > 1 OR y1 - y0 > 1)
          AND ST_Intersects(geom, ST_MakeEnvelope(
                  cx / g.n * 360 - 180, {lat.format("(cy + 1)")},
                  (cx + 1) / g.n * 360 - 180, {lat.format("cy")}, 4326))
    ) AS c, grid AS g
    WHERE cx BETWEEN g.x - {BUFFER // CELL} AND g.x + {256 + BUFFER // CELL - 1}
      AND cy BETWEEN g.y - {BUFFER // CELL} AND g.y + {256 + BUFFER // CELL - 1}
    GROUP BY key, cy, cx  -- in the order the runs need, so that one sort serves both
),
runs AS (
    SELECT key, cy, min(cx) AS x0, max(cx) AS x1
    FROM (SELECT *, cx - row_number() OVER (PARTITION BY key, cy ORDER BY cx) AS run
          FROM cells) AS r
    GROUP BY key, cy, run
),
coverage AS (
    -- Outer rings have a positive area in tile units (y down), as MVT requires.
    SELECT key, ST_Collect(ST_ForcePolygonCCW(ST_MakeEnvelope(
               (x0 - g.x) * {CELL}, (cy - g.y) * {CELL}, (x1 + 1 - g.x) * {CELL}, (cy + 1 - g.y) * {CELL}))
               ORDER BY cy, x0) AS geom
    FROM runs, grid AS g GROUP BY key
)
SELECT ST_AsMVT(f, :layer, {EXTENT}, 'geom') FROM (
    SELECT {of("k")}, k.count, c.geom FROM coverage AS c JOIN keys AS k USING (key)
) AS f"""


def _simplified(collection: Collection, days: Days) -> str:
    # A quarter pixel (4 tile units) of tolerance, in Web Mercator metres.
    geom = ("ST_SimplifyPreserveTopology(ST_Transform(t.geom, 3857), "
            f"(ST_XMax(b.env) - ST_XMin(b.env)) / {EXTENT // 4})")
    return _features(collection, geom, collection.tile_fields, days)


def draw(conn: Connection, collection: Collection, z: int, x: int, y: int,
         days: Days = None) -> bytes:
    """Return the tile drawn from the current data (no cache), at `days` (`datetime`)."""
    if z >= DETAIL_ZOOM:
        statement = _features(collection, "ST_Transform(t.geom, 3857)", collection.tile_fields,
                              days)
    elif collection.tile_groups is None:
        statement = _simplified(collection, days)
    else:
        statement = _coverage(collection, days)
    data = conn.execute(text(statement), {"z": z, "x": x, "y": y, "layer": collection.id})
    return bytes(data.scalar_one() or b"")


class Cache:
    """The low-zoom tiles this process drew, each under the data version it was drawn at.

    Every write bumps the version and every restore renews its epoch (ogc.features.begin,
    migrations/sql/0008_reads_never_write.sql), so a tile is served from here only while
    nothing it was drawn from has changed; reading fills it without writing to the database. Bounded by the bytes it holds, least recently used out.
    """

    def __init__(self, max_bytes: int = 256 * 2**20):
        self._tiles = LRUCache(maxsize=max_bytes, getsizeof=lambda entry: len(entry[1]) + 64)
        self._lock = threading.Lock()  # handlers run in a thread pool

    def get(self, key: tuple, version: str) -> bytes | None:
        with self._lock:
            found = self._tiles.get(key)
        return found[1] if found is not None and found[0] == version else None

    def put(self, key: tuple, version: str, data: bytes) -> None:
        with self._lock:
            self._tiles[key] = (version, data)


def tile(conn: Connection, collection: Collection, z: int, x: int, y: int, *, version: str,
         cache: Cache, days: Days = None) -> bytes:
    """Return the tile (z, x, y) of the collection at data `version` and `days` (the
    request's `datetime`, as /items takes it), from `cache` if there.

    The caller reads `version` in the same snapshot as the tile is drawn from.
    """
    require_current(conn, collection)
    if z >= DETAIL_ZOOM or collection.submitted:  # reviewers' views are not cached
        return draw(conn, collection, z, x, y, days)
    key = (collection.id, z, x, y, days)
    data = cache.get(key, version)
    if data is None:
        data = draw(conn, collection, z, x, y, days)
        cache.put(key, version, data)
    return data


def fields(collection: Collection) -> dict[str, str]:
    """Return the attributes tiles carry, described for TileJSON's vector_layers."""
    kinds = {"string": "String", "date": "String", "number": "Number", "integer": "Number",
             "array": "String"}
    described = {name: kinds[collection.field[name].kind] for name in collection.tile_fields}
    if collection.tile_groups is not None:
        described["count"] = (f"Number: below zoom {DETAIL_ZOOM}, features are merged per "
                              f"{', '.join(collection.tile_groups)}; how many in the tile")
    return described
