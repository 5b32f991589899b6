-- Geodesic area on the WGS84 ellipsoid in m², for any geometry in EPSG:4326.
CREATE OR REPLACE FUNCTION minemap_geodesic_area(g geometry) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT ST_Area(geography(g), true) $$;

-- Refuse any UPDATE or DELETE: used to keep the history table append-only.
CREATE OR REPLACE FUNCTION minemap_refuse_change() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;

-- A record as history keeps it: every column, with the geometry as GeoJSON.
CREATE OR REPLACE FUNCTION minemap_snapshot(r jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT (r - 'geom') || jsonb_build_object('geometry', ST_AsGeoJSON((r->>'geom')::geometry)::jsonb) $$;
