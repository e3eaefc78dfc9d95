"""What a budget and a queue size may be: one rule for the flags, the config file and
the job file's limits line (kept on the ground floor, as the config checks them too)."""

from __future__ import annotations

import math
from typing import Any


class LimitError(ValueError):
    """A limit that cannot be used; the message says which and what to give instead."""


def checked_cost(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise LimitError(f"a budget must be a number of dollars, not {value!r}")
    try:
        amount = float(value)
    except ValueError:
        raise LimitError(f"a budget must be a number of dollars, not {value!r}") from None
    if not math.isfinite(amount) or amount <= 0:
        raise LimitError(f"a budget must be more than $0, not {value}")
    return amount


def checked_running(value: Any) -> int | None:
    """A queue size from a flag (text), the config or the job file (a number)."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LimitError(f"at most N running jobs needs N of 1 or more, not {value!r}")
    return value
