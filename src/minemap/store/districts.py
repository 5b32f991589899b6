"""Districts: the administrative units that reports are split by, and the outline they draw.

Any file of units pyogrio reads can be loaded, in any CRS: the bundled Azerbaijan units by
default. A reload replaces the units (matched by code, so baselines keep theirs) and leaves the
hazards and releases alone; the triggers of migration 0002 mark every cell under an old or new
unit, so the next accounting refresh follows the new boundaries.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import shapely
from sqlalchemy import Connection, text

from minemap.errors import Conflict, InvalidInput, Problem
from minemap.geo.checks import check_geometry
from minemap.geo.fields import Bad, is_absent
from minemap.geo.outline import Outline, outline_of
from minemap.geo.read import read_features
from minemap.resources import project_dir

NONE_LOADED = "no districts are loaded; run `minemap districts load`"
# Units with no ISO 3166-2 code of their own still need a short code for hazard codes.
CITY_CODES = {("Shusha", "city"): "SUSC"}
CODE = re.compile(r"[A-Za-z0-9_.]+(-[A-Za-z0-9_.]+)*")
CODE_MAX, NAME_MAX = 32, 200
KINDS = ("district", "city")

UPSERT = text("""
INSERT INTO districts (code, name, name_az, kind, iso_3166_2, region, geom)
SELECT u.code, u.name, u.name_az, u.kind, u.iso_3166_2, u.region,
       ST_GeomFromEWKB(decode(u.ewkb, 'hex'))
FROM jsonb_to_recordset(CAST(:units AS jsonb))
     AS u (code text, name text, name_az text, kind text, iso_3166_2 text, region text,
           ewkb text)
ON CONFLICT (code) DO UPDATE SET
    name = EXCLUDED.name, name_az = EXCLUDED.name_az, kind = EXCLUDED.kind,
    iso_3166_2 = EXCLUDED.iso_3166_2, region = EXCLUDED.region, geom = EXCLUDED.geom
WHERE (districts.name, districts.name_az, districts.kind, districts.iso_3166_2,
       districts.region, districts.geom)
      IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.name_az, EXCLUDED.kind, EXCLUDED.iso_3166_2,
                        EXCLUDED.region, EXCLUDED.geom)
""")


# The name a unit goes by in every table and report, as SQL over the districts row `{d}`:
# its name, told apart where several units share it: by its kind when that alone tells
# (Shusha, Shusha (city)), else by its code.
LABEL = """CASE
    WHEN NOT EXISTS (SELECT FROM districts AS o WHERE o.name = {d}.name AND o.id <> {d}.id
                     AND (o.kind = {d}.kind OR {d}.kind <> 'district')) THEN {d}.name
    WHEN NOT EXISTS (SELECT FROM districts AS o WHERE o.name = {d}.name AND o.id <> {d}.id
                     AND o.kind = {d}.kind) THEN {d}.name || ' (' || {d}.kind || ')'
    ELSE {d}.name || ' (' || {d}.code || ')' END"""


@dataclass(frozen=True)
class Fields:
    """The properties holding a unit's name, code and ISO 3166-2 code (any case)."""

    name: str = "name"
    code: str = "code"
    iso: str = "iso_3166_2"


@dataclass(frozen=True)
class Loaded:
    units: int  # in the file
    removed: list[str]  # codes of the units the file no longer holds
    repaired: list[Problem]  # invalid geometries repaired, each within 0.1 % of its area


def bundled() -> Path:
    """Return the bundled file of Azerbaijan's first-level units (Natural Earth)."""
    return project_dir("data") / "districts" / "azerbaijan_districts.geojson"


def _text(properties: dict, key: str, name: str, limit: int = NAME_MAX) -> str | None:
    value = properties.get(key.lower())
    if is_absent(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a numeric code column
    value = str(value).strip()
    if not value.isprintable() or len(value) > limit:
        raise Bad("invalid_value", f"{name} {value[:40]!r} is not printable text of at most "
                                   f"{limit} characters")
    return value


def _unit(index: int, properties: dict, fields: Fields) -> dict:
    """Return the unit's columns, or raise Bad naming what is missing or wrong."""
    name = _text(properties, fields.name, f"name ({fields.name})")
    if name is None:
        raise Bad("missing_property", f"the unit has no name in '{fields.name}'; name the "
                                      "field with --name-field")
    iso = _text(properties, fields.iso, f"ISO 3166-2 code ({fields.iso})", 16)
    kind = _text(properties, "kind", "kind")
    kind = kind if kind in KINDS else "district"
    code = _text(properties, fields.code, f"code ({fields.code})", CODE_MAX)
    if code is None and iso is not None:
        code = iso.rsplit("-", 1)[-1]  # AZ-ABS: ABS
    code = code or CITY_CODES.get((name, kind))
    if code is None:
        raise Bad("missing_property", f"unit '{name}' has neither a code ('{fields.code}') nor "
                                      f"an ISO 3166-2 code ('{fields.iso}'); name the field "
                                      "with --code-field or --iso-field")
    if not CODE.fullmatch(code):
        raise Bad("invalid_code", f"unit '{name}' has the code '{code}', which may only hold "
                                  "letters, digits, _ and ., parted by single hyphens")
    return {"code": code, "name": name, "name_az": _text(properties, "name_az", "name_az"),
            "kind": kind, "iso_3166_2": iso,
            "region": _text(properties, "karabakh_ez_2021", "region")}


def _units(path: Path, fields: Fields) -> tuple[list[dict], list[Problem]]:
    """Read and check every unit of the file; raise InvalidInput naming every problem.

    Returns the units' columns and the repairs made to their geometries.
    """
    read = read_features(path)
    units, problems, repaired, first = [], [], [], {}
    for index, feature in enumerate(read.features):
        try:
            unit = _unit(index, feature["properties"], fields)
        except Bad as bad:
            problems.append(Problem(index, bad.code, bad.reason))
            unit = None
        # Checked as a hazard's geometry is, but not located: the units make the outline.
        geom, found, said = check_geometry(index, feature["geometry"], None)
        problems += found
        repaired += said
        if unit is None or geom is None:
            continue
        for key in ("code", "iso_3166_2"):
            if unit[key] is None:
                continue
            if (key, unit[key]) in first:
                problems.append(Problem(index, "duplicate_code", f"units {first[key, unit[key]]} "
                                                                 f"and {index} share the {key} "
                                                                 f"'{unit[key]}'"))
            first[key, unit[key]] = index
        unit["ewkb"] = shapely.to_wkb(shapely.set_srid(geom, 4326), hex=True, include_srid=True)
        units.append(unit)
    if not read.features:
        problems.append(Problem(None, "no_features", f"{path.name} holds no units"))
    if problems:
        shown = "; ".join(f"unit {p.index}: {p.reason}" for p in problems[:3])
        raise InvalidInput(f"{path.name} cannot be loaded as districts ({shown}"
                           f"{'; …' if len(problems) > 3 else ''})", problems=problems)
    return units, repaired


def load(conn: Connection, path: Path | None = None, *, fields: Fields = Fields()) -> Loaded:
    """Replace the units by those of the file at `path` (default: the bundled ones).

    Units are matched by code: one whose code the file keeps is updated in place; one it no
    longer holds is removed, unless a baseline names it (409). All of it, or nothing.
    """
    path = Path(path) if path is not None else bundled()
    units, repaired = _units(path, fields)
    codes = [unit["code"] for unit in units]
    kept = conn.execute(text("""
        SELECT d.code, array_agg(b.id ORDER BY b.id) FILTER (WHERE b.id IS NOT NULL)
        FROM districts AS d LEFT JOIN baselines AS b ON b.district_id = d.id
        WHERE d.code <> ALL(CAST(:codes AS text[]))
        GROUP BY d.code ORDER BY d.code"""), {"codes": codes}).all()
    held = [f"{code} (baselines {', '.join(map(str, ids))})" for code, ids in kept if ids]
    if held:
        raise Conflict(f"{path.name} leaves out units that baselines name: {'; '.join(held)}; "
                       "keep those units in the file, with the same codes")
    conn.execute(text("DELETE FROM districts WHERE code <> ALL(CAST(:codes AS text[]))"),
                 {"codes": codes})
    conn.execute(UPSERT, {"units": json.dumps(units)})
    return Loaded(len(units), [code for code, _ in kept], repaired)


def count(conn: Connection) -> int:
    return conn.execute(text("SELECT count(*) FROM districts")).scalar_one()


def require_loaded(conn: Connection) -> None:
    """Refuse (409) what cannot be right without units: reports, and locating features."""
    if not conn.execute(text("SELECT EXISTS (SELECT FROM districts)")).scalar_one():
        raise Conflict(NONE_LOADED)


# Outlines by (fingerprint of the units, tolerance); a handful at most in one process.
_OUTLINES: dict[tuple[str, float], Outline] = {}


def outline(conn: Connection, tolerance_m: float) -> Outline:
    """Return the outline of the loaded units with a margin of `tolerance_m` (409 if none).

    Building it takes a tenth of a second; the units' fingerprint, a few milliseconds, tells
    whether the one built before still holds.
    """
    fingerprint = conn.execute(text(
        "SELECT md5(string_agg(ST_AsEWKB(geom), ''::bytea ORDER BY code)) FROM districts"
    )).scalar_one()
    if fingerprint is None:
        raise Conflict(NONE_LOADED)
    key = (fingerprint, float(tolerance_m))
    if key not in _OUTLINES:
        wkb = conn.execute(text("SELECT ST_AsBinary(geom) FROM districts")).scalars().all()
        if len(_OUTLINES) >= 4:
            _OUTLINES.clear()
        _OUTLINES[key] = outline_of(list(shapely.from_wkb([bytes(w) for w in wkb])),
                                    tolerance_m)
    return _OUTLINES[key]
