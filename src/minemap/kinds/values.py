"""Parse the values of record fields as field files and clients write them.

Each parser takes the field's name and a value that is not absent (see `is_absent`) and
returns the normalised value, or raises Bad with the problem code and reason. They are
lenient where field tools differ (enums in any case, lists as text, dates with times,
counts as text or whole floats) and strict about what would be stored wrongly.
"""

import json
import math
import numbers
import re
from datetime import date, datetime

CODE_PATTERN = re.compile(r"[A-Za-z0-9_./-]{1,64}")
DESCRIPTION_MAX = 2000
COUNT_MAX = 2**31 - 1  # count columns are PostgreSQL integers

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


def as_text(name: str, value) -> str:
    if isinstance(value, str):
        if "\x00" in value:  # PostgreSQL text cannot hold it
            raise Bad("invalid_text", f"{name} contains a NUL character")
        return value.strip()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(value)  # a code column typed as integer in a GeoPackage or CSV
    raise Bad("invalid_value", f"{name} {value!r} is not text")


def code(name: str, value) -> str:
    text = as_text(name, value)
    if not CODE_PATTERN.fullmatch(text):
        why = "is longer than 64 characters" if len(text) > 64 else \
            "may only hold letters, digits and _ . / -"
        raise Bad("invalid_code", f"{name} '{text}' {why}")
    return text


def description(name: str, value) -> str:
    text = as_text(name, value)
    if len(text) > DESCRIPTION_MAX:
        raise Bad("too_long", f"{name} is {len(text):,} characters long, more than "
                              f"{DESCRIPTION_MAX:,}")
    return text


def choice(enum, fold=str):
    members = {member.value: member for member in enum}  # a dict: Enum() lookups are slow
    allowed = ", ".join(members)

    def parse(name: str, value):
        text = as_text(name, value)
        member = members.get(fold(text))
        if member is None:
            raise Bad("invalid_enum", f"{name} '{text}' is not one of {allowed}")
        return member
    return parse


def choices(enum):
    """Return the parser of a non-empty list of `enum` members (any case), in `enum`'s order."""
    members = {member.value: member for member in enum}
    allowed = ", ".join(members)

    def parse(name: str, value) -> list:
        items = {item.upper(): item for item in parse_list(value, name)}
        if not items:
            raise Bad("missing_property", f"{name} is empty; give at least one of {allowed}")
        wrong = [repr(item) for upper, item in items.items() if upper not in members]
        if wrong:
            raise Bad("invalid_enum", f"{name} {', '.join(wrong)} "
                                      f"{'is' if len(wrong) == 1 else 'are'} not one of {allowed}")
        return [member for value, member in members.items() if value in items]
    return parse


def count(name: str, value) -> int:
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


def day(name: str, value) -> date:
    return parse_date(value, name)
