"""Check and normalise the properties of a feature of any kind (kinds.spec declares them).

Names are matched case-insensitively, with the 10-character names Shapefiles cut them to;
values are parsed and bounded by the kind's pydantic model (kinds.models); then the rules
across fields: no date in the future or before EARLIEST_DATE, and the kind's date order.
"""

from datetime import date

from pydantic import ValidationError

from minemap.errors import Problem
from minemap.kinds import KINDS, models
from minemap.kinds.values import Bad, is_absent, parse_date, parse_list
from minemap.vocab import EARLIEST_DATE

__all__ = ["Bad", "check_properties", "is_absent", "parse_date", "parse_list"]

# Shapefiles cut field names to 10 characters (CLASSIFICA, RECORDED_O...); accept those too.
ALIASES = {name[:10]: name for spec in KINDS.values() for name in spec.inputs if len(name) > 10}
ALIASES["organization"] = "organisation"

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
    spec = KINDS[kind]
    for key, value in properties.items():
        name = _field_name(key)
        if name in spec.by_name:
            if name in given:
                problems.append(Problem(index, "duplicate_property",
                                        f"property {name} is given twice"))
            given[name] = value
        elif name in spec.groups and isinstance(value, dict):
            given.update(_given(kind, index, value, problems, warnings))
        else:
            warnings.append(Problem(index, "unknown_property", f"unknown property '{key}' ignored"))
    return given


def _across(kind: str, index: int, values: dict, today: date) -> list[Problem]:
    """Return the problems of the rules across fields, on the fields `values` holds."""
    spec, problems = KINDS[kind], []
    for field in spec.dates:
        when = values.get(field.name)
        if field.not_future and isinstance(when, date) and when > today:
            problems.append(Problem(index, "future_date", f"{field.name} {when} is in the future"))
    for field in spec.dates:
        when = values.get(field.name)
        if isinstance(when, date) and when < EARLIEST_DATE:
            problems.append(Problem(index, "date_too_early",
                                    f"{field.name} {when} is before {EARLIEST_DATE}"))
    for first, then in spec.order:
        earlier, later = values.get(first), values.get(then)
        if isinstance(earlier, date) and isinstance(later, date) and later < earlier:
            problems.append(Problem(index, f"{then.removesuffix('_on')}_before_"
                                           f"{first.removesuffix('_on')}",
                                    f"{then} {later} is before {first} {earlier}"))
    return problems


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
    spec = KINDS[kind]
    # Absent values are left out: a required one is then missing, an optional one defaulted.
    # A PATCH that gives one explicitly clears it (or, if required, is refused).
    cleared = [name for name, value in given.items() if is_absent(value)]
    for name in cleared:
        del given[name]
    found: list[tuple[str, Problem]] = []  # (field, problem), put in the fields' order below
    try:
        values = models.properties(kind, partial=partial).model_validate(given).model_dump(
            exclude_unset=partial)
    except ValidationError as error:
        found = models.problems_of(error, index)
        # The fields that are right still count (a code given twice is named as well).
        values = {name: spec.by_name[name].parse(name, value) for name, value in given.items()
                  if name not in {name for name, _ in found}}
        if not partial:
            values |= {f.name: f.default for f in spec.fields
                       if f.name not in given and not f.required}
    for name in cleared if partial else ():
        if spec.by_name[name].required:
            found.append((name, Problem(index, "missing_property", f"{name} is required")))
        else:
            values[name] = spec.by_name[name].default
    problems += [problem for _, problem in sorted(found, key=lambda f: spec.inputs.index(f[0]))]
    problems += _across(kind, index, values, today)
    return values, problems, warnings
