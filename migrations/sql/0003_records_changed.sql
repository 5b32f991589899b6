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
        IF EXISTS (SELECT to_jsonb(o) - 'remaining_m2' FROM old_rows AS o
                   EXCEPT SELECT to_jsonb(n) - 'remaining_m2' FROM new_rows AS n) THEN
            UPDATE data_version SET version = version + 1;
        END IF;
        IF NOT EXISTS (SELECT FROM tile_cache WHERE collection = 'hazards') THEN
            RETURN NULL;
        END IF;
        WITH before AS (
            SELECT to_jsonb(o) - 'remaining_m2' || jsonb_build_object('closed', o.remaining_m2 < 1)
                   AS image
            FROM old_rows AS o
        ), after AS (
            SELECT to_jsonb(n) - 'remaining_m2' || jsonb_build_object('closed', n.remaining_m2 < 1)
                   AS image
            FROM new_rows AS n
        ), changed AS (
            (SELECT image FROM before EXCEPT SELECT image FROM after)
            UNION ALL
            (SELECT image FROM after EXCEPT SELECT image FROM before)
        )
        DELETE FROM tile_cache AS c USING changed AS r
        WHERE c.collection = 'hazards' AND c.bounds && ST_GeomFromGeoJSON(r.image->'geom');
    ELSE
        UPDATE data_version SET version = version + 1;
        DELETE FROM tile_cache AS c
        USING (SELECT geom FROM old_rows UNION ALL SELECT geom FROM new_rows) AS r
        WHERE c.collection = TG_TABLE_NAME AND c.bounds && r.geom;
    END IF;
    RETURN NULL;
END
$$;
