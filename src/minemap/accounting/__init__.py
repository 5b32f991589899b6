"""Account for land release exactly: mapped, released and remaining land by district and date."""

from minemap.accounting.pieces import rebuild, refresh, require_current
from minemap.accounting.reports import districts, summary
from minemap.accounting.timeseries import timeseries

__all__ = ["districts", "rebuild", "refresh", "require_current", "summary", "timeseries"]
