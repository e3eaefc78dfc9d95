"""How far the run is and when it should end: requests done, cost so far, ETAs.

A job's rate is the requests it has finished per second since it was created, from the
server's `batchStats`; its ETA is what is left at that rate. The run ends when its last
job does, so the run's ETA is the longest ETA of the jobs still going, and unknown while
any of them has not reported progress yet (shown as such, never guessed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gembatch import formatting, states
from gembatch.limits import Spend
from gembatch.summary import Cost, cost_of, group_of

if TYPE_CHECKING:
    from gembatch.events import JobView


def job_eta(job: JobView, now: float) -> float | None:
    """Seconds until a running job should finish, from its progress so far; None when
    it has not reported progress (or is not running)."""
    if states.is_terminal(job.state) or not job.request_count or not job.done_count:
        return None
    elapsed = formatting.job_duration(job.create_time, None, now)
    if elapsed is None or elapsed <= 0:
        return None
    left = max(0, job.request_count - job.done_count)
    return left / (job.done_count / elapsed)


def eta_text(seconds: float | None) -> str:
    """`~12m`, `~2h 05m`; empty when unknown."""
    if seconds is None:
        return ""
    if seconds < 60:
        return "<1m"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"~{days}d {hours}h"
    return f"~{hours}h {minutes:02d}m" if hours else f"~{minutes}m"


@dataclass
class RunProgress:
    """The whole run at a glance; counted when jobs change, timed on each tick."""

    requests: int = 0
    requests_done: int = 0
    requests_unknown: int = 0  # requests of jobs that have not reported progress
    jobs: int = 0
    jobs_finished: int = 0
    first_created: float | None = None
    cost: Cost = field(default_factory=Cost)
    spend: Spend = field(default_factory=Spend)  # held against `budget`
    budget: float | None = None
    queued: int = 0  # parts waiting in the local queue
    going: list[JobView] = field(default_factory=list)  # jobs whose ETA counts

    @classmethod
    def of(cls, jobs: Iterable[JobView], prices: dict, budget: float | None = None) -> RunProgress:
        run = cls(budget=budget)
        views = list(jobs)
        for job in views:
            run.spend.add(job, prices)
            run.queued += job.state == states.QUEUED_HERE
            run.jobs += 1
            total = job.request_count or 0
            run.requests += total
            created = formatting.parse_time(job.create_time)
            if created is not None and (run.first_created is None or created < run.first_created):
                run.first_created = created
            if states.is_terminal(job.state) and group_of(job) != "other":
                run.jobs_finished += 1
                run.requests_done += total
                continue
            if job.done_count is None:
                run.requests_unknown += total
            else:
                run.requests_done += min(job.done_count, total)
            run.going.append(job)
        run.cost = cost_of(views, prices)
        return run

    @property
    def fraction(self) -> float | None:
        return self.requests_done / self.requests if self.requests else None

    def elapsed(self, now: float) -> float | None:
        return None if self.first_created is None else now - self.first_created

    def eta(self, now: float) -> tuple[float | None, int]:
        """Until the slowest job with progress should finish, and how many jobs still
        going have no progress yet (the run cannot end before them: the ETA is then a
        lower bound, and None when no job has progress at all)."""
        etas = [job_eta(job, now) for job in self.going]
        known = [eta for eta in etas if eta is not None]
        return (max(known) if known else None), len(etas) - len(known)
