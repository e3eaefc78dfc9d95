"""What the monitor can do to the job under the cursor: details, cancel, retry, browse or
copy its results. Keys, the detail screen and the command palette all come here."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.screen import Screen

from gembatch import prices, states, summary
from gembatch.events import JobView
from gembatch.formatting import plural
from gembatch.screens.confirm import ConfirmScreen
from gembatch.screens.detail import RESUBMITTED, JobDetailScreen, retry_scope
from gembatch.screens.results import ResultsScreen
from gembatch.widgets.event_log import EventLog
from gembatch.widgets.job_table import JobTable

if TYPE_CHECKING:
    from gembatch.clock import Clock
    from gembatch.pollrun import PollRun
    from gembatch.screens.history_rows import HistoryRows


def retry_label(job: JobView) -> str | None:
    """What R would do to this job, in words, or None when there is nothing to run again."""
    scope = retry_scope(job)
    if scope == "rows":
        return f"Retry the {job.failed_count:,} failed rows of {job.label}"
    if scope == "job":
        failed_as_a_whole = job.state_info.kind in RESUBMITTED
        why = job.state_info.label if failed_as_a_whole else "its output expired"
        return f"Resubmit {job.label} ({why})"
    return None


def _cancel_effect(job: JobView) -> str:
    total, done = job.request_count, job.done_count
    if total is None or done is None:
        counted = "Requests that have not finished"
    else:
        counted = f"{done:,} of {total:,} requests are done; the {total - done:,} others"
    return f"{counted} are dropped; results already done are kept if the server returns them."


def _retry_effect(job: JobView, overrides: dict) -> str:
    """How many requests a retry sends, in one new job, and what they should cost."""
    rows = (job.failed_count if retry_scope(job) == "rows" else job.request_count) or 0
    sent = f"1 new batch job of {plural(rows, 'request')} is submitted now"
    spent = summary.job_cost(job, overrides)
    if spent is not None and job.request_count:
        per_request = spent / job.request_count
    elif job.estimate_usd is not None and job.request_count:
        per_request = job.estimate_usd / job.request_count
    else:
        return f"{sent}; its cost is known once it has run (this job reported no tokens)."
    cost = prices.dollars(per_request * rows)
    return f"{sent}, about {cost} at batch prices (as this job's requests cost)."


class JobActions(Screen[None]):
    """The actions on one job; the monitor screen builds on it and supplies the run."""

    poll_run: PollRun
    history_rows: HistoryRows
    clock: Clock
    polling: bool
    holding: bool
    cycle_done: asyncio.Event

    @property
    def table(self) -> JobTable:
        return self.query_one(JobTable)

    @property
    def event_log(self) -> EventLog:
        return self.query_one(EventLog)

    def action_poll_now(self, quiet: bool = False) -> None:
        raise NotImplementedError  # the monitor's

    def _schedule_status(self) -> None:
        raise NotImplementedError  # the monitor's

    def action_show_detail(self) -> None:
        job = self.table.job_under_cursor
        if job is None:
            return
        key = job.key

        def then(action: str | None) -> None:
            if action in ("retry", "browse_results"):
                getattr(self, f"action_{action}")()

        screen = JobDetailScreen(
            lambda: self.history_rows.whole(self.table.jobs.get(key)),
            self.event_log.history[key],
            self.clock,
            self.poll_run.prices,
        )
        self.app.push_screen(screen, then)

    def action_cancel_job(self) -> None:
        job = self.table.job_under_cursor
        if job is None:
            return
        queued = job.state == states.QUEUED_HERE
        if not (job.batch_name or queued) or states.is_terminal(job.state):
            self._warn(f"{job.label} is {job.state_info.label}; nothing to cancel")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.cancel_job(job.key, job.label, queued)

        question = (
            f"Take {job.label} out of the queue?\n\nIts "
            f"{plural(job.request_count or 0, 'request')} were never sent: nothing is "
            "billed, and its input stays where it is."
            if queued
            else f"Cancel {job.label} ({job.batch_name})?\n\n{_cancel_effect(job)}"
        )
        self.app.push_screen(
            ConfirmScreen(question, yes="Cancel job", no="Keep running"), confirmed
        )

    @work(group="cancel", exit_on_error=False)
    async def cancel_job(self, key: str, label: str, queued: bool = False) -> None:
        problem = await self.poll_run.cancel(key)
        if problem is not None:
            self.event_log.add(f"cancel {label}: {problem}", key)
            self.notify(problem, title="Cancel failed", severity="error", markup=False)
            return
        if not queued:
            self.event_log.add(f"asked the server to cancel {label}", key)
        self.action_poll_now(quiet=True)

    def action_retry(self) -> None:
        job = self.table.job_under_cursor
        if job is None:
            return
        label = retry_label(job)
        if label is None:
            self._warn(f"{job.label}: nothing to retry (no failed rows, not failed as a whole)")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.retry_job(job.key)

        question = f"{label}?\n\n{_retry_effect(job, self.poll_run.prices)}"
        self.app.push_screen(ConfirmScreen(question, yes="Submit", no="Not now"), confirmed)

    @work(group="retry", exclusive=True, exit_on_error=False)
    async def retry_job(self, key: str) -> None:
        # Between cycles only: the poll and the submit share the job file and client.
        while self.polling:
            await self.cycle_done.wait()
        self.holding = True
        try:
            events = await self.poll_run.retry(key, lambda line: self.event_log.add(line, key))
        finally:
            self.holding = False
        for event in events:
            self.table.upsert(event.job)
        self._schedule_status()
        self.action_poll_now(quiet=True)

    def action_browse_results(self) -> None:
        job = self.table.job_under_cursor
        if job is None:
            return
        if not job.results_file:
            self._warn(f"{job.label}: no results on disk yet")
            return
        base = self.poll_run.engine.base
        path = base / job.results_file
        if not path.is_file():
            self._warn(f"{path} is gone; run `gembatch status {job.label}` to see why")
            return
        whole = self.history_rows.whole(job) or job
        source = whole.raw.get("source_file") or job.input_file
        input_path = base / str(source) if source else None
        try:
            screen = ResultsScreen(path, input_path, job.label)
        except OSError as error:
            self._warn(f"cannot read {path}: {error.strerror}")
            return
        self.app.push_screen(screen)

    def action_copy_path(self) -> None:
        job = self.table.job_under_cursor
        if job is None or not job.results_file:
            self._warn("no results path to copy")
            return
        path = str(Path(self.poll_run.engine.base, job.results_file).resolve())
        self.app.copy_to_clipboard(path)  # OSC 52: works over ssh and in tmux
        self.notify(f"copied {path}", markup=False, timeout=3)

    def _warn(self, message: str) -> None:
        self.notify(message, severity="warning", markup=False)
