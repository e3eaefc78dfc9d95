"""Turning raw job values into short human text: durations, local times, progress."""

from __future__ import annotations

import re
import time
from datetime import datetime
from functools import lru_cache


def parse_time(value: object) -> float | None:
    """Seconds since the epoch for an ISO time from the job file, or None (also for a
    field that holds a number or a list after a hand edit)."""
    return _parse_time(value) if isinstance(value, str) and value else None


@lru_cache(maxsize=65536)
def _parse_time(value: str) -> float | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def same_moment(a: object, b: object) -> bool:
    """Two ISO times for the same instant, to the second (precision and zone aside)."""
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    first, second = parse_time(a), parse_time(b)
    return first is not None and second is not None and int(first) == int(second)


def duration(seconds: float | None, live: bool = False) -> str:
    """`3h 45m 30s`, `2d 4h 5m`, `45s`; empty for an unknown duration. `live`: a ticking
    display shows whole minutes (`<1m`, `12m`, `3h 45m`), so it changes, and is
    repainted, once a minute rather than every second: a batch job takes minutes to
    hours, and 23 young jobs ticking each second cost an idle monitor 5% of a core."""
    if seconds is None or seconds < 0:
        return ""
    total = int(seconds)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes:02d}m" if live else f"{hours}h {minutes:02d}m {secs:02d}s"
    if live:
        return f"{minutes}m" if minutes else "<1m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def duration_changes_in(seconds: float, live: bool = False) -> float:
    """Seconds until `duration(seconds, live)` reads differently: a minute where it shows
    no seconds (live, or a day and more), else a second."""
    if seconds < 0:
        return -seconds
    step = 60 if live or seconds >= 86_400 else 1
    return step - seconds % step


def local_time(value: str | None, now: float) -> str:
    """`14:05:09` today, `11-22 14:05` on another day, in the local time zone."""
    if not value:
        return ""
    return _local_time(value, _today(int(now // 60)))


@lru_cache(maxsize=4)
def _today(minute: int) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(minute * 60))


@lru_cache(maxsize=65536)
def _local_time(value: str, today: str) -> str:
    moment = parse_time(value)
    if moment is None:
        return ""
    local = time.localtime(moment)
    if time.strftime("%Y-%m-%d", local) == today:
        return time.strftime("%H:%M:%S", local)
    return time.strftime("%m-%d %H:%M", local)


def clock_time(moment: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(moment))


def job_duration(create_time: str | None, end_time: str | None, now: float) -> float | None:
    """How long a job took, or has taken so far if it is still going."""
    start = parse_time(create_time)
    if start is None:
        return None
    end = parse_time(end_time)
    return (end if end is not None else now) - start


def progress(done: int | None, total: int | None) -> str:
    """`49/90`; `?/90` while the server has said nothing of how far a job is."""
    if total is None:
        return ""
    if done is None:
        return f"?/{total:,}"
    return f"{done:,}/{total:,}"


BAR_WIDTH = 10


def fraction_done(done: int | None, total: int | None) -> float | None:
    """How far a job is, 0.0 to 1.0; None when unknown."""
    if done is None or not total:
        return None
    return max(0.0, min(1.0, done / total))


def bar(fraction: float, width: int = BAR_WIDTH) -> tuple[str, str]:
    """The filled and empty parts of a bar in half cells: (`━━━━╸`, `     `)."""
    halves = round(fraction * width * 2)
    filled = "━" * (halves // 2) + ("╸" if halves % 2 else "")
    return filled, "━" * (width - len(filled))


def short_path(path: str, width: int) -> str:
    """Shorten in the middle, keeping the start (where names like `07-…` differ) and
    more of the end (the file name): `batch/07-ov…longish-name.jsonl`."""
    if len(path) <= width:
        return path
    if width < 8:
        return path[: max(0, width - 1)] + "…"
    head = (width - 1) * 2 // 5
    tail = width - 1 - head
    return path[:head] + "…" + path[-tail:]


def clip(text: str, width: int) -> str:
    """Keep the start of a message, which says what happened: `! Quota exceed…`."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def byte_size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} B"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def printable(text: str, keep_lines: bool = False) -> str:
    """Control characters (an ESC starting a terminal sequence, a CR, a NUL) and lone
    surrogates shown as escapes, so a name in a job file can never drive the terminal
    or fail to print."""
    pattern = _CONTROL_BUT_LINES if keep_lines else _CONTROL  # keep_lines: tabs, newlines
    return pattern.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def compact(count: int) -> str:
    """`950`, `12.3k`, `4.5M`, `1.2B`: big counts at a glance."""
    for limit, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if count >= limit:
            return f"{count / limit:.1f}{unit}"
    return str(count)


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """`1 job`, `2 jobs`, `1,000 inputs`."""
    word = noun if count == 1 else (plural_form or f"{noun}s")
    return f"{count:,} {word}"
