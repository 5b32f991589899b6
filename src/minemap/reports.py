"""Shape accounting results as tables: rows flattened for CSV and for the terminal."""

import csv
import io
from decimal import Decimal

# Decimal places of each unit from whole square metres: the conversion is exact.
UNITS = {"m2": 0, "ha": 4, "km2": 6}


def flatten(row: dict) -> dict:
    """Return `row` with nested `devices` spread into devices_<type> columns."""
    flat = {}
    for key, value in row.items():
        if isinstance(value, dict):
            flat.update({f"{key}_{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def in_unit(row: dict, unit: str) -> dict:
    """Return `row` with its whole-m² `*_m2` columns as `*_<unit>`, written exactly."""
    if unit == "m2":
        return row
    places = UNITS[unit]
    return {(key.removesuffix("_m2") + f"_{unit}" if key.endswith("_m2") else key):
            (format(Decimal(value).scaleb(-places), "f")
             if key.endswith("_m2") and isinstance(value, int) else value)
            for key, value in row.items()}


def to_csv(rows: list[dict], unit: str = "m2") -> str:
    """Return `rows` as CSV, areas in `unit` (m2, ha or km2)."""
    rows = [in_unit(flatten(r), unit) for r in rows]
    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
