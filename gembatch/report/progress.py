"""How far the run is and when it should end: requests done, cost so far, ETAs.

A job's rate is the requests it has finished per second since it was created, from the
server's `batchStats`; its ETA is what is left at that rate. The run ends when its last
job does, so the run's ETA is the longest ETA of the jobs still going, and unknown while
any of them has not reported progress yet (shown as such, never guessed).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gembatch import formatting, states
from gembatch.report.limits import Spend
from gembatch.report.summary import Cost, add_up, cost_of, group_of

if TYPE_CHECKING:
    from gembatch.jobfile.view import JobView
    from gembatch.report.history import History


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


def eta_changes_in(job: JobView, now: float) -> float:
    """Seconds until `eta_text(job_eta(job, now))` can read differently (infinite when
    the job shows no ETA).

    Between polls a job's counts stand still, so its ETA grows in a straight line: what
    is left, at a rate that falls as time goes by, grows by `left / done` seconds a
    second. Its text changes only where that line crosses a rounding boundary.
    """
    eta = job_eta(job, now)
    if eta is None:
        return math.inf
    return _time_to_reach(_next_boundary(eta), eta, _eta_slope(job))


def _eta_slope(job: JobView) -> float:
    done = job.done_count or 0
    return max(0, (job.request_count or 0) - done) / done if done else 0.0


def _next_boundary(eta: float) -> float:
    """The least ETA from `eta` on whose `eta_text` may differ: minutes are rounded as
    `eta_text` rounds them (to even at a half: then the boundary is `eta` itself), and
    from a day on only whole hours are shown."""
    if eta < 60:
        return 60.0
    minutes = round(eta / 60)
    step = 60 if minutes >= 24 * 60 else 1
    return ((minutes // step + 1) * step - 0.5) * 60


def _time_to_reach(boundary: float, eta: float, slope: float) -> float:
    # A millisecond early: floating-point rounding must never make a redraw late.
    return max(0.0, (boundary - eta) / slope - 0.001) if slope > 0 else math.inf


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
    _etas_at: float | None = field(default=None, repr=False, compare=False)
    _etas: list[float | None] = field(default_factory=list, repr=False, compare=False)
    _fastest_growth: float | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(
        cls,
        jobs: Iterable[JobView],
        prices: dict,
        budget: float | None = None,
        earlier: History | None = None,
    ) -> RunProgress:
        """Over `jobs`, and the settled jobs `earlier` counted (all finished), when given:
        a long history is not gone over again each time a live job changes. The time
        elapsed is that of the jobs given (with a history, the oldest still going, not
        the first of a year of jobs)."""
        run = cls(budget=budget)
        if earlier is not None:
            run.jobs = run.jobs_finished = earlier.totals.total
            run.requests = run.requests_done = earlier.requests
            add_up(run.spend, earlier.spend)
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
        if earlier is not None:
            add_up(run.cost, earlier.cost)
        return run

    @property
    def fraction(self) -> float | None:
        return self.requests_done / self.requests if self.requests else None

    def elapsed(self, now: float) -> float | None:
        return None if self.first_created is None else now - self.first_created

    def changes_in(self, now: float) -> float:
        """Seconds until the run's clock-driven texts (its ETA and elapsed time) can read
        differently. The run's ETA is the largest of its jobs' and grows no faster than
        the fastest-growing of them: it cannot reach the next rounding boundary sooner."""
        eta, _unknown = self.eta(now)
        soonest = math.inf
        if eta is not None:
            if self._fastest_growth is None:  # (counts stand still until the next poll)
                self._fastest_growth = max(map(_eta_slope, self.going), default=0.0)
            soonest = _time_to_reach(_next_boundary(eta), eta, self._fastest_growth)
        elapsed = self.elapsed(now)
        if elapsed is not None and self.going:
            soonest = min(soonest, formatting.duration_changes_in(elapsed, live=True))
        return soonest

    def eta(self, now: float) -> tuple[float | None, int]:
        """Until the slowest job with progress should finish, and how many jobs still
        going have no progress yet (the run cannot end before them: the ETA is then a
        lower bound, and None when no job has progress at all)."""
        etas = self._job_etas(now)
        known = [eta for eta in etas if eta is not None]
        return (max(known) if known else None), len(etas) - len(known)

    def _job_etas(self, now: float) -> list[float | None]:
        """Each going job's ETA at `now`, worked out once for the line and its next
        change (a run of 10,000 jobs: a pass over them costs milliseconds)."""
        if self._etas_at != now:
            self._etas_at, self._etas = now, [job_eta(job, now) for job in self.going]
        return self._etas
