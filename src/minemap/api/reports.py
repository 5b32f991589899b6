"""GET /api/v1/reports/...: the planners' figures, exact per CONTRACT §4, as JSON or CSV."""

import datetime as dt
import math
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from minemap import accounting
from minemap.http.auth import Reader
from minemap.store.access import sees_submissions
from minemap.http.deps import ConnectionDep, SettingsDep
from minemap.errors import InvalidInput
from minemap.reports import to_csv, to_xlsx
from minemap.vocab import EARLIEST_DATE

router = APIRouter(prefix="/reports", tags=["reports"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

AsOf = Annotated[dt.date | None, Query(description="Report date (default: today).")]
Format = Annotated[Literal["json", "csv", "xlsx"], Query(description="json, csv or xlsx.")]
Unit = Annotated[Literal["m2", "ha", "km2"], Query(
    description="Area unit of the CSV and XLSX columns (m2, ha, km2); JSON is always in whole m².")]
Include = Annotated[Literal["submitted"] | None, Query(
    description="'submitted' to count submitted records too (admins and reviewers only).")]


def _as_of(value: dt.date | None, name: str = "as_of") -> dt.date:
    today = dt.date.today()
    if value is not None and value > today:
        raise InvalidInput(f"{name} {value} is in the future")
    if value is not None and value < EARLIEST_DATE:
        raise InvalidInput(f"{name} {value} is before {EARLIEST_DATE}, before any record")
    return value or today


def _respond(body, rows: list[dict], fmt: str, name: str, unit: str) -> Response:
    if fmt == "csv":
        return Response(to_csv(jsonable(rows), unit), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if fmt == "xlsx":
        return Response(to_xlsx(rows, unit, sheet=name.split("-")[0]), media_type=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    return JSONResponse(jsonable(body))


def jsonable(value):
    """Dates as ISO strings, non-finite numbers (which JSON cannot hold) as null; everything
    else as json.dumps would write it."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@router.get("/summary")
def summary(conn: ConnectionDep, settings: SettingsDep, reader: Reader, as_of: AsOf = None,
            format: Format = "json", include: Include = None, unit: Unit = "m2") -> Response:
    """Return the national figures at `as_of`."""
    row = accounting.summary(conn, as_of=_as_of(as_of), baseline_km2=settings.baseline_km2,
                             baseline_date=settings.baseline_date,
                             include_submitted=sees_submissions(reader, include))
    return _respond(row, [row], format, "summary", unit)


@router.get("/districts")
def districts(conn: ConnectionDep, settings: SettingsDep, reader: Reader, as_of: AsOf = None,
              format: Format = "json", include: Include = None, unit: Unit = "m2") -> Response:
    """Return one row per district with mapped or released land at `as_of`."""
    as_of = _as_of(as_of)
    rows = accounting.districts(conn, as_of=as_of, baseline_km2=settings.baseline_km2,
                                baseline_date=settings.baseline_date,
                                include_submitted=sees_submissions(reader, include))
    return _respond({"as_of": as_of, "districts": rows}, rows, format, f"districts-{as_of}", unit)


@router.get("/timeseries")
def timeseries(
    conn: ConnectionDep,
    settings: SettingsDep,
    reader: Reader,
    start: Annotated[dt.date, Query(alias="from", description="First day covered.")],
    end: Annotated[dt.date | None, Query(alias="to", description="Last day (default today).")] = None,
    interval: Literal["month", "year"] = "month",
    format: Format = "json",
    include: Include = None,
    unit: Unit = "m2",
) -> Response:
    """Return, per period, what was released by each method, cumulatively, what remains, and
    the baseline's remainder and projected completion at the period's end."""
    end = _as_of(end, "to")
    _as_of(start, "from")
    if start > end:
        raise InvalidInput(f"from {start} is after to {end}")
    rows = accounting.timeseries(conn, start=start, end=end, interval=interval,
                                 baseline_km2=settings.baseline_km2,
                                 baseline_date=settings.baseline_date,
                                 include_submitted=sees_submissions(reader, include))
    body = {"from": start, "to": end, "interval": interval, "periods": rows}
    return _respond(body, rows, format, f"timeseries-{start}-{end}", unit)
