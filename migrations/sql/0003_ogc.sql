-- What the OGC layers need to stay current and fast: a data version for ETags, and a cache of
-- generalised low-zoom vector tiles that writes invalidate.

-- One counter for every record table. Writers bump it in their own transaction, so a reader
-- sees the version that goes with the data it sees. One row rather than one per table: a
-- transaction writing hazards then releases would otherwise lock two rows in an order another
-- transaction may reverse. The row lock is taken at a writer's first write and held to its
-- commit; accounting.refresh() never takes it (see below), so the writers' order, this row
-- then refresh's advisory lock, is the only order anyone takes both in.
CREATE TABLE data_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version bigint NOT NULL DEFAULT 1
);
INSERT INTO data_version DEFAULT VALUES;

-- Finished low-zoom tiles (zooms where one tile holds too many features to draw one by one).
-- `bounds` is the tile with its buffer, in EPSG:4326, for finding the tiles a write touches.
CREATE TABLE tile_cache (
    collection text NOT NULL,
    z smallint NOT NULL,
    x integer NOT NULL,
    y integer NOT NULL,
    bounds geometry(Polygon, 4326) NOT NULL,
    mvt bytea NOT NULL,
    PRIMARY KEY (collection, z, x, y)
);
CREATE INDEX ix_tile_cache_bounds ON tile_cache USING gist (bounds);

-- Remaining land per district at a data version, filled by the first read of the districts
-- collection at that version (a sum over all pieces costs too much to repeat per request).
CREATE TABLE district_remaining (
    version bigint NOT NULL,
    district_id integer NOT NULL,
    remaining_m2 double precision NOT NULL,
    PRIMARY KEY (version, district_id)
);

-- The pieces follow from the records (refresh() rewrites them), so they bump no version; the
-- cached tiles of the `remaining` collection they touch are dropped.
CREATE OR REPLACE FUNCTION minemap_pieces_changed() RETURNS trigger
LANGUAGE plpgsql SET jit = off
AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM tile_cache WHERE collection = 'remaining';
    ELSIF TG_OP = 'INSERT' THEN
        DELETE FROM tile_cache AS c USING new_rows AS n
        WHERE c.collection = 'remaining' AND c.bounds && n.geom;
    ELSIF TG_OP = 'DELETE' THEN
        DELETE FROM tile_cache AS c USING old_rows AS o
        WHERE c.collection = 'remaining' AND c.bounds && o.geom;
    ELSE
        DELETE FROM tile_cache AS c
        USING (SELECT geom FROM old_rows UNION ALL SELECT geom FROM new_rows) AS r
        WHERE c.collection = 'remaining' AND c.bounds && r.geom;
    END IF;
    RETURN NULL;
END
$$;
