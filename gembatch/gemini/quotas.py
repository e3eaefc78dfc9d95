"""When the API's daily quotas start again.

Quotas counted per day reset at midnight Pacific time (the Gemini API's rate-limits
page: "Requests per day (RPD) quotas reset at midnight Pacific time"). A 429 naming
such a quota (its QuotaFailure id ends `PerDay`, python-genai#2044) is not worth a
retry before then: the local queue waits for the reset instead of knocking every cycle.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo

PACIFIC = "America/Los_Angeles"


def _pacific() -> tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(PACIFIC)
    except Exception:  # no time zone data on this system: standard time, an hour late at worst
        return timezone(timedelta(hours=-8))


def next_daily_reset(now: float) -> float:
    """The first midnight in Pacific time after `now` (seconds since the epoch)."""
    zone = _pacific()
    local = datetime.fromtimestamp(now, zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone) + timedelta(days=1)
    # (built from the date, not by adding 24 h to a time: right across a DST change)
    return datetime(midnight.year, midnight.month, midnight.day, tzinfo=zone).timestamp()
