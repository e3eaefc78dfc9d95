"""Plain mode: one timestamped line per engine event, for logs, pipes and CI."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

from gembatch import formatting, states
from gembatch.clock import SYSTEM_CLOCK, Clock
from gembatch.engine.cleanup import Cleaned
from gembatch.engine.events import (
    CycleFinished,
    Event,
    JobsLoaded,
    JobStuck,
    JobUpdated,
    OutputExpiring,
    PollFailed,
    PollingStopped,
    QueueNote,
    RemoteDeleted,
    ResultsMerged,
    ResultsSaved,
)
from gembatch.formatting import plural
from gembatch.jobfile.view import JobView
from gembatch.report.history import RunReport, folder_of
from gembatch.report.summary import Totals, did_not_succeed, failure_reason


def progress_text(job: JobView) -> str:
    if job.request_count is None:
        return ""
    if job.done_count is None:
        return plural(job.request_count, "request")
    return formatting.progress(job.done_count, job.request_count)


def describe(event: Event) -> list[str]:
    """The lines an event prints as (for the plain printer, the log file and the log
    pane); in-flight events and progress alone print nothing. Control characters in
    names are shown escaped, never sent to the terminal."""
    return [formatting.printable(line) for line in _lines(event)]


def _lines(event: Event) -> list[str]:
    if isinstance(event, JobsLoaded):
        return [loaded_line(event), *event.problems]
    if isinstance(event, JobUpdated):
        return _update_lines(event)
    if isinstance(event, ResultsSaved):
        failed = f", {plural(event.failed_rows, 'failed row')}" if event.failed_rows else ""
        lines = plural(event.lines, "line")
        return [f"⇩ {event.job.label}: results saved to {event.path} ({lines}{failed})"]
    if isinstance(event, RemoteDeleted):
        cleaned = Cleaned(list(event.deleted), list(event.left_to_expire))
        return [f"🗑 {event.job.label}: {cleaned.line()}"]
    if isinstance(event, ResultsMerged):
        return [_merged_line(event)]
    if isinstance(event, (JobStuck, OutputExpiring)):
        return [_warning_line(event)]
    if isinstance(event, PollFailed):
        return [f"! {event.message}"]
    if isinstance(event, PollingStopped):
        return [f"! polling stopped: {event.reason}"]
    if isinstance(event, QueueNote):
        return [f"⧗ {event.message}"]
    if isinstance(event, CycleFinished):
        return [_cycle_line(event)]
    return []


def _update_lines(event: JobUpdated) -> list[str]:
    """A job's change of state, from what to what; none when only its progress moved."""
    job = event.job
    if event.previous_state is not None and not states.changed(event.previous_state, job.state):
        return []  # progress only: the table shows it, a log needs no line per cycle
    info = job.state_info
    before = f"{states.info(event.previous_state).label} → " if event.previous_state else ""
    extra = f"  {progress_text(job)}" if progress_text(job) else ""
    ended_badly = info.kind in states.DID_NOT_SUCCEED
    why = f"  ({job.last_error})" if ended_badly and job.last_error else ""
    return [f"{info.icon} {job.label}: {before}{info.label}{extra}{why}"]


def _merged_line(event: ResultsMerged) -> str:
    failed = (
        f"; {event.failed:,} rows without a success are in {event.errors_path}"
        if event.failed
        else ""
    )
    return (
        f"⇩ {event.source}: merged results in input order into {event.path} "
        f"({event.succeeded:,} rows{failed})"
    )


def _warning_line(event: JobStuck | OutputExpiring) -> str:
    """A job that will be lost at the API's 48-hour limit unless something happens."""
    if isinstance(event, JobStuck):
        return (
            f"⚠ {event.job.label}: still {event.job.state_info.label} after "
            f"{event.hours:.0f}h; the API expires jobs that have not finished in 48h"
        )
    return (
        f"⚠ {event.job.label}: succeeded {event.hours_since_end:.0f}h ago and its "
        "results are not saved yet; the API deletes outputs after about 48h"
    )


def _cycle_line(event: CycleFinished) -> str:
    if event.all_done:
        return "all jobs are done"
    if event.stalled:
        return f"⧗ nothing more to do: {event.stalled}"
    errors = f", {plural(event.errors, 'error')}" if event.errors else ""
    wait = f"next poll in {event.next_poll_in:.0f}s"
    return f"checked {plural(event.checked, 'job')}{errors}; {wait}"


def loaded_line(event: JobsLoaded) -> str:
    """`loaded 100,010 jobs: 100,000 done earlier, 10 in progress`: the history in one
    line, however long it is."""
    live = Totals.of(event.jobs)
    counts = dict(event.earlier)
    earlier = Totals(counts, total=sum(counts.values()))
    total = plural(live.total + earlier.total, "job")
    if not earlier.total:
        return f"loaded {total} ({live.breakdown() or 'none'})"
    done = f"{earlier.total:,} done earlier ({earlier.breakdown()})"
    return f"loaded {total}: {done}" + (f", {live.breakdown()}" if live.total else "")


def shown_folder(folder: str, base: Path | None) -> str:
    """A results folder as the user can go to it: from the current folder, ending in
    `/` (never "results in results"); said to be gone when it is."""
    if base is None:
        return f"{folder}/"
    path = base / folder
    try:
        shown = os.path.relpath(path)
    except ValueError:  # (another drive)
        shown = ".."
    if shown.startswith(".."):  # outside the current folder: where it is
        try:
            shown = str(path.resolve())
        except (OSError, ValueError):  # (a hand-edited name no system takes: a NUL byte)
            shown = str(path)
    elif not shown.startswith("."):
        shown = f"./{shown}"
    return f"{shown}/" if path.is_dir() else f"{shown}/ (no longer there)"


def summary_lines(report: RunReport) -> list[str]:
    """What a run leaves at the end of a log: counts, what failed in this run and why (and
    the first of the older failures), where results are."""
    totals = report.totals
    history = report.history
    lines = [f"summary: {plural(totals.total, 'job')} ({totals.breakdown() or 'none'})"]
    recent = [job for job in [*report.settled_now, *report.live] if did_not_succeed(job)]
    lines += [f"  ✘ {job.label}: {failure_reason(job)}" for job in recent]
    recent_keys = {job.key for job in recent}
    older = [(label, why) for key, label, why in history.failures if key not in recent_keys]
    older_count = history.failure_count - sum(
        1 for job in report.settled_now if did_not_succeed(job)
    )
    if older:
        lines.append(f"  {plural(older_count, 'job')} that did not succeed earlier:")
        lines += [f"  ✘ {label}: {why}" for label, why in older]
        if older_count > len(older):
            lines.append(
                f"  … and {older_count - len(older):,} more; "
                "`gembatch status --list --failed` lists them all"
            )
    folders = sorted(
        history.folders | {folder_of(j.results_file) for j in report.live if j.results_file}
    )
    if folders:
        lines.append(f"  results in {', '.join(shown_folder(f, report.base) for f in folders)}")
    if totals.failed_rows:
        lines.append(
            f"  {plural(totals.failed_rows, 'row')} still failed in "
            f"{plural(totals.jobs_with_failed_rows, 'job')} that succeeded; "
            "`gembatch retry` resubmits them"
        )
    if totals.unsaved:
        lines.append(f"  {plural(totals.unsaved, 'job')} with results not saved yet")
    return [formatting.printable(line) for line in lines]


HEARTBEAT_S = 600.0


class PlainPrinter:
    """Prints events as lines with a local timestamp.

    A quiet cycle prints nothing, so a night's log shows what happened; a heartbeat
    line every ten minutes shows the poller is still alive.
    """

    def __init__(self, stream: TextIO | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.stream = stream or sys.stdout
        self.clock = clock
        self._announced_done = False
        self._last_line_at = clock.now()

    def __call__(self, event: Event) -> None:
        if isinstance(event, CycleFinished):
            # "all done" once; otherwise a line only as a heartbeat after a quiet spell.
            announce = (event.all_done or bool(event.stalled)) and not self._announced_done
            self._announced_done = event.all_done or bool(event.stalled)
            quiet_for = self.clock.now() - self._last_line_at
            if not announce and (event.all_done or quiet_for < HEARTBEAT_S):
                return
        for line in describe(event):
            self._print(line)

    def summary(self, report: RunReport) -> None:
        for line in summary_lines(report):
            self._print(line)

    def _print(self, line: str) -> None:
        print(f"{self.clock.stamp()}  {line}", file=self.stream, flush=True)
        self._last_line_at = self.clock.now()
