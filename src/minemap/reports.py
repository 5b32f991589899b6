"""Shape accounting results as tables: rows flattened for CSV and for the terminal."""

import csv
import datetime as dt
import io
from decimal import Decimal

from openpyxl import Workbook
from rich.table import Table

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


def to_xlsx(rows: list[dict], unit: str = "m2", sheet: str = "report") -> bytes:
    """Return `rows` as an XLSX workbook of one sheet: numbers as numbers, dates as dates,
    areas in `unit` (m2, ha or km2)."""
    book = Workbook(write_only=True)
    table = book.create_sheet(sheet[:31])  # Excel's limit on a sheet's name
    rows = [in_unit(flatten(r), unit) for r in rows]
    if rows:
        table.append(list(rows[0]))
        for row in rows:
            # in_unit writes converted areas exactly as text; a spreadsheet wants numbers.
            table.append([float(v) if k.endswith(f"_{unit}") and isinstance(v, str) else v
                          for k, v in row.items()])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


AREA_COLUMNS = ("mapped", "released", "cancelled", "reduced", "cleared", "remaining")
# What a narrower terminal keeps, widest first; the remaining land is dropped last.
LAYOUTS = ((AREA_COLUMNS, True), (("mapped", "released", "remaining"), True),
           (("mapped", "released", "remaining"), False), (("remaining",), False))


def district_table(day: dt.date, rows: list[dict], total: dict, width: int) -> Table:
    """The district report as a table no wider than `width`; a figure is never cut.

    Figures are never wrapped or shortened: when the terminal is too narrow, columns are
    dropped (the caption says which, and where to find them) and the names wrap instead.
    """
    def km2(row: dict, column: str) -> str:
        return f"{row[f'{column}_m2'] / 1e6:,.2f}"

    def widest(column: str) -> int:
        return max(len(column), *(len(km2(r, column)) for r in [*rows, total]))

    def needed(columns: tuple, dated: bool) -> int:
        # Each column's widest cell, 10 for names and for dates, 3 per column for padding.
        return (1 + 3 * (len(columns) + 1 + dated) + sum(map(widest, columns)) + 10
                + 10 * dated)

    columns, dated = next((layout for layout in LAYOUTS if needed(*layout) <= width),
                          LAYOUTS[-1])
    dropped = [c for c in AREA_COLUMNS if c not in columns] + ([] if dated else ["completion"])
    caption = (f"not shown here: {', '.join(dropped)}; see a wider terminal or --format csv"
               if dropped else None)
    table = Table(title=f"Land release by district, as of {day} (km²)", caption=caption,
                  show_footer=True)
    table.add_column("district", footer="national", overflow="fold", min_width=10)
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True, min_width=widest(column),
                         footer=km2(total, column))
    if dated:
        table.add_column("projected completion", min_width=10,
                         footer=str(total["projected_completion"] or "–"))
    for row in rows:
        table.add_row(row["district"], *(km2(row, c) for c in columns),
                      *([str(row.get("projected_completion") or "–")] if dated else []))
    return table
