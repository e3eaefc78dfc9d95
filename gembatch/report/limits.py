"""The run's limits, kept in the job file: a budget and the size of the local queue.

`submit --max-cost USD` and `--max-running N` (or the config's `max_cost` and
`max_running`) write them to one settings line of the job file, so the poller, a later
submit and a restarted run all obey the same numbers. The spend they are held against
is counted from the jobs: the actual cost of jobs with results, plus the estimate of
jobs created and not finished (an estimate is stored on each job submitted under a
budget).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gembatch import prices
from gembatch.formatting import plural
from gembatch.jobfile.file import BadLine, JobFile, LimitsRecord
from gembatch.limit_rules import LimitError, checked_cost, checked_running
from gembatch.report.summary import group_of, job_cost

if TYPE_CHECKING:
    from gembatch.jobfile.view import JobView


@dataclass(frozen=True)
class Limits:
    """None: no limit. `problem`: the job file's limits line cannot be read, so nothing
    queued may be created (limits fail closed: a damaged line must never lift them)."""

    max_cost_usd: float | None = None
    max_running: int | None = None
    problem: str = ""

    @property
    def any(self) -> bool:
        return self.max_cost_usd is not None or self.max_running is not None or bool(self.problem)

    @classmethod
    def of(cls, job_file: JobFile) -> Limits:
        for bad in job_file.bad_lines:  # (a line that does not parse keeps no record)
            if LimitsRecord.FIELD.encode() in bad.data:
                return cls(
                    problem=f"{job_file.path}:{bad.line_number}: {damaged('it is not valid JSON')}"
                )
        record = job_file.limits
        if record is None:
            return cls()
        return cls.from_values(record.data.get(LimitsRecord.FIELD), str(job_file.path))

    @classmethod
    def in_bad_lines(cls, bad_lines: Iterable[BadLine], path: str) -> Limits | None:
        """A limits line that does not parse (it keeps no record, only its bytes)."""
        for bad in bad_lines:
            if LimitsRecord.FIELD.encode() in bad.data:
                return cls(problem=f"{path}:{bad.line_number}: {damaged('it is not valid JSON')}")
        return None

    @classmethod
    def from_values(cls, values: Any, where: str = "the job file") -> Limits:
        """The one reading of a limits line: a value that is not a valid limit makes the
        whole line unreadable, never "no limit"."""
        if not isinstance(values, dict):
            return cls(problem=f"{where}: {damaged(f'it holds {values!r}, not limits')}")
        try:
            return cls(
                checked_cost(values.get("max_cost_usd")), checked_running(values.get("max_running"))
            )
        except LimitError as error:
            return cls(problem=f"{where}: {damaged(str(error))}")

    def over(self, other: Limits) -> Limits:
        """These limits where set, `other`'s where not (a damaged line's count as none:
        the user is setting them again)."""
        return Limits(
            self.max_cost_usd if self.max_cost_usd is not None else other.max_cost_usd,
            self.max_running if self.max_running is not None else other.max_running,
        )


def damaged(why: str) -> str:
    """What to say about a limits line that cannot be read, and what to do."""
    return (
        f"the limits line cannot be read ({why}); every queued part is held until it is "
        "fixed: set the limits again with `gembatch submit --max-cost USD --max-running N`"
    )


def save_limits(job_file: JobFile, limits: Limits) -> str:
    """Write the limits given over those in the file (one settings line); what changed,
    in a line ("" when nothing was given)."""
    if not limits.any:
        return ""
    before = Limits.of(job_file)
    with job_file.write_lock:
        job_file.refresh()
        record = job_file.limits
        merged = limits.over(Limits.of(job_file))
        if _drop_damaged(job_file):
            record = job_file.limits
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
    return _changes(before, merged)


def _changes(before: Limits, after: Limits) -> str:
    """`budget: $5.00 → $7.50; jobs at once: 4 (unchanged)`."""
    was_cost, now_cost = (
        "none" if value is None else prices.dollars(value)
        for value in (before.max_cost_usd, after.max_cost_usd)
    )
    was_running, now_running = (
        "no limit" if value is None else str(value)
        for value in (before.max_running, after.max_running)
    )
    if before.problem:
        was_cost = was_running = "unreadable"
    parts = []
    for name, was, now in (
        ("budget", was_cost, now_cost),
        ("jobs at once", was_running, now_running),
    ):
        parts.append(f"{name}: {was} → {now}" if was != now else f"{name}: {now} (unchanged)")
    return "; ".join(parts)


def _drop_damaged(job_file: JobFile) -> bool:
    """The user sets the limits again: a limits line that does not parse gives way to the
    new one (one that parses is overwritten in place by the caller)."""
    damaged_lines = [
        entry
        for entry in job_file.entries
        if isinstance(entry, BadLine) and LimitsRecord.FIELD.encode() in entry.data
    ]
    for entry in damaged_lines:
        job_file.entries.remove(entry)
    return bool(damaged_lines)


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

    def add(self, job: JobView, overrides: dict, sign: int = 1) -> None:
        """Count one more job (`sign` -1: take one counted before back out)."""
        self.add_priced(job, job_cost(job, overrides) if job.usage else None, sign)

    def add_priced(self, job: JobView, cost: float | None, sign: int = 1) -> None:
        """`add`, with the job's `job_cost` already worked out (by `Cost.add`)."""
        if job.usage:
            self.actual += sign * (cost or 0.0)
        elif job.batch_name and group_of(job) in ("in progress", "succeeded"):
            if job.estimate_usd is None:
                self.unknown += sign
            else:
                self.committed += sign * job.estimate_usd

    def line(self, budget: float | None) -> str:
        """`$1.20 spent + $0.40 expected of a $5.00 budget`."""
        text = f"{prices.dollars(self.actual)} spent"
        if self.committed:
            text += f" + {prices.dollars(self.committed)} expected"
        if budget is not None:
            text += f" of a {prices.dollars(budget, self.total)} budget"
        if self.unknown:
            text += f" ({plural(self.unknown, 'job')} without an estimate not counted)"
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
