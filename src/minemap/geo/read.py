"""Read a field file as features in lon/lat, refusing whatever cannot be read safely."""

import re
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pyogrio.errors
import pyproj
import shapely

from minemap.errors import InvalidInput, PayloadTooLarge, Problem
from minemap.geo.archives import FORMATS, invalid, sniff, too_large, unpacked
from minemap.geo.shapes import batches

DRIVERS = frozenset({"GeoJSON", "ESRI Shapefile", "GPKG", "KML", "LIBKML", "FlatGeobuf", "CSV"})
DATASET_SUFFIXES = frozenset({".geojson", ".json", ".shp", ".gpkg", ".kml", ".fgb", ".csv"})
GEOMETRY_COLUMNS = ("wkt", "geometry", "geom", "the_geom")
CSV_OPTIONS = {"GEOM_POSSIBLE_NAMES": ",".join(GEOMETRY_COLUMNS), "KEEP_GEOM_COLUMNS": "NO"}
# Fields LIBKML makes of the KML structure itself, not of the user's data.
KML_STRUCTURE = frozenset({"id", "timestamp", "begin", "end", "altitudemode", "tessellate",
                           "extrude", "visibility", "draworder", "icon", "snippet"})
LISTED = 100  # problems listed one by one; the detail gives the full count

WGS84 = pyproj.CRS("EPSG:4326")
_GDAL_ERRORS = (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
                pyogrio.errors.FieldError, pyogrio.errors.FeatureError,
                pyogrio.errors.GeometryError, pyogrio.errors.CRSError)
_NO_POLYGONS = re.compile(r"(Multi)?(Point|LineString|CircularString|CompoundCurve|Curve)\b")
_DATE_TEXT = re.compile(r"(\d{4})[/-](\d{2})[/-](\d{2})(?:[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?))?")


@dataclass(frozen=True)
class Limits:
    """Sizes past which a file is refused before it can exhaust memory or disk."""

    max_features: int = 200_000
    max_vertices: int = 100_000  # per feature
    max_expanded_mb: int = 1024  # all members of an archive together, uncompressed
    max_ratio: int = 100  # uncompressed / compressed size of an archive


@dataclass
class ReadResult:
    """Features with shapely geometries in EPSG:4326 (lon/lat) and lower-cased property names."""

    features: list[dict]
    source_crs: str | None
    layer: str | None
    driver: str
    warnings: list[Problem] = field(default_factory=list)  # about the file as a whole


@dataclass(frozen=True)
class _Layer:
    file: Path
    name: str | None  # None: the file's only layer, named once read
    geometry_type: str | None
    shown: str  # the file as the user knows it


def read_features(path: Path, *, crs: str | None = None, layer: str | None = None,
                  limits: Limits = Limits()) -> ReadResult:
    """Read every feature of a field file, reprojected to lon/lat; all of them or an error.

    `crs` overrides the file's own CRS and is required when the file has none (CSV, a
    shapefile without .prj): nothing is assumed. `layer` chooses among several layers;
    by default the only one that may hold polygons is read.
    """
    path = Path(path)
    override = _parse_crs(crs) if crs else None
    if sniff(path) != "zip":
        return _read(_choose(_layers([path], path.name), layer, path.name), layer, override,
                     limits)
    with unpacked(path, limits) as (files, members, scratch):
        datasets = [file for file in files if file.suffix.lower() in DATASET_SUFFIXES]
        if not datasets:
            held = ", ".join(sorted(members)[:20]) or "nothing"
            raise invalid("unreadable_file", f"{path.name} holds no {FORMATS} "
                                             f"(it holds: {held})")
        shown = {file: f"{path.name}/{file.relative_to(scratch).as_posix()}"
                 for file in datasets}
        chosen = _choose(_layers(datasets, path.name, shown), layer, path.name)
        return _read(chosen, layer, override, limits)


def _clean(message: str, file: Path, shown: str) -> str:
    """Return GDAL's message without temporary paths, SQL or repeats."""
    message = str(message).replace(str(file), shown).replace(str(file.parent) + "/", "")
    message = re.sub(r"\b\w+\((?:SELECT|PRAGMA|INSERT|CREATE)\b.*?\)\s*failed:\s*", "", message)
    seen: list[str] = []
    for part in re.split(r";\s+|\n", message):
        part = part.strip()
        if part and part not in seen and not part.startswith("It might help"):
            seen.append(part)
    return "; ".join(seen)[:400]


def _gdal(call, file: Path, shown: str, options: dict | None = None, **kwargs):
    """Call pyogrio, with the CSV open options unless `options` are given."""
    csv = file.suffix.lower() == ".csv"
    options = (CSV_OPTIONS if csv else {}) if options is None else options
    try:
        return call(f"CSV:{file}" if csv else file, **kwargs, **options)
    except _GDAL_ERRORS as error:
        raise invalid("unreadable_file", f"{shown} cannot be read: "
                                          f"{_clean(error, file, shown)}") from None
    except UnicodeDecodeError as error:
        raise invalid("invalid_encoding", f"{shown} holds text that is not {error.encoding} "
                                           f"({error.reason}); save it as UTF-8") from None


def _layers(files: list[Path], name: str, shown: dict[Path, str] | None = None) -> list[_Layer]:
    """List the layers of the files; in an archive, files GDAL cannot open are skipped."""
    layers, failures = [], []
    if len(files) == 1 and sniff(files[0]) == "geojson":
        # One layer: listing it would parse the whole file once more. Its name comes later.
        return [_Layer(files[0], None, None, shown[files[0]] if shown else files[0].name)]
    for file in files:
        seen = shown[file] if shown else file.name
        try:
            kind = sniff(file)
            if kind == "zip":
                raise invalid("unreadable_file", f"{seen} is an archive inside the archive")
            listed = _gdal(pyogrio.list_layers, file, seen, options={})
        except InvalidInput as error:
            failures.append(error)
            continue
        layers += [_Layer(file, str(layer), geometry_type, seen)
                   for layer, geometry_type in listed]
    if not layers and failures:
        raise failures[0]
    if not layers:
        raise invalid("unreadable_file", f"{name} holds no layers; it may be empty, truncated "
                                          "or damaged")
    return layers


def _choose(layers: list[_Layer], wanted: str | None, name: str) -> _Layer:
    """Return the layer asked for or, by default, the only one that may hold polygons."""
    names = ", ".join(str(layer.name) for layer in layers)
    if len(layers) == 1 and layers[0].name is None:
        return layers[0]
    if wanted is not None:
        for matches in (lambda n: n == wanted, lambda n: n.lower() == wanted.lower()):
            found = [layer for layer in layers if matches(layer.name)]
            if found:
                return found[0]
        raise invalid("unknown_layer", f"{name} has no layer '{wanted}'; its layers are: {names}")
    if len(layers) == 1:
        return layers[0]
    polygonal = [layer for layer in layers if layer.geometry_type is not None
                 and not _NO_POLYGONS.match(layer.geometry_type)]
    if len(polygonal) == 1:
        return polygonal[0]
    if not polygonal:
        typed = ", ".join(f"{layer.name} ({layer.geometry_type or 'no geometry'})"
                          for layer in layers)
        raise invalid("no_polygon_layer", f"{name} has no layer with polygons; its layers are: "
                                           f"{typed}")
    raise invalid("ambiguous_layer", f"{name} has {len(polygonal)} layers with polygons: "
                                      f"{', '.join(layer.name for layer in polygonal)}; "
                                      "choose one with layer")


def _parse_crs(text: str) -> pyproj.CRS:
    given = text.strip()
    try:
        return pyproj.CRS.from_user_input(f"EPSG:{given}" if given.isdigit() else given)
    except pyproj.exceptions.CRSError:
        raise invalid("unknown_crs", f"crs '{text}' is not a known coordinate reference system; "
                                      "give it as EPSG:<code>, e.g. EPSG:32638 for UTM zone 38N "
                                      "or EPSG:4326 for longitude/latitude") from None


def _crs_name(crs: pyproj.CRS) -> str:
    authority = crs.to_authority(min_confidence=90)
    return f"{authority[0]}:{authority[1]}" if authority else crs.name


def _missing_crs(layer: _Layer, why: str = "") -> InvalidInput:
    return invalid("missing_crs", f"{layer.shown} does not say its coordinate reference system "
                                   f"(a CSV, or a shapefile without .prj){why}; give it with "
                                   "crs, e.g. crs=EPSG:4326 for longitude/latitude or "
                                   "crs=EPSG:32638 for UTM zone 38N")


def _source_crs(info: dict, override: pyproj.CRS | None, layer: _Layer) -> pyproj.CRS | None:
    """Return the CRS to read the layer in; None for a CSV that does not say (see `_assume`)."""
    if override is not None:
        return override
    if not info.get("crs"):
        if info["driver"] == "CSV":
            return None
        raise _missing_crs(layer)
    try:
        return pyproj.CRS.from_user_input(info["crs"])
    except pyproj.exceptions.CRSError:
        raise invalid("unknown_crs", f"{layer.shown} has a coordinate reference system that is "
                                      "not known; give it with crs, e.g. crs=EPSG:32638") from None


def _transformer(crs: pyproj.CRS, shown: str) -> pyproj.Transformer | None:
    """Return the transformer to lon/lat, or None when the coordinates are lon/lat already."""
    if crs.equals(WGS84, ignore_axis_order=True):
        return None
    try:
        # always_xy: files store x (easting, longitude) first, whatever the CRS's axis order.
        return pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)
    except pyproj.exceptions.ProjError:
        raise invalid("unknown_crs", f"{shown}: {_crs_name(crs)} cannot be converted to "
                                      "longitude/latitude") from None


def _lon_lat(geoms: np.ndarray, crs: pyproj.CRS, shown: str) -> None:
    """Reproject the geometries to lon/lat in place, a million coordinates at a time."""
    transformer = _transformer(crs, shown)
    if transformer is None:
        return
    # Not GeoSeries.to_crs, which holds the old and the new geometries and every coordinate
    # at once (a 200 MB file in UTM then peaks 650 MB higher): a batch at a time, each
    # replaced geometry is let go.
    for run in batches(geoms):
        geoms[run] = shapely.transform(geoms[run], lambda xy: np.column_stack(
            transformer.transform(xy[:, 0], xy[:, 1])))


def _read(layer: _Layer, wanted: str | None, override: pyproj.CRS | None,
          limits: Limits) -> ReadResult:
    info = _gdal(pyogrio.read_info, layer.file, layer.shown, layer=layer.name)
    name = layer.name or info.get("layer_name") or layer.file.stem
    if wanted is not None and wanted.lower() != name.lower():
        raise invalid("unknown_layer", f"{layer.shown} has no layer '{wanted}'; its layer is: "
                                        f"{name}")
    if info["driver"] not in DRIVERS:
        raise invalid("unreadable_file", f"{layer.shown} is a {info['driver']} file, which is "
                                          f"not supported ({FORMATS})")
    if info["features"] > limits.max_features:
        raise _too_many(layer, f"{info['features']:,}", limits)
    crs = _source_crs(info, override, layer)
    frame = _gdal(pyogrio.read_dataframe, layer.file, layer.shown, layer=name, force_2d=True,
                  datetime_as_string=True, on_invalid="ignore",
                  max_features=limits.max_features + 1)
    if not isinstance(frame, gpd.GeoDataFrame):
        wanted = (f"; name a column {', '.join(GEOMETRY_COLUMNS)} and fill it with WKT"
                  if info["driver"] == "CSV" else "")
        raise invalid("no_geometry", f"{layer.shown} has no geometry column{wanted}")
    if len(frame) > limits.max_features:
        raise _too_many(layer, "more", limits)
    counts = frame.geometry.count_coordinates().to_numpy()
    over = np.flatnonzero(counts > limits.max_vertices)
    if len(over):  # refused before anything is reprojected
        problems = [Problem(int(index), "too_many_vertices",
                            f"geometry has {counts[index]:,} vertices, more than "
                            f"{limits.max_vertices:,}") for index in over[:LISTED]]
        raise InvalidInput(f"{layer.shown}: {len(over):,} features have more than "
                           f"{limits.max_vertices:,} vertices; simplify them", problems=problems)
    geoms = frame.geometry.to_numpy()
    frame = frame.drop(columns=frame.geometry.name)
    _lon_lat(geoms, crs or WGS84, layer.shown)
    warnings = [] if crs is not None else [_assume(geoms, layer)]
    names, values = _properties(frame, info, layer.shown)
    del frame
    features = [{"type": "Feature", "geometry": geom, "properties": dict(zip(names, row))}
                for geom, row in zip(geoms.tolist(), zip(*values) if values else
                                     ((),) * len(geoms))]
    return ReadResult(features, _crs_name(crs or WGS84), name, info["driver"], warnings)


def _assume(geoms: np.ndarray, layer: _Layer) -> Problem:
    """Take a spreadsheet's coordinates as lon/lat when all of them can be; else refuse.

    Field spreadsheets (Kobo, Excel) rarely say their CRS, and most hold GPS lon/lat. Any
    other CRS (UTM, a national grid) has coordinates far outside those ranges, so it is not
    mistaken for one; swapped lat/lon are told apart by the location check afterwards.
    """
    west, south, east, north = shapely.total_bounds(geoms[geoms != None])  # noqa: E711
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise _missing_crs(layer, f", and its coordinates (x {west:,.0f} to {east:,.0f}, "
                                  f"y {south:,.0f} to {north:,.0f}) are not longitude/latitude")
    return Problem(None, "assumed_crs", f"{layer.shown} does not say its coordinate reference "
                                        "system; all its coordinates lie within longitude and "
                                        "latitude ranges, so they were read as WGS84 "
                                        "longitude/latitude (EPSG:4326); give crs if they are "
                                        "not")


def _too_many(layer: _Layer, count: str, limits: Limits) -> PayloadTooLarge:
    return too_large("too_many_features", f"{layer.shown} has {count} features, more than "
                                           f"{limits.max_features:,}; split it into several files")


def _properties(frame, info: dict, shown: str) -> tuple[list[str], list[list]]:
    """Return the lower-cased names and the plain Python values of the frame's columns worth
    keeping, converted by their OGR types (`info`, from pyogrio.read_info)."""
    types = dict(zip(info["fields"], zip(info["ogr_types"], info["ogr_subtypes"])))
    names, values, original = [], [], {}
    for name, column in frame.items():
        key = str(name).lower()
        plain = _plain_column(column.to_numpy(), *types[name])
        if info["driver"] in ("KML", "LIBKML") and (key in KML_STRUCTURE or (
                key in ("name", "description") and all(v in (None, "") for v in plain))):
            continue
        if key in original:
            raise invalid("duplicate_property", f"{shown} has columns '{original[key]}' and "
                                                 f"'{name}', which differ only in case")
        original[key] = name
        names.append(key)
        values.append(plain)
    return names, values


def _plain_column(column: np.ndarray, ogr_type: str, subtype: str) -> list:
    """Return the column as plain Python: NaN as None, integers as int, dates as ISO text."""
    values = column.tolist()  # numpy scalars become Python ones
    if subtype == "OFSTBoolean":
        return [None if v is None or v != v else bool(v) for v in values]
    if ogr_type in ("OFTInteger", "OFTInteger64") and column.dtype.kind == "f":
        return [None if v != v else int(v) for v in values]  # nulls made the column float
    return [_date_text(v) if type(v) is str else v.tolist() if isinstance(v, np.ndarray)
            else None if v != v else v for v in values]


def _date_text(text: str) -> str:
    """Return GDAL's date text (2023/05/01, 2023-05-01T00:00:00) as an ISO date; else as is."""
    if len(text) < 10 or text[4] not in "/-":
        return text
    found = _DATE_TEXT.fullmatch(text)
    if found is None:
        return text
    year, month, day, time = found.groups()
    day_text = f"{year}-{month}-{day}"
    return day_text if time is None or not time.strip("0:.") else f"{day_text}T{time}"
