"""Vector tiles decoded as a map would: every feature present, low zooms cached and current.

Tile maths (Web Mercator tile coordinates) are written out here, independently of minemap.
"""

import datetime as dt
import math

import mapbox_vector_tile
import pytest
import shapely
from shapely.geometry import box, shape

from minemap import accounting
from minemap.ogc import features
# The same world of hazards and releases as test_ogc's, built once for this module too.
from test_ogc import Hazard, Release, area, client, load, square, world  # noqa: F401

MVT = "application/vnd.mapbox-vector-tile"
EXTENT, BUFFER = 4096, 64


def fraction(lon: float, lat: float, z: int) -> tuple[float, float]:
    """Return the position in tiles (x to the east, y to the south) at zoom z."""
    n = 2 ** z
    return ((lon + 180) / 360 * n,
            (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def lon_lat(fx: float, fy: float, z: int) -> tuple[float, float]:
    n = 2 ** z
    return fx / n * 360 - 180, math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * fy / n))))


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    fx, fy = fraction(lon, lat, z)
    return int(fx), int(fy)


def buffered_box(z: int, x: int, y: int) -> shapely.Polygon:
    """The tile with its buffer, in longitude/latitude."""
    margin = BUFFER / EXTENT
    west, north = lon_lat(x - margin, y - margin, z)
    east, south = lon_lat(x + 1 + margin, y + 1 + margin, z)
    return box(west, south, east, north)


def in_tile_units(geom, z: int, x: int, y: int):
    """Return a lon/lat geometry in the tile's units (0..4096, y down)."""
    def convert(xy):
        out = xy.copy()
        for i, (lon, lat) in enumerate(xy):
            fx, fy = fraction(lon, lat, z)
            out[i] = ((fx - x) * EXTENT, (fy - y) * EXTENT)
        return out
    return shapely.transform(geom, convert)


def decode(data: bytes) -> dict:
    return mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})


def outer_rings_are_positive(data: bytes) -> bool:
    """Whether each polygon's first ring has a positive area in tile units, as MVT 2.1 says.

    Read from the protobuf commands themselves: decoders repair winding silently.
    """
    from mapbox_vector_tile.Mapbox import vector_tile_pb2

    tile = vector_tile_pb2.tile()
    tile.ParseFromString(data)
    for layer in tile.layers:
        for feature in layer.features:
            x = y = 0
            rings, ring, i, geometry = [], [], 0, list(feature.geometry)
            while i < len(geometry):
                command, count = geometry[i] & 7, geometry[i] >> 3
                i += 1
                if command == 7:  # ClosePath
                    rings.append(ring)
                    continue
                for _ in range(count):
                    dx, dy = geometry[i], geometry[i + 1]
                    x += (dx >> 1) ^ -(dx & 1)
                    y += (dy >> 1) ^ -(dy & 1)
                    i += 2
                    ring = [(x, y)] if command == 1 else ring + [(x, y)]
            areas = [sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(r, r[1:] + r[:1]))
                     for r in rings]
            # Rings with a negative area are holes of the polygon before them.
            if areas and areas[0] <= 0:
                return False
    return True


def fetch(client, collection: str, z: int, x: int, y: int, **headers):
    return client.get(f"/ogc/collections/{collection}/tiles/WebMercatorQuad/{z}/{y}/{x}",
                      headers=headers)


def test_a_detailed_tile_holds_every_feature_touching_it(client, world):
    centre = world.visible()[9].geom.centroid
    z = 13
    x, y = tile_of(centre.x, centre.y, z)
    response = fetch(client, "hazards", z, x, y)
    assert response.status_code == 200 and response.headers["content-type"] == MVT
    assert outer_rings_are_positive(response.content)
    layer = decode(response.content)["hazards"]
    expected = {h.id: h for h in world.visible() if h.geom.intersects(buffered_box(z, x, y))}
    assert len(expected) >= 2
    got = {f["id"]: f for f in layer["features"]}
    assert set(got) == set(expected)
    for fid, feature in got.items():
        spec = expected[fid]
        assert feature["properties"] == {"code": spec.code, "classification": spec.classification,
                                         "status": world.status(spec), "review": "approved"}
        drawn = shape(feature["geometry"])
        where = in_tile_units(spec.geom, z, x, y).intersection(
            box(-BUFFER, -BUFFER, EXTENT + BUFFER, EXTENT + BUFFER))
        # Snapped to whole tile units: within a unit of the hazard's outline.
        assert drawn.symmetric_difference(where).area < where.length * 1.5 + 4


def test_a_low_zoom_tile_covers_every_feature_with_counts_per_group(client, world):
    z = 8
    centre = world.visible()[0].geom.centroid
    x, y = tile_of(centre.x, centre.y, z)
    response = fetch(client, "hazards", z, x, y)
    assert response.status_code == 200 and len(response.content) < 250_000
    assert outer_rings_are_positive(response.content)
    layer = decode(response.content)["hazards"]
    groups = {(f["properties"]["classification"], f["properties"]["status"]): f
              for f in layer["features"]}
    assert all(f["properties"]["review"] == "approved" for f in layer["features"])
    near = [h for h in world.visible() if h.geom.intersects(buffered_box(z, x, y))]
    expected = {}
    for h in near:
        key = (h.classification, world.status(h))
        expected[key] = expected.get(key, 0) + 1
    assert {k: f["properties"]["count"] for k, f in groups.items()} == expected
    for h in near:
        covered = shape(groups[(h.classification, world.status(h))]["geometry"])
        inside = in_tile_units(h.geom.representative_point(), z, x, y)
        assert covered.buffer(1e-6).contains(inside), h.code
        # A hazard is drawn as the pixels it covers: never more than a pixel beyond it.
        assert in_tile_units(h.geom, z, x, y).buffer(16 * 1.5).intersects(covered)


def test_low_zoom_tiles_are_cached_until_a_write_touches_them(client, world):
    z = 9
    spot = world.visible()[12].geom.centroid
    x, y = tile_of(spot.x, spot.y, z)

    def cached() -> int:
        """How many copies of the tile, drawn from the current data, the server holds."""
        with world.engine.connect() as conn:
            version = features.begin(conn)
        return int(client.app.state.tiles.get(("hazards", z, x, y, None), version) is not None)

    def total(data: bytes) -> int:
        return sum(f["properties"]["count"] for f in decode(data)["hazards"]["features"])

    first = fetch(client, "hazards", z, x, y)
    assert cached() == 1
    tag = first.headers["etag"]
    assert fetch(client, "hazards", z, x, y, **{"If-None-Match": tag}).status_code == 304
    assert fetch(client, "hazards", z, x, y).content == first.content

    new = Hazard("AZ-AGM-CHA-900", square(spot.x + 0.006, spot.y + 0.006, 0.001), "CHA", ["AP"],
                 dt.date(2023, 2, 1), "ANAMA")
    with world.engine.begin() as conn:
        load(conn, [new], [])
    world.hazards.append(new)
    assert cached() == 0
    second = fetch(client, "hazards", z, x, y, **{"If-None-Match": tag})
    assert second.status_code == 200 and second.headers["etag"] != tag
    assert total(second.content) == total(first.content) + 1

    # Clearing it flips its status: the cached tile goes, the new one draws it closed.
    clearance = Release("R-TILE", new.geom.buffer(0.0002, join_style="mitre"), "cleared",
                        dt.date(2023, 5, 1))
    with world.engine.begin() as conn:
        load(conn, [], [clearance])
        accounting.refresh(conn)
    world.releases.append(clearance)
    third = decode(fetch(client, "hazards", z, x, y).content)["hazards"]["features"]
    closed = [f for f in third if f["properties"]["classification"] == "CHA"
              and f["properties"]["status"] == "closed"]
    assert closed and closed[0]["properties"]["count"] >= 1
    assert shape(closed[0]["geometry"]).buffer(1e-6).contains(
        in_tile_units(new.geom.centroid, z, x, y))


def test_districts_and_remaining_tiles(client, world):
    z = 6
    centre = world.district_shapes["AZ-AGM"].representative_point()
    x, y = tile_of(centre.x, centre.y, z)
    layer = decode(fetch(client, "districts", z, x, y).content)["districts"]
    names = {f["properties"]["iso_3166_2"]: f for f in layer["features"]}
    assert set(names) == {"AZ-AGM", "AZ-AGC"}
    drawn = shape(names["AZ-AGM"]["geometry"])
    expected = in_tile_units(world.district_shapes["AZ-AGM"], z, x, y)
    # Simplified to a quarter pixel (4 units): the areas agree to a few per cent.
    assert drawn.area == pytest.approx(expected.area, rel=0.05)

    z = 9
    remaining = shapely.union_all([h.geom for h in world.visible()]).difference(world.released())
    spot = remaining.representative_point()
    x, y = tile_of(spot.x, spot.y, z)
    layer = decode(fetch(client, "remaining", z, x, y).content)["remaining"]
    aghdam = [f for f in layer["features"] if f["properties"]["district"] == "Aghdam"]
    assert aghdam and shape(aghdam[0]["geometry"]).buffer(1e-6).contains(
        in_tile_units(spot, z, x, y))
    z = 14
    x, y = tile_of(spot.x, spot.y, z)
    pieces = decode(fetch(client, "remaining", z, x, y).content)["remaining"]["features"]
    drawn = shapely.union_all([shape(f["geometry"]) for f in pieces])
    assert drawn.buffer(1).contains(in_tile_units(spot, z, x, y))


def test_tiles_at_a_date_draw_what_there_was_then(client, world):
    """`datetime` selects as /items does: the hazards recorded by then, the land remaining."""
    first = world.visible()[0]  # the earliest hazard; cleared whole on 2022-03-01
    spot = first.geom.difference(shapely.union_all(
        [h.geom for h in world.visible()[1:]])).representative_point()
    z = 14
    x, y = tile_of(spot.x, spot.y, z)

    def drawn(collection: str, day: str | None) -> list[dict]:
        response = client.get(f"/ogc/collections/{collection}/tiles/WebMercatorQuad/{z}/{y}/{x}",
                              params={} if day is None else {"datetime": day})
        assert response.status_code == 200, response.text
        return decode(response.content).get(collection, {"features": []})["features"]

    def covers(features: list[dict]) -> bool:
        return any(shape(f["geometry"]).buffer(1).contains(in_tile_units(spot, z, x, y))
                   for f in features)

    assert covers(drawn("remaining", "2022-02-28"))
    assert not covers(drawn("remaining", "2022-03-01"))
    assert not covers(drawn("remaining", None))
    assert not covers(drawn("remaining", "2018-12-31"))  # before it was recorded
    assert not drawn("releases", "../2022-02-28") and drawn("releases", "../2022-03-01")
    codes = {f["properties"]["code"] for f in drawn("hazards", f"../{first.recorded_on}")}
    assert codes == {first.code}
    # Low zooms too, each date drawn apart from the others.
    z = 9
    x, y = tile_of(spot.x, spot.y, z)
    early = decode(client.get(f"/ogc/collections/hazards/tiles/WebMercatorQuad/{z}/{y}/{x}",
                              params={"datetime": f"../{first.recorded_on}"}).content)
    now = decode(fetch(client, "hazards", z, x, y).content)
    assert sum(f["properties"]["count"] for f in early["hazards"]["features"]) == 1
    assert sum(f["properties"]["count"] for f in now["hazards"]["features"]) > 1
    bad = client.get(f"/ogc/collections/hazards/tiles/WebMercatorQuad/{z}/{y}/{x}",
                     params={"datetime": "2023-13-01"})
    assert bad.status_code == 400 and "datetime" in bad.json()["detail"]


def test_tilejson_and_tileset_list_point_at_the_tiles(client, world):
    doc = client.get("/ogc/collections/hazards/tiles/WebMercatorQuad").json()
    template = doc["tiles"][0]
    assert template.endswith("/ogc/collections/hazards/tiles/WebMercatorQuad/{z}/{y}/{x}")
    layer = doc["vector_layers"][0]
    assert layer["id"] == "hazards" and {"classification", "status", "review", "count"} <= set(
        layer["fields"])
    bounds = shapely.union_all([h.geom for h in world.visible()]).bounds
    assert doc["bounds"] == pytest.approx(list(bounds), abs=1e-9)
    url = template.format(z=12, x=tile_of(*doc["center"][:2], 12)[0],
                          y=tile_of(*doc["center"][:2], 12)[1])
    assert client.get(url).status_code == 200
    tilesets = client.get("/ogc/collections/hazards/tiles").json()["tilesets"]
    assert tilesets[0]["tileMatrixSetURI"].endswith("/WebMercatorQuad")
    assert any(link["rel"] == "item" and link["type"] == MVT for link in tilesets[0]["links"])


def test_empty_and_impossible_tiles(client):
    empty = fetch(client, "hazards", 12, 0, 0)
    assert empty.status_code == 200 and empty.content == b""
    assert fetch(client, "hazards", 3, 8, 0).status_code == 404
    assert fetch(client, "hazards", 23, 0, 0).status_code == 404
    assert fetch(client, "nothing", 3, 0, 0).status_code == 404


def test_tiny_features_are_not_dropped_at_detail_zooms(client, world):
    """A hazard smaller than a tile unit is drawn as a speck rather than lost."""
    spot = world.visible()[20].geom.centroid
    speck = Hazard("AZ-AGM-SHA-901", square(spot.x + 0.0081, spot.y + 0.0081, 0.00001), "SHA",
                   ["AP"], dt.date(2023, 3, 1), "HALO")
    with world.engine.begin() as conn:
        load(conn, [speck], [])
        accounting.refresh(conn)
    world.hazards.append(speck)
    assert area(speck.geom) < 10
    z = 10
    x, y = tile_of(speck.geom.centroid.x, speck.geom.centroid.y, z)
    layer = decode(fetch(client, "hazards", z, x, y).content)["hazards"]
    assert speck.id in {f["id"] for f in layer["features"]}
