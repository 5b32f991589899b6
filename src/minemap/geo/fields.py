"""Check and normalise the properties of a hazard or release feature."""

import json
import math
import numbers
import re
from datetime import date, datetime

from minemap.errors import Problem
from minemap.vocab import (DEVICE_FIELDS, EARLIEST_DATE, Classification, HazardType, LandUse,
                           ReleaseMethod)

CODE_PATTERN = re.compile(r"[A-Za-z0-9_./-]{1,64}")
DESCRIPTION_MAX = 2000
COUNT_MAX = 2**31 - 1  # the device columns are PostgreSQL integers

FIELDS = {
    "hazards": ("code", "classification", "hazard_types", "organisation", "recorded_on",
                "description"),
    "releases": ("code", "method", "hazard", "organisation", "started_on", "completed_on",
                 "land_use", *DEVICE_FIELDS, "description"),
}
REQUIRED = {"hazards": {"classification", "hazard_types", "recorded_on"},
            "releases": {"method", "completed_on"}}

# Shapefiles cut field names to 10 characters (CLASSIFICA, RECORDED_O...); accept those too.
ALIASES = {name[:10]: name for names in FIELDS.values() for name in names if len(name) > 10}
ALIASES["organization"] = "organisation"

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]")
_SEPARATORS = re.compile(r"[,;|\s]+")


class Bad(ValueError):
    """A property value that cannot be used; `code` is the problem code."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def is_absent(value) -> bool:
    """Tell whether a value means "not given": None, "", NaN or NaT (as file readers write)."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict, bool, int)):
        return False
    if type(value).__name__ == "NAType":  # pandas.NA, whose comparisons are NA too
        return True
    try:
        return bool(value != value)  # NaN and NaT are the only values unequal to themselves
    except (TypeError, ValueError):
        return False


def parse_date(value, name: str = "date") -> date:
    """Return the date of an ISO date or datetime (string, date, datetime or numpy datetime64)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            if _DATE.fullmatch(text):
                return date.fromisoformat(text)
            if _DATETIME.match(text):
                return datetime.fromisoformat(text).date()  # its date where it was written
        except ValueError:
            raise Bad("invalid_date", f"{name} '{text}' is not a valid date") from None
    elif isinstance(value, datetime):
        return value.date()
    elif isinstance(value, date):
        return value
    elif type(value).__name__ == "datetime64":
        return value.astype("datetime64[D]").item()
    raise Bad("invalid_date", f"{name} {value!r} is not a date (YYYY-MM-DD)")


def parse_list(value, name: str = "list") -> list[str]:
    """Return the items of a list, or of a string separated by commas, semicolons or spaces."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise Bad("invalid_value", f"{name} '{text}' is not a list") from None
        else:
            return [item for item in _SEPARATORS.split(text) if item]
    if isinstance(value, (list, tuple, set)) or type(value).__name__ == "ndarray":
        items = list(value)
        if all(isinstance(item, str) for item in items):
            return [item.strip() for item in items if item.strip()]
    raise Bad("invalid_value", f"{name} {value!r} is not a list of text")


def _text(name: str, value) -> str:
    if isinstance(value, str):
        if "\x00" in value:  # PostgreSQL text cannot hold it
            raise Bad("invalid_text", f"{name} contains a NUL character")
        return value.strip()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(value)  # a code column typed as integer in a GeoPackage or CSV
    raise Bad("invalid_value", f"{name} {value!r} is not text")


def _code(name: str, value) -> str:
    text = _text(name, value)
    if not CODE_PATTERN.fullmatch(text):
        why = "is longer than 64 characters" if len(text) > 64 else \
            "may only hold letters, digits and _ . / -"
        raise Bad("invalid_code", f"{name} '{text}' {why}")
    return text


def _description(name: str, value) -> str:
    text = _text(name, value)
    if len(text) > DESCRIPTION_MAX:
        raise Bad("too_long", f"{name} is {len(text):,} characters long, more than "
                              f"{DESCRIPTION_MAX:,}")
    return text


def _choice(enum, fold):
    members = {member.value: member for member in enum}  # a dict: Enum() lookups are slow
    allowed = ", ".join(members)

    def parse(name: str, value):
        text = _text(name, value)
        member = members.get(fold(text))
        if member is None:
            raise Bad("invalid_enum", f"{name} '{text}' is not one of {allowed}")
        return member
    return parse


_HAZARD_TYPES = {member.value: member for member in HazardType}


def _hazard_types(name: str, value) -> list[HazardType]:
    items = {item.upper(): item for item in parse_list(value, name)}
    allowed = ", ".join(_HAZARD_TYPES)
    if not items:
        raise Bad("missing_property", f"{name} is empty; give at least one of {allowed}")
    wrong = [repr(item) for upper, item in items.items() if upper not in _HAZARD_TYPES]
    if wrong:
        raise Bad("invalid_enum", f"{name} {', '.join(wrong)} "
                                  f"{'is' if len(wrong) == 1 else 'are'} not one of {allowed}")
    return [member for value, member in _HAZARD_TYPES.items() if value in items]  # their order


def _count(name: str, value) -> int:
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip()) if "." in value or "e" in value.lower() \
                else int(value.strip())
        except ValueError:
            number = None
    if isinstance(number, float) and math.isfinite(number) and number.is_integer():
        number = int(number)
    if not isinstance(number, numbers.Integral) or isinstance(number, bool):
        raise Bad("invalid_count", f"{name} {value!r} is not a whole number")
    if not 0 <= number <= COUNT_MAX:
        raise Bad("invalid_count", f"{name} {number} is "
                                   f"{'negative' if number < 0 else 'too large'}")
    return int(number)


def _date(name: str, value) -> date:
    return parse_date(value, name)


PARSERS = {
    "code": _code,
    "hazard": _code,
    "classification": _choice(Classification, str.upper),
    "hazard_types": _hazard_types,
    "method": _choice(ReleaseMethod, str.lower),
    "land_use": _choice(LandUse, str.lower),
    "organisation": _text,
    "description": _description,
    "recorded_on": _date,
    "started_on": _date,
    "completed_on": _date,
    **{device: _count for device in DEVICE_FIELDS},
}
# Per kind: (field, parser, required, value when absent).
_RULES = {kind: [(name, PARSERS[name], name in REQUIRED[kind], 0 if name in DEVICE_FIELDS else None)
                 for name in names] for kind, names in FIELDS.items()}


_KNOWN = {kind: frozenset(names) for kind, names in FIELDS.items()}
_NAMES: dict = {}  # property name as given -> field name; files repeat the same few names


def _field_name(key) -> str:
    name = _NAMES.get(key)
    if name is None:
        name = str(key).strip().lower()
        name = ALIASES.get(name, name)
        if len(_NAMES) < 10_000:
            _NAMES[key] = name
    return name


def _given(kind: str, index: int, properties: dict, problems: list, warnings: list) -> dict:
    """Map property names onto the fields of `kind`, case-insensitively."""
    given: dict = {}
    known = _KNOWN[kind]
    for key, value in properties.items():
        name = _field_name(key)
        if name in known:
            if name in given:
                problems.append(Problem(index, "duplicate_property",
                                        f"property {name} is given twice"))
            given[name] = value
        elif name == "devices" and kind == "releases" and isinstance(value, dict):
            given.update(_given(kind, index, value, problems, warnings))
        else:
            warnings.append(Problem(index, "unknown_property", f"unknown property '{key}' ignored"))
    return given


def check_properties(kind: str, index: int, properties, *, today: date,
                     partial: bool = False) -> tuple[dict, list[Problem], list[Problem]]:
    """Return the normalised fields of `kind`, the problems and the warnings.

    With `partial` (a PATCH) only the given fields are checked and returned; cross-field
    rules then apply only to fields given together.
    """
    problems: list[Problem] = []
    warnings: list[Problem] = []
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        return {}, [Problem(index, "invalid_value", "properties is not an object")], []
    given = _given(kind, index, properties, problems, warnings)
    values: dict = {}
    for name, parse, required, default in _RULES[kind]:
        value = given.get(name)
        if value is None and partial and name not in given:
            continue
        if is_absent(value):
            if required:
                problems.append(Problem(index, "missing_property", f"{name} is required"))
            values[name] = default
            continue
        try:
            values[name] = parse(name, value)
        except Bad as bad:
            problems.append(Problem(index, bad.code, bad.reason))
    for name in ("recorded_on", "completed_on"):
        when = values.get(name)
        if isinstance(when, date) and when > today:
            problems.append(Problem(index, "future_date", f"{name} {when} is in the future"))
    for name in ("recorded_on", "started_on", "completed_on"):
        when = values.get(name)
        if isinstance(when, date) and when < EARLIEST_DATE:
            problems.append(Problem(index, "date_too_early",
                                    f"{name} {when} is before {EARLIEST_DATE}"))
    started, completed = values.get("started_on"), values.get("completed_on")
    if isinstance(started, date) and isinstance(completed, date) and completed < started:
        problems.append(Problem(index, "completed_before_started",
                                f"completed_on {completed} is before started_on {started}"))
    return values, problems, warnings
