"""Shape accounting results as tables: rows flattened for CSV and for the terminal."""

import csv
import io


def flatten(row: dict) -> dict:
    """Return `row` with nested `devices` spread into devices_<type> columns."""
    flat = {}
    for key, value in row.items():
        if isinstance(value, dict):
            flat.update({f"{key}_{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def to_csv(rows: list[dict]) -> str:
    rows = [flatten(r) for r in rows]
    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
