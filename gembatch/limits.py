"""The run's limits, kept in the job file: a budget and the size of the local queue.

`submit --max-cost USD` and `--max-running N` (or the config's `max_cost` and
`max_running`) write them to one settings line of the job file, so the poller, a later
submit and a restarted run all obey the same numbers. The spend they are held against
is counted from the jobs: the actual cost of jobs with results, plus the estimate of
jobs created and not finished (an estimate is stored on each job submitted under a
budget).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gembatch import prices
from gembatch.jobfile import JobFile, LimitsRecord
from gembatch.summary import group_of, job_cost

if TYPE_CHECKING:
    from gembatch.events import JobView


class LimitError(ValueError):
    """A limit that cannot be used; the message says which and what to give instead."""


@dataclass(frozen=True)
class Limits:
    """None: no limit."""

    max_cost_usd: float | None = None
    max_running: int | None = None

    @property
    def any(self) -> bool:
        return self.max_cost_usd is not None or self.max_running is not None

    @classmethod
    def of(cls, job_file: JobFile) -> Limits:
        record = job_file.limits
        return cls.from_values(record.values if record is not None else {})

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> Limits:
        """Read leniently: a hand-edited value that is not a valid limit is no limit."""
        try:
            cost = checked_cost(values.get("max_cost_usd"))
        except LimitError:
            cost = None
        try:
            running = checked_running(values.get("max_running"))
        except LimitError:
            running = None
        return cls(cost, running)

    def over(self, other: Limits) -> Limits:
        """These limits where set, `other`'s where not."""
        return Limits(
            self.max_cost_usd if self.max_cost_usd is not None else other.max_cost_usd,
            self.max_running if self.max_running is not None else other.max_running,
        )


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


def save_limits(job_file: JobFile, limits: Limits) -> None:
    """Write the limits given over those in the file (one settings line)."""
    if not limits.any:
        return
    with job_file.write_lock:
        job_file.refresh()
        record = job_file.limits
        merged = limits.over(Limits.of(job_file))
        values = {
            "max_cost_usd": merged.max_cost_usd,
            "max_running": merged.max_running,
            "set_at": job_file.clock.iso(),
        }
        if record is None:
            job_file.append(LimitsRecord(raw={LimitsRecord.FIELD: values}))
        elif {k: v for k, v in record.values.items() if k != "set_at"} != {
            k: v for k, v in values.items() if k != "set_at"
        }:
            record.raw[LimitsRecord.FIELD] = values
            job_file.save()


# --- spend ------------------------------------------------------------------------------
@dataclass
class Spend:
    """What the jobs of a job file have cost and are expected to cost."""

    actual: float = 0.0  # jobs with results: their usage at batch prices
    committed: float = 0.0  # created and not finished: their estimates
    unknown: int = 0  # created, no usage yet and no estimate (submitted without a budget)

    @property
    def total(self) -> float:
        return self.actual + self.committed

    def add(self, job: JobView, overrides: dict) -> None:
        if job.usage:
            self.actual += job_cost(job, overrides) or 0.0
        elif job.batch_name and group_of(job) in ("in progress", "succeeded"):
            if job.estimate_usd is None:
                self.unknown += 1
            else:
                self.committed += job.estimate_usd

    def line(self, budget: float | None) -> str:
        """`$1.20 spent + $0.40 expected of a $5.00 budget`."""
        text = f"{prices.dollars(self.actual)} spent"
        if self.committed:
            text += f" + {prices.dollars(self.committed)} expected"
        if budget is not None:
            text += f" of a {prices.dollars(budget)} budget"
        if self.unknown:
            text += f" ({self.unknown} jobs without an estimate not counted)"
        return text


def over_budget(spend: Spend, cost: float, budget: float | None) -> bool:
    """Whether creating a part estimated at `cost` would take the spend past the budget
    (the launcher's rule, and what `status` explains)."""
    return budget is not None and spend.total + cost > budget


def spend_of(jobs: Iterable[JobView], overrides: dict) -> Spend:
    spend = Spend()
    for job in jobs:
        spend.add(job, overrides)
    return spend
