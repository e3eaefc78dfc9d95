"""Totals by state group and the exit codes that report them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gembatch import prices, states

# (The codes' table is on the ground floor: errors carry codes too.)
from gembatch.exit_codes import (
    EXIT_IN_PROGRESS,
    EXIT_OK,
    EXIT_SOME_FAILED,
)
from gembatch.formatting import plural

if TYPE_CHECKING:
    from gembatch.jobfile.view import JobView


GROUPS = ("in progress", "succeeded", "failed", "cancelled/expired", "other")
_GROUP_OF_KIND = {
    states.Kind.PENDING: "in progress",
    states.Kind.RUNNING: "in progress",
    states.Kind.SUCCEEDED: "succeeded",
    states.Kind.FAILED: "failed",
    states.Kind.MISSING: "failed",
    states.Kind.CANCELLED: "cancelled/expired",
    states.Kind.EXPIRED: "cancelled/expired",
    states.Kind.UNKNOWN: "other",
}


def group_of(job: JobView) -> str:
    if not job.batch_name and job.state is None:
        return "other"  # an interrupted submit
    if job.state is None:  # an old-form record not checked yet
        return "in progress"
    if job.results_lost:  # succeeded on the server, but nothing of it reached the disk
        return "failed"
    return _GROUP_OF_KIND[states.info(job.state).kind]


# The groups of the kinds that did not succeed ("failed", "cancelled/expired").
FAILED_GROUPS = frozenset(_GROUP_OF_KIND[kind] for kind in states.DID_NOT_SUCCEED)


def did_not_succeed(job: JobView) -> bool:
    """A job that ended without its results: failed, cancelled, expired, gone, or its
    output lost before it was saved (what summaries list with their reason)."""
    return group_of(job) in FAILED_GROUPS


def failure_reason(job: JobView) -> str:
    return job.last_error or job.state_info.label


@dataclass
class Totals:
    """Jobs counted by group, plus rows that failed inside succeeded jobs."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GROUPS, 0))
    failed_rows: int = 0
    jobs_with_failed_rows: int = 0
    unsaved: int = 0  # succeeded, results not on disk yet
    total: int = 0

    @classmethod
    def of(cls, jobs: Iterable[JobView]) -> Totals:
        totals = cls()
        for job in jobs:
            totals.add(job)
        return totals

    def add(self, job: JobView, sign: int = 1) -> None:
        """Count one more job (a stream of a million need not be kept); `sign` -1 takes
        one counted before back out."""
        group = group_of(job)
        self.total += sign
        self.counts[group] += sign
        if group == "succeeded" and job.failed_count:
            self.failed_rows += sign * job.failed_count
            self.jobs_with_failed_rows += sign
        if group == "succeeded" and job.results_wanted and not job.results_file:
            self.unsaved += sign

    def plus(self, other: Totals) -> Totals:
        """These counts and those of other jobs, together (a new tally)."""
        both = dataclasses.replace(self, counts=dict(self.counts))
        add_up(both, other)
        return both

    def breakdown(self) -> str:
        """`3 succeeded, 1 failed`: the groups that have jobs."""
        return ", ".join(f"{n:,} {group}" for group, n in self.counts.items() if n)

    def exit_code(self) -> int:
        """ "Done" (0) only when every result is on disk: unsaved results are unfinished."""
        if self.counts["in progress"] or self.counts["other"] or self.unsaved:
            return EXIT_IN_PROGRESS
        if self.counts["failed"] or self.counts["cancelled/expired"]:
            return EXIT_SOME_FAILED
        return EXIT_OK


# --- tokens and cost: one figure for status, the detail screen and the plain summary ---
@dataclass
class Cost:
    """Tokens used by saved results and their estimated cost at batch prices."""

    prompt_tokens: int = 0
    output_tokens: int = 0
    dollars: float = 0.0
    priced: int = 0
    unpriced: int = 0  # jobs of models the price table does not know

    def add(self, job: JobView, overrides: dict, sign: int = 1) -> float | None:
        """Count one more job's tokens and cost (`sign` -1: take it back out); returns
        the job's cost, as `job_cost` says it (so a tally that also counts the spend
        prices each job once)."""
        usage = job.usage
        if not usage:
            return None
        prompt, output = prices.token_counts(usage)
        self.prompt_tokens += sign * prompt
        self.output_tokens += sign * output
        price = prices.price_for(job.model, overrides)
        if price is None:
            self.unpriced += sign
            return None
        dollars = prices.at_price(prompt, output, price)
        self.dollars += sign * dollars
        self.priced += sign
        return dollars

    def line(self) -> str:
        if not self.priced and not self.unpriced:
            return ""
        unpriced = plural(self.unpriced, "job")
        note = f", {unpriced} of unknown models not counted" if self.unpriced else ""
        return (
            f"tokens: {self.prompt_tokens:,} in, {self.output_tokens:,} out; estimated cost "
            f"{prices.dollars(self.dollars)} at batch prices (table of {prices.PRICES_AS_OF}"
            f"{note})"
        )


def add_up(tally: Any, more: Any) -> None:
    """Add each count of `more` to `tally` (dataclasses of numbers and of dicts of them:
    `Totals`, `Cost`, `Spend`), for tallies made apart (two halves, history and live)."""
    for name in (f.name for f in dataclasses.fields(tally)):
        mine, theirs = getattr(tally, name), getattr(more, name)
        if isinstance(mine, dict):
            for key, value in theirs.items():
                mine[key] = mine.get(key, 0) + value
        else:
            setattr(tally, name, mine + theirs)


def job_cost(job: JobView, overrides: dict) -> float | None:
    """One job's estimated cost, None when it has no usage or an unknown model."""
    usage = job.usage
    if not usage:
        return None
    return prices.estimate(usage, prices.price_for(job.model, overrides))


def cost_of(jobs: Iterable[JobView], overrides: dict) -> Cost:
    cost = Cost()
    for job in jobs:
        cost.add(job, overrides)
    return cost


def price_overrides(configured: dict) -> tuple[dict, str | None]:
    """The config file's prices, then a GEMBATCH_PRICES file's, over the built-in table;
    and a one-line problem when that file cannot be used."""
    import os
    from pathlib import Path

    overrides = dict(configured)
    path = os.environ.get("GEMBATCH_PRICES")
    if not path:
        return overrides, None
    try:
        overrides.update(prices.load_overrides(Path(path)))
    except prices.PriceError as problem:
        return overrides, f"{problem}; using the built-in price table"
    return overrides, None
