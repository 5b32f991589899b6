-- Revision 0004: as revision 0003, with cheaper row images for hazards (below).

-- After each statement writing hazards, releases or districts: bump the version, and drop the
-- cached tiles of that collection (named as the table) that the old or new rows touch.
-- Old and new rows are never joined: transition tables have no index, and a planner that
-- guesses wrong (an EXISTS favours a nested loop) makes that quadratic in the rows written.
-- JIT is off: transition tables have no statistics and compiling costs more than running.
CREATE OR REPLACE FUNCTION minemap_records_changed() RETURNS trigger
LANGUAGE plpgsql SET jit = off
AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE data_version SET version = version + 1;
        DELETE FROM tile_cache WHERE collection = TG_TABLE_NAME;
    ELSIF TG_OP = 'INSERT' THEN
        UPDATE data_version SET version = version + 1;
        DELETE FROM tile_cache AS c USING new_rows AS n
        WHERE c.collection = TG_TABLE_NAME AND c.bounds && n.geom;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE data_version SET version = version + 1;
        DELETE FROM tile_cache AS c USING old_rows AS o
        WHERE c.collection = TG_TABLE_NAME AND c.bounds && o.geom;
    ELSIF TG_TABLE_NAME = 'hazards' THEN
        -- refresh() caches remaining_m2, which follows from the records: caching it is no
        -- change of the data (and must not take the version lock, which writers take before
        -- refresh's lock), but a hazard whose status flips is drawn differently. A row image
        -- (without remaining_m2) found before but not after the statement is a real change.
        -- The images are the rows as text, where the geometry is hex EWKB: to_jsonb writes
        -- it as GeoJSON, ten times slower, and took most of the refresh after a large import.
        IF EXISTS (SELECT CAST(jsonb_populate_record(o, '{"remaining_m2": null}') AS text)
                   FROM old_rows AS o
                   EXCEPT SELECT CAST(jsonb_populate_record(n, '{"remaining_m2": null}') AS text)
                   FROM new_rows AS n) THEN
            UPDATE data_version SET version = version + 1;
        END IF;
        IF NOT EXISTS (SELECT FROM tile_cache WHERE collection = 'hazards') THEN
            RETURN NULL;
        END IF;
        WITH before AS (
            SELECT o.id, CAST(jsonb_populate_record(o, '{"remaining_m2": null}') AS text) AS image,
                   coalesce(o.remaining_m2 < 1, false) AS closed
            FROM old_rows AS o
        ), after AS (
            SELECT n.id, CAST(jsonb_populate_record(n, '{"remaining_m2": null}') AS text) AS image,
                   coalesce(n.remaining_m2 < 1, false) AS closed
            FROM new_rows AS n
        ), changed AS (
            SELECT id FROM (SELECT * FROM before EXCEPT SELECT * FROM after) AS gone
            UNION
            SELECT id FROM (SELECT * FROM after EXCEPT SELECT * FROM before) AS came
        )
        DELETE FROM tile_cache AS c
        USING (SELECT geom FROM old_rows WHERE id IN (SELECT id FROM changed)
               UNION ALL
               SELECT geom FROM new_rows WHERE id IN (SELECT id FROM changed)) AS r
        WHERE c.collection = 'hazards' AND c.bounds && r.geom;
    ELSE
        UPDATE data_version SET version = version + 1;
        DELETE FROM tile_cache AS c
        USING (SELECT geom FROM old_rows UNION ALL SELECT geom FROM new_rows) AS r
        WHERE c.collection = TG_TABLE_NAME AND c.bounds && r.geom;
    END IF;
    RETURN NULL;
END
$$;
