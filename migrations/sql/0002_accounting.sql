-- Land-release accounting: the grid that pieces are kept on, and the triggers that mark the
-- grid cells a write touched so that minemap.accounting.refresh() recomputes only those.

-- The box of grid cell (cx, cy): 0.05 degrees square. The integer is multiplied as numeric, so
-- neighbouring cells share exactly the same edge coordinates and their pieces tile exactly.
CREATE OR REPLACE FUNCTION minemap_cell_box(cx integer, cy integer) RETURNS geometry
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT ST_MakeEnvelope(cx * 0.05, cy * 0.05, (cx + 1) * 0.05, (cy + 1) * 0.05, 4326) $$;

-- The cells a geometry touches. Its box is widened by 1e-9 degrees (0.1 mm) because
-- floor(x / 0.05) may round to the wrong side of a cell edge; ST_Intersects then decides.
-- Not STRICT, so that PostgreSQL can inline it into the calling query.
CREATE OR REPLACE FUNCTION minemap_cells(g geometry) RETURNS TABLE (cx integer, cy integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT x, y
    FROM generate_series(floor((ST_XMin(g) - 1e-9) / 0.05)::integer,
                         floor((ST_XMax(g) + 1e-9) / 0.05)::integer) AS x,
         generate_series(floor((ST_YMin(g) - 1e-9) / 0.05)::integer,
                         floor((ST_YMax(g) + 1e-9) / 0.05)::integer) AS y
    WHERE ST_Intersects(g, minemap_cell_box(x, y))
$$;

-- Mark the cells of the rows a statement inserted or deleted, or whose geometry or another
-- column that accounting reads changed (not, say, a description or the cached remaining_m2).
-- JIT is off: the row estimates of minemap_cells are guesses, and compiling costs far more
-- than these statements take to run.
CREATE OR REPLACE FUNCTION minemap_mark_dirty() RETURNS trigger
LANGUAGE plpgsql SET jit = off
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO dirty_cells (cx, cy)
        SELECT DISTINCT c.cx, c.cy FROM new_rows AS n, minemap_cells(n.geom) AS c
        ORDER BY 1, 2
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO dirty_cells (cx, cy)
        SELECT DISTINCT c.cx, c.cy FROM old_rows AS o, minemap_cells(o.geom) AS c
        ORDER BY 1, 2
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END IF;
    -- An UPDATE. PL/pgSQL prepares each statement for the table it runs on, so each branch
    -- may name that table's own columns.
    IF TG_TABLE_NAME = 'hazards' THEN
        INSERT INTO dirty_cells (cx, cy)
        SELECT DISTINCT c.cx, c.cy
        FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id,
             LATERAL (SELECT * FROM minemap_cells(o.geom)
                      UNION SELECT * FROM minemap_cells(n.geom)) AS c
        WHERE (o.geom, o.recorded_on, o.review, o.deleted_at)
              IS DISTINCT FROM (n.geom, n.recorded_on, n.review, n.deleted_at)
        ORDER BY 1, 2
        ON CONFLICT DO NOTHING;
    ELSIF TG_TABLE_NAME = 'releases' THEN
        INSERT INTO dirty_cells (cx, cy)
        SELECT DISTINCT c.cx, c.cy
        FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id,
             LATERAL (SELECT * FROM minemap_cells(o.geom)
                      UNION SELECT * FROM minemap_cells(n.geom)) AS c
        WHERE (o.geom, o.completed_on, o.method, o.review, o.deleted_at)
              IS DISTINCT FROM (n.geom, n.completed_on, n.method, n.review, n.deleted_at)
        ORDER BY 1, 2
        ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO dirty_cells (cx, cy)
        SELECT DISTINCT c.cx, c.cy
        FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id,
             LATERAL (SELECT * FROM minemap_cells(o.geom)
                      UNION SELECT * FROM minemap_cells(n.geom)) AS c
        WHERE o.geom IS DISTINCT FROM n.geom
        ORDER BY 1, 2
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
