-- Revision 0008 undone: revision 0003's caches filled by reads, and their triggers.
-- (minemap_records_changed goes back to revision 0004's, applied from its own file.)

DROP TABLE cell_remaining;
ALTER TABLE data_version DROP COLUMN epoch;

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

CREATE TRIGGER pieces_ogc_insert AFTER INSERT ON pieces REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION minemap_pieces_changed();
CREATE TRIGGER pieces_ogc_delete AFTER DELETE ON pieces REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION minemap_pieces_changed();
CREATE TRIGGER pieces_ogc_update AFTER UPDATE ON pieces REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION minemap_pieces_changed();
CREATE TRIGGER pieces_ogc_truncate AFTER TRUNCATE ON pieces
    FOR EACH STATEMENT EXECUTE FUNCTION minemap_pieces_changed();

DROP FUNCTION minemap_hazard_status(double precision);
DROP FUNCTION minemap_hazard_closed(double precision);
