"""Account for land release exactly: mapped, released and remaining land by district and date."""

from minemap.accounting.pieces import rebuild, refresh
from minemap.accounting.reports import districts, summary, timeseries

__all__ = ["districts", "rebuild", "refresh", "summary", "timeseries"]
