"""Seeded generator of SYNTHETIC sample data for minemap: hazard areas and land releases.

Nothing here is real survey data. The shapes, codes, dates and device counts are invented
with a fixed seed so that the output is byte-identical on every run; only the orders of
magnitude follow the published Azerbaijani figures (national baseline ~11,667 km²,
~2,100 km² released by the end of 2025), so that the tracker can be exercised on data of
a realistic size and with realistic awkwardness (overlapping hazards, hazards crossing
district borders, releases sticking out of their hazard, releases with no hazard).

Run from the repository root:  .venv/bin/python data/sample_polygons/generate.py

1. Hazards: a Voronoi tessellation of the 13 Karabakh / East Zangezur units whose seeds are
   dense near the former line of contact (small cells -> CHA) and sparse far from it (large
   cells -> SHA). Each cell becomes an irregular star-shaped blob whose radius wobbles
   around the cell's own, so neighbours overlap a little and some gaps open.
2. Releases: hazards picked at random are cut into Voronoi pieces and some pieces are
   released; a few are shifted to stick out of their hazard and a few are hazard-free
   construction sites near towns.
3. Completion dates come from inverting a cumulative released-area curve fitted to the
   published figures, applied to each release's *marginal* area inside the hazard union.
4. A verification table is computed afresh from the written files.
"""
import datetime as dt
import json
import pathlib

import numpy as np
import shapely
from pyproj import Geod, Transformer
from shapely import affinity
from shapely.geometry import MultiPoint, Point, Polygon, shape
from shapely.ops import polylabel

SEED = 20201110
HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TARGETS = ("AZ-AGM", "AZ-FUZ", "AZ-CAB", "AZ-ZAN", "AZ-QBI", "AZ-LAC", "AZ-KAL", "AZ-SUS",
           "AZ-XCI", "AZ-XVD", "AZ-TAR", "AZ-XA")
# Former line of contact (1994-2020), approximate, ends pulled inside Tartar and Fuzuli.
FRONT = [(46.60, 40.30), (46.80, 40.22), (46.95, 40.10), (47.02, 39.95), (47.05, 39.80),
         (47.10, 39.65), (47.25, 39.50), (47.32, 39.43)]
TOWNS = {"Aghdam": (46.93, 39.99), "Fuzuli": (47.14, 39.60), "Jabrayil": (47.03, 39.40),
         "Zangilan": (46.655, 39.085), "Gubadly": (46.58, 39.345), "Lachin": (46.55, 39.64),
         "Kalbajar": (46.04, 40.105), "Shusha": (46.75, 39.76), "Khankendi": (46.76, 39.82),
         "Khojaly": (46.79, 39.91), "Hadrut": (46.98, 39.52), "Khojavend": (47.11, 39.79),
         "Tartar": (46.93, 40.345)}
TYPES = ["AP", "AT", "UXO", "AXO", "CMR", "IED"]
ORGS = ["ANAMA", "MoD Engineering Troops", "MES", "Azerbaijan Demining Company", "MAG",
        "APOPO", "IEPF"]
ORG_P = [0.36, 0.26, 0.08, 0.14, 0.05, 0.04, 0.07]
LAND_USE = ["agriculture", "housing", "transport", "energy", "water", "environment", "other"]
# Cumulative km² released inside hazards. Published: ~55 by 2021-10-31, ~530 during 2023,
# ~1,660 by 2024-10-31, ~1,800 by 2025-03-31; the other points are smooth guesses.
CURVE = [("2021-01-10", 0), ("2021-10-31", 55), ("2021-12-31", 80), ("2022-12-31", 420),
         ("2023-12-31", 950), ("2024-10-31", 1660), ("2024-12-31", 1715),
         ("2025-03-31", 1800), ("2025-12-31", 2100)]
RELEASE_TARGET_KM2 = 2100
METHOD_P = {"SHA": [0.54, 0.30, 0.16], "CHA": [0.10, 0.30, 0.60]}  # cancelled/reduced/cleared
DEVICE_DENSITY = {"AP": 80, "AT": 30, "UXO": 100, "AXO": 20, "CMR": 20}  # per km² cleared
# Lambert azimuthal equal-area around Karabakh: metres for shaping, areas ~ geodesic.
_LAEA = "+proj=laea +lat_0=39.7 +lon_0=46.8 +datum=WGS84 +units=m"
_FWD = Transformer.from_crs("EPSG:4326", _LAEA, always_xy=True)
_INV = Transformer.from_crs(_LAEA, "EPSG:4326", always_xy=True)
day = dt.date.fromisoformat


def to_m(g, tr=_FWD):
    return shapely.transform(g, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def to_ll(g):
    return to_m(g, _INV)


def parts(g):
    return [p for p in shapely.get_parts(g) if p.geom_type == "Polygon" and not p.is_empty]


def largest(g):
    ps = parts(g)
    return max(ps, key=lambda p: p.area) if ps else None


def nverts(p):
    return len(p.exterior.coords) - 1


def load_districts():
    path = ROOT / "data/districts/azerbaijan_districts.geojson"
    if not path.exists():
        path = ROOT.parent / "shared/data/azerbaijan_districts.geojson"
    out = []
    for f in json.loads(path.read_text())["features"]:
        p = f["properties"]
        iso = p["iso_3166_2"] or "AZ-SUS"  # Shusha city has no ISO 3166-2 code
        target = iso in TARGETS and bool(p["karabakh_ez_2021"])
        # densify first: a 20 km border edge straight in lon/lat bows metres away from the
        # straight edge in metres; clip masks 1 m inside the border absorb the remaining cm
        # so hazards stay inside their district after reprojection and rounding
        g = to_m(shape(f["geometry"]).segmentize(0.01))
        out.append(dict(name=p["name"], suffix=iso.split("-")[1], target=target, geom=g,
                        mask=g.buffer(-1.0, join_style="mitre") if target else None))
    return out


def blob(cell, rng, wobble=0.09, bias=1.05):
    """Star-shaped irregular polygon: radius = distance from the cell's centre to its boundary
    times smooth noise; >1 bulges into neighbours (overlaps), <1 leaves gaps."""
    c = cell.centroid if cell.contains(cell.centroid) else polylabel(cell, 5.0)
    n = int(rng.integers(11, 29))
    # jittered but strictly increasing angles keep the star polygon simple (valid)
    ang = (np.arange(n) + rng.uniform(-0.3, 0.3, n)) * 2 * np.pi / n + rng.uniform(0, 2 * np.pi)
    dirs = np.column_stack([np.cos(ang), np.sin(ang)])
    x0, y0, x1, y1 = cell.bounds
    o = np.array([c.x, c.y])
    rays = shapely.linestrings(np.stack([np.tile(o, (n, 1)), o + 2 * (x1 - x0 + y1 - y0) * dirs], 1))
    r = shapely.distance(c, shapely.intersection(rays, cell.boundary))
    r = np.where(np.isfinite(r), r, np.nanmedian(r))
    f = bias + rng.normal(0, 0.025, n)
    for k in (1, 2, 3):
        f += wobble / k * np.sin(k * ang + rng.uniform(0, 2 * np.pi))
    return Polygon(o + np.maximum(r * f, 5.0)[:, None] * dirs)


def clip(poly, mask, lo=8, hi=40):
    """Largest part of poly inside mask with lo..hi vertices (simplify if needed), else None."""
    g = largest(poly.intersection(mask))
    tol = 15.0
    while g is not None and nverts(g) > hi and tol < 2000:
        g = largest(g.simplify(tol).intersection(mask))
        tol *= 2
    return g if g is not None and lo <= nverts(g) <= hi else None


def split_in_two(p, rng):
    """MultiPolygon of two parts: cut a thin strip through the middle (e.g. a road)."""
    c, a, s = p.centroid, rng.uniform(0, np.pi), np.sqrt(p.area)
    line = shapely.LineString([(c.x - 3 * s * np.cos(a), c.y - 3 * s * np.sin(a)),
                               (c.x + 3 * s * np.cos(a), c.y + 3 * s * np.sin(a))])
    ps = parts(p.difference(line.buffer(0.04 * s, cap_style="flat")))
    ok = len(ps) == 2 and min(q.area for q in ps) > 0.2 * p.area and min(map(nverts, ps)) >= 8
    return shapely.MultiPolygon(ps) if ok else p


def punch_hole(p, rng):
    """Polygon with a hole (an excluded village or lake) around its inner-most point."""
    c = polylabel(p, 5.0)
    hole = blob(Point(c).buffer(0.12 * np.sqrt(p.area), quad_segs=4), rng, wobble=0.1, bias=0.9)
    return p.difference(hole) if p.buffer(-0.03 * np.sqrt(p.area)).contains(hole) else p


def rounded(g):
    """Geometry -> GeoJSON dict with 6-decimal lon/lat and CCW exteriors, or None if invalid."""
    g = shapely.orient_polygons(shapely.set_precision(to_ll(g), 1e-6))
    polys = parts(g)
    rings = [[[[round(x, 6), round(y, 6)] for x, y in r.coords] for r in (p.exterior, *p.interiors)]
             for p in polys]
    if not rings:
        return None
    geo = ({"type": "Polygon", "coordinates": rings[0]} if len(rings) == 1
           else {"type": "MultiPolygon", "coordinates": rings})
    back = shape(geo)
    return geo if back.is_valid and not back.is_empty else None


def pick(rng, items, p):
    return items[int(rng.choice(len(items), p=np.asarray(p) / np.sum(p)))]


def near_town(pt):
    """(name, distance m, compass direction from town) of the nearest town."""
    best = min((pt.distance(t), n, t) for n, t in TOWN_M.items())
    a = np.degrees(np.arctan2(pt.x - best[2].x, pt.y - best[2].y)) % 360
    return best[1], best[0], ["N", "NE", "E", "SE", "S", "SW", "W", "NW"][int((a + 22.5) // 45) % 8]


def hazard_types(rng, cls, d_front, d_town):
    if cls == "CHA" and d_front < 7000:  # the old front: minefields
        t = ["AT"] if rng.random() < 0.12 else ["AP"] + (["AT"] if rng.random() < 0.55 else [])
        t += ["UXO"] if rng.random() < 0.2 else []
    elif d_town < 3500:  # towns: shelled and cluster-bombed in 2020
        t = ["UXO"] + (["CMR"] if rng.random() < 0.5 else []) + (["AXO"] if rng.random() < 0.3 else [])
    else:
        k = int(rng.integers(1, 4))
        t = list(rng.choice(["UXO", "AP", "AXO", "CMR", "AT"], k, replace=False,
                            p=[0.35, 0.25, 0.15, 0.15, 0.10]))
    t += ["IED"] if rng.random() < 0.015 else []
    return [x for x in TYPES if x in t]


def make_hazards(rng, districts):
    targets = [d for d in districts if d["target"]]
    region, region_mask = REGION, REGION.buffer(-1.0, join_style="mitre")
    x0, y0, x1, y1 = region.bounds
    seeds = []
    while len(seeds) < 3100:  # thinning: cell density falls off away from the front
        xy = rng.uniform([x0, y0], [x1, y1], (5000, 2))
        d = shapely.distance(FRONT_M, shapely.points(xy))
        keep = (shapely.contains_xy(region, xy[:, 0], xy[:, 1])
                & (rng.random(5000) < 0.045 + np.exp(-d / 4500)))
        seeds.extend(map(tuple, xy[keep]))
    cells = shapely.voronoi_polygons(MultiPoint(seeds[:3100]), extend_to=region).geoms
    hazards = []
    for cell in cells:
        hits = [d for d in targets if d["geom"].intersects(cell)]
        # a few cells keep their district-crossing shape; the rest are split per district
        if len(hits) > 1 and rng.random() < 0.12:
            pieces = [(p, region_mask) for p in parts(cell.intersection(region))]
        else:
            pieces = [(p, d["mask"]) for d in hits for p in parts(cell.intersection(d["geom"]))]
        for piece, mask in pieces:
            if piece.area < 0.03e6 or rng.random() < 0.13:  # slivers, and gaps in the coverage
                continue
            poly = clip(blob(piece, rng), mask)
            if poly is None:
                continue
            if nverts(poly) >= 22 and rng.random() < 0.03:
                poly = split_in_two(poly, rng)
            elif poly.area > 0.3e6 and rng.random() < 0.01:
                poly = punch_hole(poly, rng)
            hazards.append(dict(geom=poly))
    for h in hazards:
        c = h["geom"].representative_point()
        d_front = c.distance(FRONT_M)
        town, d_town, way = near_town(c)
        # CHA: confirmed minefields along the front, battle areas in towns, a few elsewhere
        cha = (d_front < 6500 and rng.random() < 0.9) or (d_town < 2500 and rng.random() < 0.5)
        cls = "CHA" if cha or rng.random() < 0.04 else "SHA"
        h.update(cls=cls, types=hazard_types(rng, cls, d_front, d_town), org=pick(rng, ORGS, ORG_P),
                 d_town=d_town, district=max(targets, key=lambda d: d["geom"].intersection(h["geom"]).area))
        era = rng.choice(3, p=[0.62, 0.25, 0.13])  # most were recorded right after the war
        lo, hi = [("2020-12-01", "2021-06-30"), ("2021-07-01", "2022-12-31"),
                  ("2023-01-01", "2025-06-30")][era]
        h["recorded"] = day(lo) + dt.timedelta(int(rng.integers(0, (day(hi) - day(lo)).days + 1)))
        label = ("Suspected hazardous area" if cls == "SHA" else
                 "Confirmed minefield" if {"AP", "AT"} & set(h["types"]) else "Confirmed battle area")
        h["desc"] = f"{label} ({', '.join(h['types'])}), {d_town / 1000:.0f} km {way} of {town}" + \
            (", former line of contact" if d_front < 2500 else "")
    return hazards


def carve(h, rng):
    """Cut a hazard into non-overlapping Voronoi pieces of a typical release size."""
    size = rng.lognormal(np.log(1.6e6 if h["cls"] == "SHA" else 0.45e6), 0.5)
    k = int(np.clip(round(h["geom"].area / size), 1, 40))
    if k == 1:
        return parts(h["geom"])
    x0, y0, x1, y1 = h["geom"].bounds
    xy = rng.uniform([x0, y0], [x1, y1], (40 * k, 2))
    xy = xy[shapely.contains_xy(h["geom"], xy[:, 0], xy[:, 1])][:k]
    cells = shapely.voronoi_polygons(MultiPoint(xy), extend_to=h["geom"]).geoms
    return [q for c in cells for q in parts(c.intersection(h["geom"])) if q.area > 5000]


def make_releases(rng, hazards, hz_union):
    rels, total = [], 0.0
    for i in rng.permutation(len(hazards)):
        h = hazards[i]
        if total > RELEASE_TARGET_KM2 * 1e6:  # re-measure: releases of overlapping hazards overlap
            total = shapely.union_all([r["geom"] for r in rels]).intersection(hz_union).area
            if total > RELEASE_TARGET_KM2 * 1e6:
                break
        if rng.random() > (0.4 if h["d_town"] < 8000 else 0.25):
            continue
        pieces = carve(h, rng)
        share = 1.0 if rng.random() < 0.3 else rng.uniform(0.2, 0.9)
        for j in rng.choice(len(pieces), max(1, round(share * len(pieces))), replace=False):
            g = pieces[j]
            if rng.random() < 0.03:  # survey polygon drawn partly outside its hazard
                a = rng.uniform(0, 2 * np.pi)
                g = affinity.translate(g, *(0.5 * np.sqrt(g.area) * np.array([np.cos(a), np.sin(a)])))
            # 2 m inset keeps a release strictly inside its hazard after 6-decimal rounding
            g = largest(g.buffer(-2.0, join_style="mitre"))
            if g is not None:
                rels.append(dict(geom=g, hazard=h))
                total += g.intersection(hz_union).area
    free = hz_union.buffer(50)
    towns = sorted(TOWN_M.items())
    for _ in range(100000):  # hazard-free building sites inside the region, near towns
        if sum(r["hazard"] is None for r in rels) >= 0.02 * len(rels):
            break
        t = towns[int(rng.integers(len(towns)))][1]
        c = Point(np.array([t.x, t.y]) + rng.normal(0, 6000, 2))
        g = blob(c.buffer(rng.uniform(150, 600), quad_segs=6), rng, wobble=0.12, bias=0.95)
        if not g.intersects(free) and REGION.contains(g):
            rels.append(dict(geom=g, hazard=None))
    return rels


def date_releases(rng, rels, hz_union):
    """Order releases (town surroundings first), give each its marginal area inside the hazard
    union, and map cumulative area to completion dates via the published-figures curve."""
    key = [rng.random() + 0.6 * min(1.0, near_town(r["geom"].centroid)[1] / 30000) for r in rels]
    order = np.argsort(key, kind="stable")
    rank = np.empty(len(rels), int)
    rank[order] = np.arange(len(rels))
    tree = shapely.STRtree([r["geom"] for r in rels])
    marg = []
    for i in order:
        g = rels[i]["geom"].intersection(hz_union)
        prev = [rels[j]["geom"] for j in tree.query(rels[i]["geom"]) if rank[j] < rank[i]]
        marg.append((g.difference(shapely.union_all(prev)) if prev else g).area)
    # cumulative share of the final area -> date on the curve (also scaled to its end)
    days = np.interp(np.cumsum(marg) / np.sum(marg), [v / CURVE[-1][1] for _, v in CURVE],
                     [day(d).toordinal() for d, _ in CURVE])
    for i, d in zip(order, days):
        rels[i]["completed"] = dt.date.fromordinal(int(np.ceil(d)))
    for h in {id(r["hazard"]): r["hazard"] for r in rels if r["hazard"]}.values():
        first = min(r["completed"] for r in rels if r["hazard"] is h)
        before = first - dt.timedelta(int(rng.integers(0, 60)))
        h["recorded"] = max(day("2020-12-01"), min(h["recorded"], before))
    for r in sorted(rels, key=lambda r: r["completed"]):  # attributes, in a fixed order
        h, km2 = r["hazard"], r["geom"].area / 1e6
        r["method"] = pick(rng, ["cancelled", "reduced", "cleared"], METHOD_P[h["cls"] if h else "SHA"])
        span = {"cancelled": 30, "reduced": 120, "cleared": 300}[r["method"]] * min(2.0, np.sqrt(km2) + 0.2)
        start = r["completed"] - dt.timedelta(int(rng.uniform(0.2, 1.0) * span))
        r["started"] = min(r["completed"], max(start, day("2021-01-04"), h["recorded"] if h else start))
        r["org"] = h["org"] if h and rng.random() < 0.6 else pick(rng, ORGS, ORG_P)
        town = near_town(r["geom"].centroid)[1] < 5000
        r["land_use"] = pick(rng, LAND_USE, [0.1, 0.45, 0.25, 0.12, 0.05, 0, 0.03] if h is None
                             else [0.3, 0.3, 0.12, 0.07, 0.05, 0.06, 0.1] if town
                             else [0.5, 0.05, 0.12, 0.08, 0.07, 0.12, 0.06])
        r["devices"] = devices(rng, r["method"], h["types"] if h else [], km2)


def devices(rng, method, types, km2):
    """Device finds: clearance finds most, technical survey some, NTS and free land rarely any."""
    scale = {"cleared": 1.0, "reduced": 0.15, "cancelled": 0.0}[method]
    out = {t: 0 for t in ("ap_mines", "at_mines", "uxo", "cmr", "ied")}
    kinds = (("AP", "ap_mines"), ("AT", "at_mines"), ("UXO", "uxo"), ("AXO", "uxo"), ("CMR", "cmr"))
    for t, key in kinds:
        if t in types and scale:  # gamma-Poisson: minefields are clumpy
            out[key] += int(rng.poisson(rng.gamma(0.7, scale * DEVICE_DENSITY[t] * km2 / 0.7)))
    out["ied"] = int(rng.poisson(1.5)) if "IED" in types and method == "cleared" else 0
    if (method == "cancelled" or not types) and rng.random() < 0.08:
        out["uxo"] += 1  # a stray item picked up during the walk-over
    return out


def district_of(g, districts):
    return max(districts, key=lambda d: d["geom"].intersection(g).area)["suffix"]


def write(path, name, feats):
    doc = {"type": "FeatureCollection", "name": name, "features": feats}
    path.write_text(json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n")


def main():
    rng = np.random.default_rng(SEED)
    districts = load_districts()
    targets = [d for d in districts if d["target"]]
    global FRONT_M, TOWN_M, REGION  # fixed geometry in metres, shared by the helpers
    FRONT_M = to_m(shapely.LineString(FRONT))
    TOWN_M = {n: to_m(Point(p)) for n, p in TOWNS.items()}
    REGION = shapely.union_all([d["geom"] for d in targets])
    hazards = []
    for h in make_hazards(rng, districts):  # keep only hazards that survive rounding
        geo = rounded(h["geom"])
        if geo is not None:
            hazards.append(dict(h, geo=geo, geom=to_m(shape(geo))))
    hz_union = shapely.union_all([h["geom"] for h in hazards])
    rels = [r for r in make_releases(rng, hazards, hz_union) if rounded(r["geom"]) is not None]
    date_releases(rng, rels, hz_union)
    count = {}  # codes: per district (+ classification), in date order
    for h in sorted(hazards, key=lambda h: (h["recorded"], h["geom"].centroid.x)):
        k = (h["district"]["suffix"], h["cls"])
        count[k] = count.get(k, 0) + 1
        h["code"], h["n"] = f"AZ-{k[0]}-{k[1]}-{count[k]}", count[k]
    hz_feats = [{"type": "Feature", "properties": {
        "code": h["code"], "classification": h["cls"], "hazard_types": h["types"],
        "organisation": h["org"], "recorded_on": h["recorded"].isoformat(),
        "description": h["desc"]}, "geometry": h["geo"]}
        for h in sorted(hazards, key=lambda h: (h["district"]["suffix"], h["cls"], h["n"]))]
    feats = []
    for r in sorted(rels, key=lambda r: (r["completed"], r["started"], r["geom"].centroid.x)):
        suffix = district_of(r["geom"], targets)
        count[suffix] = count.get(suffix, 0) + 1
        feats.append(((suffix, count[suffix]), {"type": "Feature", "properties": {
            "code": f"AZ-{suffix}-REL-{count[suffix]}", "method": r["method"],
            "hazard": r["hazard"]["code"] if r["hazard"] else None, "organisation": r["org"],
            "started_on": r["started"].isoformat(), "completed_on": r["completed"].isoformat(),
            "land_use": r["land_use"], **r["devices"]}, "geometry": rounded(r["geom"])}))
    write(HERE / "hazards.geojson", "minemap synthetic sample hazards (SHA/CHA)", hz_feats)
    write(HERE / "releases.geojson", "minemap synthetic sample land releases",
          [f for _, f in sorted(feats, key=lambda kf: kf[0])])
    verify()


def verify():
    """Recompute everything from the written files with shapely unions and geodesic areas."""
    geod = Geod(ellps="WGS84")
    km2 = lambda g: abs(geod.geometry_area_perimeter(shapely.orient_polygons(g))[0]) / 1e6  # noqa: E731
    hz = json.loads((HERE / "hazards.geojson").read_text())["features"]
    rl = json.loads((HERE / "releases.geojson").read_text())["features"]
    geoms = [shape(f["geometry"]) for f in hz + rl]
    codes = [f["properties"]["code"] for f in hz + rl]
    assert all(g.is_valid and not g.is_empty for g in geoms), "invalid or empty geometry"
    b = shapely.total_bounds(geoms)
    assert 44.7 <= b[0] and b[2] <= 50.7 and 38.3 <= b[1] and b[3] <= 42.0, f"out of bounds {b}"
    assert len(set(codes)) == len(codes), "duplicate codes"
    assert all(p.exterior.is_ccw for g in geoms for p in parts(g)), "clockwise exterior"
    assert all(8 <= nverts(p) <= 40 for f in hz for p in parts(shape(f["geometry"]))), "vertex count"
    recorded = {f["properties"]["code"]: f["properties"]["recorded_on"] for f in hz}
    for f in rl:
        p = f["properties"]
        assert p["started_on"] <= p["completed_on"] <= "2025-12-31" and p["started_on"] >= "2021-01-01"
        assert p["hazard"] is None or recorded[p["hazard"]] <= p["completed_on"]
    H = shapely.union_all(geoms[:len(hz)])
    rel = [(g, f["properties"]) for g, f in zip(geoms[len(hz):], rl)]
    hg = geoms[:len(hz)]
    rows = [("hazards", len(hz)),
            ("  of which CHA", sum(f["properties"]["classification"] == "CHA" for f in hz)),
            ("  MultiPolygon / with hole", f"{sum(g.geom_type == 'MultiPolygon' for g in hg)} / "
                                           f"{sum(any(p.interiors) for g in hg for p in parts(g))}"),
            ("releases", len(rl)), ("  with hazard null", sum(p["hazard"] is None for _, p in rel)),
            ("hazard union km2", f"{km2(H):,.1f}"), ("hazard sum km2", f"{sum(map(km2, hg)):,.1f}")]
    cum = {}
    for d in ("2021-10-31", "2022-12-31", "2023-12-31", "2024-10-31", "2025-03-31", "2025-12-31"):
        cum[d] = km2(shapely.union_all([g for g, p in rel if p["completed_on"] <= d]).intersection(H))
    rows += [(f"released in hazards by {d} km2", f"{v:,.1f}") for d, v in cum.items()]
    rows.insert(-3, ("released in hazards during 2023 km2", f"{cum['2023-12-31'] - cum['2022-12-31']:,.1f}"))
    by_method = {m: sum(km2(g) for g, p in rel if p["method"] == m) for m in ("cancelled", "reduced", "cleared")}
    rows += [(f"release area {m} km2 (share)", f"{v:,.1f} ({v / sum(by_method.values()):.0%})")
             for m, v in by_method.items()]
    rows += [(f"total {k}", sum(p[k] for _, p in rel)) for k in ("ap_mines", "at_mines", "uxo", "cmr", "ied")]
    rows += [(f"{f.name} bytes", f"{f.stat().st_size:,}")
             for f in (HERE / "hazards.geojson", HERE / "releases.geojson")]
    w = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{w}}  {v:>12}" for k, v in rows))
    print("checks passed: valid, non-empty, in bounds, unique codes, CCW, 8-40 vertices, dates")


if __name__ == "__main__":
    main()
