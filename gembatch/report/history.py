"""The settled part of a job file, counted once and never viewed again.

A job file that has run for months is mostly history: groups of jobs that are finished,
saved and cleaned up, which no cycle will change. A run needs of them only what its
start line, its closing summary, its exit code and the budget say: counts by group,
tokens and cost, the spend, the first few failures and how many there are. Those are
tallied here as each record settles (from the one parse the work list makes of it), so
that a poll over a million records costs what its live jobs cost, not what the file
holds. The full-screen table is the one place that shows every old job, row by row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gembatch.jobfile.view import JobView
from gembatch.report.limits import Spend
from gembatch.report.summary import Cost, Totals, did_not_succeed, failure_reason

# Older failures a summary lists by name; the rest are counted, with the command that
# lists them all (a history of 10,000 failed jobs is not a summary).
LISTED_FAILURES = 20


def folder_of(results_file: str) -> str:
    """The folder a results path (relative to the job file) names, as summaries show it."""
    return results_file.rpartition("/")[0] or "."


@dataclass
class History:
    """Settled jobs, counted: add a job as it settles; remove one that turned out not
    to (its group still has work), with the same view."""

    overrides: dict = field(default_factory=dict)  # price overrides, for cost and spend
    totals: Totals = field(default_factory=Totals)
    cost: Cost = field(default_factory=Cost)
    spend: Spend = field(default_factory=Spend)
    # (key, label, reason) of the first failures, in file order
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    failure_count: int = 0
    folders: set[str] = field(default_factory=set)  # where results were saved
    requests: int = 0  # of the settled jobs (all finished): the monitor's overview

    def add(self, job: JobView, sign: int = 1) -> None:
        self.totals.add(job, sign)
        self.spend.add_priced(job, self.cost.add(job, self.overrides, sign), sign)
        if did_not_succeed(job):
            self.failure_count += sign
            if sign > 0 and len(self.failures) < LISTED_FAILURES:
                self.failures.append((job.key, job.label, failure_reason(job)))
            elif sign < 0:
                self.failures = [f for f in self.failures if f[0] != job.key]
        self.requests += sign * (job.request_count or 0)
        if job.results_file and sign > 0:
            self.folders.add(folder_of(job.results_file))

    def remove(self, job: JobView) -> None:
        self.add(job, -1)


@dataclass
class RunReport:
    """What a run's end reports: the jobs it can still change, those that settled during
    it, and the history (which counts the latter too)."""

    live: list[JobView]
    settled_now: list[JobView]
    history: History
    base: Path | None = None  # the job file's folder: results paths are relative to it

    @property
    def totals(self) -> Totals:
        return self.history.totals.plus(Totals.of(self.live))

    def exit_code(self) -> int:
        return self.totals.exit_code()
