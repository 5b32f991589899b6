-- Revision 0008: reads never write.
--
-- Writers refresh the accounting in their own transaction (accounting.refresh), which keeps
-- each district's remaining land too; a read only sums what is committed. Low-zoom tiles are
-- cached by each server process under the data version (ogc/tiles.py), so the triggers here
-- only bump the version, and the table of cached tiles goes.

-- A hazard is closed once less than 1 m² of it remains unreleased (CONTRACT §4). Written
-- once, here; SQL language and immutable, so the planner inlines it.
CREATE FUNCTION minemap_hazard_closed(remaining_m2 double precision) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN remaining_m2 < 1;

CREATE FUNCTION minemap_hazard_status(remaining_m2 double precision) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN minemap_hazard_closed(remaining_m2) THEN 'closed' ELSE 'active' END;

-- After each statement writing hazards, releases or districts: bump the version.
-- JIT is off: transition tables have no statistics and compiling costs more than running.
CREATE OR REPLACE FUNCTION minemap_records_changed() RETURNS trigger
LANGUAGE plpgsql SET jit = off
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'hazards' THEN
        -- refresh() keeps remaining_m2, which follows from the records and so is no change
        -- of the data (nor may it take the version lock, which writers take before
        -- refresh's lock). A row image without it, found before but not after the statement,
        -- is a real change. The images are the rows as text, where the geometry is hex EWKB
        -- (to_jsonb would write GeoJSON, ten times slower).
        IF NOT EXISTS (SELECT CAST(jsonb_populate_record(o, '{"remaining_m2": null}') AS text)
                       FROM old_rows AS o
                       EXCEPT SELECT CAST(jsonb_populate_record(n, '{"remaining_m2": null}') AS text)
                       FROM new_rows AS n) THEN
            RETURN NULL;
        END IF;
    END IF;
    UPDATE data_version SET version = version + 1;
    RETURN NULL;
END
$$;

-- A restore puts back the dump's version, which a running server may have cached tiles at:
-- the epoch, renewed by each restore, tells the two apart.
ALTER TABLE data_version ADD COLUMN epoch uuid NOT NULL DEFAULT gen_random_uuid();

DROP TRIGGER pieces_ogc_insert ON pieces;
DROP TRIGGER pieces_ogc_delete ON pieces;
DROP TRIGGER pieces_ogc_update ON pieces;
DROP TRIGGER pieces_ogc_truncate ON pieces;
DROP FUNCTION minemap_pieces_changed();
DROP TABLE tile_cache;

-- The remaining land of each district in each grid cell, as the approved pieces give it:
-- refresh() rewrites the rows of the cells it recomputes, and a district's remaining land is
-- the sum of its few hundred rows. (district_remaining kept a sum per data version, filled by
-- the first read at that version.)
DROP TABLE district_remaining;
CREATE TABLE cell_remaining (
    cx integer NOT NULL,
    cy integer NOT NULL,
    district_id integer NOT NULL REFERENCES districts (id) ON DELETE CASCADE,
    remaining_m2 double precision NOT NULL,
    PRIMARY KEY (cx, cy, district_id)
);
INSERT INTO cell_remaining (cx, cy, district_id, remaining_m2)
SELECT p.cx, p.cy, p.district_id, sum(p.area_m2)
FROM pieces AS p JOIN districts AS d ON d.id = p.district_id
WHERE p.hazard_on IS NOT NULL AND p.release_on IS NULL
GROUP BY p.cx, p.cy, p.district_id;
