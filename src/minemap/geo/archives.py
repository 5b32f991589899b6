"""Open what a user uploads without trusting it: its format known by its content, and zip
archives unpacked only when they are no bombs, name no path outside their folder and are
not encrypted. Nothing reaches GDAL that was not recognised here."""

import re
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from minemap.errors import InvalidInput, PayloadTooLarge, Problem

MB = 1024 * 1024
FORMATS = "GeoJSON, zipped Shapefile, GeoPackage, KML/KMZ, FlatGeobuf or CSV with a WKT column"
MAX_MEMBERS = 10_000
RATIO_FLOOR_MB = 10  # below this, a high compression ratio is harmless (blank DBF padding)
_LABELS = {".geojson": "GeoJSON file", ".json": "GeoJSON file", ".gpkg": "GeoPackage",
           ".zip": "zip archive", ".kmz": "KMZ archive", ".kml": "KML file",
           ".fgb": "FlatGeobuf file", ".shp": "shapefile", ".csv": "CSV file"}
_KML_ROOT = re.compile(rb"(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<kml[\s>]", re.DOTALL)


def invalid(code: str, reason: str) -> InvalidInput:
    return InvalidInput(reason, problems=[Problem(None, code, reason)])


def too_large(code: str, reason: str) -> PayloadTooLarge:
    return PayloadTooLarge(reason, problems=[Problem(None, code, reason)])


def sniff(path: Path) -> str:
    """Return the format the content shows (zip, gpkg, fgb, shp, geojson, kml, csv) or refuse."""
    try:
        with path.open("rb") as file:
            head = file.read(4096)
    except OSError as error:
        raise invalid("unreadable_file",
                       f"{path.name} cannot be read ({error.strerror})") from None
    if not head:
        raise invalid("unreadable_file", f"{path.name} is empty")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"SQLite format 3\x00") and head[68:72] in (b"GPKG", b"GP10", b"GP11"):
        return "gpkg"  # the application id: other SQLite databases may hold virtual tables
    if head.startswith(b"fgb\x03"):
        return "fgb"
    if head.startswith(b"\x00\x00\x27\x0a"):
        return "shp"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] in (b"{", b"["):
        return "geojson"
    if _KML_ROOT.match(text):
        return "kml"
    if text[:1] != b"<" and path.suffix.lower() == ".csv" and b"\x00" not in head:
        return "csv"
    # Nothing reaches GDAL unrecognised: GDAL would also open VRTs, which name other files.
    label = _LABELS.get(path.suffix.lower())
    said = f"is not a {label}: its content is not" if label else "is not"
    raise invalid("unreadable_file", f"{path.name} {said} in any supported format ({FORMATS})")


@contextmanager
def unpacked(path: Path, limits) -> Iterator[tuple[list[Path], list[str], Path]]:
    """Unpack the zip archive at `path` in a scratch folder, removed afterwards; yield its
    files, its members' names and the folder.

    `limits` (geo.read.Limits) bound what it may expand to; an archive whose directory says
    it is unsafe is refused before anything is written, even the folder.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise invalid("unreadable_file", f"{path.name} is not a readable zip archive ({error}); "
                                         "it may be truncated or damaged") from None
    with archive:
        members = _inspect(archive, path.name, limits)
        with tempfile.TemporaryDirectory(prefix="minemap-read-") as scratch:
            files = _extract(archive, members, Path(scratch), path.name)
            yield files, [m.filename for m in members], Path(scratch)


def _inspect(archive: zipfile.ZipFile, name: str, limits) -> list[zipfile.ZipInfo]:
    """Return the members worth extracting, refusing bombs, unsafe names and encryption."""
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise too_large("archive_too_large", f"{name} holds {len(members):,} files, more than "
                                              f"{MAX_MEMBERS:,}")
    expanded = sum(member.file_size for member in members)
    packed = sum(member.compress_size for member in members)
    if expanded > limits.max_expanded_mb * MB:
        raise too_large("archive_too_large", f"{name} expands to {expanded / MB:,.0f} MB, more "
                                              f"than {limits.max_expanded_mb:,} MB")
    if expanded > RATIO_FLOOR_MB * MB and expanded > limits.max_ratio * max(packed, 1):
        raise too_large("archive_too_large", f"{name} expands {expanded / max(packed, 1):,.0f} "
                                              f"times ({expanded / MB:,.0f} MB), more than "
                                              f"{limits.max_ratio} times: a zip bomb?")
    kept = []
    for member in members:
        parts = PurePosixPath(member.filename.replace("\\", "/")).parts
        if (not parts or parts[0] == "/" or ".." in parts or ":" in parts[0]
                or "\x00" in member.filename or stat.S_ISLNK(member.external_attr >> 16)):
            raise invalid("unsafe_archive", f"{name} holds an entry '{member.filename}' that "
                                             "would be written outside the archive's folder")
        if member.flag_bits & 0x1:
            raise invalid("unreadable_file", f"{name} is encrypted; upload it without a password")
        if member.is_dir() or "__MACOSX" in parts or parts[-1].startswith("._"):
            continue  # folders and macOS resource forks hold no data
        kept.append(member)
    return kept


def _extract(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], scratch: Path,
             name: str) -> list[Path]:
    """Write the members under `scratch`, never more bytes than each one declares."""
    files = []
    for member in members:
        target = scratch.joinpath(*PurePosixPath(member.filename.replace("\\", "/")).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        try:
            with archive.open(member) as source, target.open("wb") as sink:
                while chunk := source.read(MB):
                    written += len(chunk)
                    if written > member.file_size:
                        raise too_large("archive_too_large", f"{name}: {member.filename} "
                                                              "expands past its declared size")
                    sink.write(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
            raise invalid("unreadable_file", f"{name}: {member.filename} cannot be extracted "
                                              f"({error}); the archive may be truncated or "
                                              "damaged") from None
        files.append(target)
    return files
