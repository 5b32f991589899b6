"""Planners' reports in the terminal, as CSV or as JSON."""

import datetime as dt
import json
from enum import Enum
from typing import Annotated

import typer

from minemap.cli.common import app, out, reports_errors, settings_of
from minemap.db.engine import make_engine, transaction

report_app = typer.Typer(help="Planners' reports.", no_args_is_help=True)
app.add_typer(report_app, name="report")


class ReportFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


@report_app.command("districts")
@reports_errors
def report_districts(
    ctx: typer.Context,
    as_of: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"],
                                                      help="Report date (default today).")] = None,
    format: Annotated[ReportFormat, typer.Option(help="table, csv or json.")] = ReportFormat.table,
) -> None:
    """Print mapped, released and remaining land per district, and the national total."""
    from minemap import accounting
    from minemap.reports import district_table, to_csv

    settings = settings_of(ctx)
    day = as_of.date() if as_of else dt.date.today()
    baseline = dict(baseline_km2=settings.baseline_km2, baseline_date=settings.baseline_date)
    with transaction(make_engine(settings)) as conn:
        rows = accounting.districts(conn, as_of=day, **baseline)
        total = accounting.summary(conn, as_of=day, **baseline)
    if format is ReportFormat.json:
        print(json.dumps({"as_of": day, "districts": rows, "national": total}, default=str, indent=2))
    elif format is ReportFormat.csv:
        print(to_csv(rows), end="")
    else:
        out.print(district_table(day, rows, total, out.width))

