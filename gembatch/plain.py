"""Plain mode: one timestamped line per engine event, for logs, pipes and CI."""

from __future__ import annotations

import sys
from typing import TextIO

from gembatch import states
from gembatch.clock import SYSTEM_CLOCK, Clock
from gembatch.events import (
    CycleFinished,
    Event,
    JobsLoaded,
    JobStuck,
    JobUpdated,
    JobView,
    OutputExpiring,
    PollFailed,
    RemoteDeleted,
    ResultsMerged,
    ResultsSaved,
)
from gembatch.summary import Totals


def progress_text(job: JobView) -> str:
    if job.request_count is None:
        return ""
    if job.done_count is None:
        return f"{job.request_count} requests"
    return f"{job.done_count}/{job.request_count}"


def describe(event: Event) -> list[str]:
    """The lines an event prints as; most in-flight events print nothing."""
    if isinstance(event, JobsLoaded):
        totals = Totals.of(event.jobs)
        parts = ", ".join(f"{n} {group}" for group, n in totals.counts.items() if n)
        return [f"loaded {totals.total} jobs ({parts or 'none'})", *event.problems]
    if isinstance(event, JobUpdated):
        job = event.job
        info = job.state_info
        before = (
            f"{states.info(event.previous_state).label} → "
            if event.previous_state
            and (states.short_name(event.previous_state) != states.short_name(job.state))
            else ""
        )
        extra = f"  {progress_text(job)}" if progress_text(job) else ""
        return [f"{info.icon} {job.label}: {before}{info.label}{extra}"]
    if isinstance(event, ResultsSaved):
        failed = f", {event.failed_rows} failed rows" if event.failed_rows else ""
        return [f"⇩ {event.job.label}: results saved to {event.path} ({event.lines} lines{failed})"]
    if isinstance(event, RemoteDeleted):
        return [f"🗑 {event.job.label}: deleted remote {', '.join(event.deleted)}"]
    if isinstance(event, ResultsMerged):
        failed = (
            f"; {event.failed:,} rows without a success are in {event.errors_path}"
            if event.failed
            else ""
        )
        return [
            f"⇩ {event.source}: merged results in input order into {event.path} "
            f"({event.succeeded:,} rows{failed})"
        ]
    if isinstance(event, JobStuck):
        return [
            f"⚠ {event.job.label}: still {event.job.state_info.label} after "
            f"{event.hours:.0f}h; the API expires jobs that have not finished in 48h"
        ]
    if isinstance(event, OutputExpiring):
        return [
            f"⚠ {event.job.label}: succeeded {event.hours_since_end:.0f}h ago and its "
            "results are not saved yet; the API deletes outputs after about 48h"
        ]
    if isinstance(event, PollFailed):
        return [f"! {event.message}"]
    if isinstance(event, CycleFinished):
        if event.all_done:
            return ["all jobs are done"]
        errors = f", {event.errors} errors" if event.errors else ""
        return [f"checked {event.checked} jobs{errors}; next poll in {event.next_poll_in:.0f}s"]
    return []


HEARTBEAT_S = 600.0


class PlainPrinter:
    """Prints events as lines with a local timestamp.

    A quiet cycle prints nothing, so a night's log shows what happened; a heartbeat
    line every ten minutes shows the poller is still alive.
    """

    def __init__(self, stream: TextIO | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.stream = stream or sys.stdout
        self.clock = clock
        self._printed_this_cycle = False
        self._last_line_at = 0.0

    def __call__(self, event: Event) -> None:
        if isinstance(event, CycleFinished):
            quiet = not self._printed_this_cycle and not event.all_done
            self._printed_this_cycle = False
            if quiet and self.clock.now() - self._last_line_at < HEARTBEAT_S:
                return
        for line in describe(event):
            self._print(line)

    def _print(self, line: str) -> None:
        print(f"{self.clock.stamp()}  {line}", file=self.stream, flush=True)
        self._printed_this_cycle = True
        self._last_line_at = self.clock.now()
