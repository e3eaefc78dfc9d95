"""The one place gembatch reads the time of day.

Everything a user sees (durations, ages, log stamps, the times written to the job
file) and everything that decides (stuck and expiring-output warnings, the plain
heartbeat) asks a `Clock`. The program runs on `SYSTEM_CLOCK`; tests hand in a
`FrozenClock` they move by hand, so no test depends on the day it runs.

Waiting is not the clock's business: sleeps and timeouts go through asyncio, which
measures them on the monotonic clock and is unaffected by the date.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone


class Clock:
    """The system's wall clock."""

    def now(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def iso(self, later_s: float = 0.0) -> str:
        """UTC now (or `later_s` from now) in the RFC 3339 form the API and the earlier
        tool write."""
        moment = self.now() + later_s
        return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="seconds")

    def stamp(self) -> str:
        """Local date and time for a log line: `2026-11-25 09:52:37`."""
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.now()))


class FrozenClock(Clock):
    """A clock that stands still until told to move (tests, benchmarks, replays)."""

    def __init__(self, moment: float) -> None:
        self.moment = moment

    def now(self) -> float:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += seconds


SYSTEM_CLOCK = Clock()
