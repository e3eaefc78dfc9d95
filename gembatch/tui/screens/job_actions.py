"""What the monitor can do to the job under the cursor: details, cancel, retry, browse or
copy its results. Keys, the detail screen and the command palette all come here,
through the monitor's `action_*` methods: the monitor holds one `JobActions`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gembatch import prices, states
from gembatch.clock import Clock
from gembatch.formatting import plural
from gembatch.jobfile.view import JobView
from gembatch.report import summary
from gembatch.tui.screens.confirm import ConfirmScreen
from gembatch.tui.screens.detail import JobDetailScreen, retry_scope
from gembatch.tui.screens.history_rows import HistoryRows
from gembatch.tui.screens.monitor_part import MonitorPart, MonitorView
from gembatch.tui.screens.results import ResultsScreen

if TYPE_CHECKING:
    from gembatch.engine.run import PollRun


class Monitor(MonitorView, Protocol):
    """What the job actions need of the monitor screen besides its table and log."""

    @property
    def poll_run(self) -> PollRun: ...
    @property
    def history_rows(self) -> HistoryRows: ...
    @property
    def clock(self) -> Clock: ...

    polling: bool
    holding: bool
    cycle_done: asyncio.Event

    def run_worker(self, *args: Any, **kwargs: Any) -> Any: ...
    def action_poll_now(self, quiet: bool = False) -> None: ...
    def jobs_changed(self) -> None: ...


def retry_label(job: JobView) -> str | None:
    """What R would do to this job, in words, or None when there is nothing to run again."""
    scope = retry_scope(job)
    if scope == "rows":
        return f"Retry the {job.failed_count:,} failed rows of {job.label}"
    if scope == "job":
        failed_as_a_whole = job.state_info.kind in states.DID_NOT_SUCCEED
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


class JobActions(MonitorPart[Monitor]):
    """The actions on one job, for the monitor that holds them (and supplies the run)."""

    @property
    def poll_run(self) -> PollRun:
        return self.monitor.poll_run

    def show_detail(self) -> None:
        job = self.table.job_under_cursor
        if job is None:
            return
        key = job.key

        def then(action: str | None) -> None:
            if action == "retry":
                self.retry()
            elif action == "browse_results":
                self.browse_results()

        screen = JobDetailScreen(
            lambda: self.monitor.history_rows.whole(self.table.jobs.get(key)),
            self.event_log.history[key],
            self.monitor.clock,
            self.poll_run.prices,
        )
        self.monitor.app.push_screen(screen, then)

    def cancel(self) -> None:
        job = self.table.job_under_cursor
        if job is None:
            return
        queued = job.state == states.QUEUED_HERE
        if not (job.batch_name or queued) or states.is_terminal(job.state):
            self._warn(f"{job.label} is {job.state_info.label}; nothing to cancel")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._in_worker(self._cancel(job.key, job.label, queued), group="cancel")

        question = (
            f"Take {job.label} out of the queue?\n\nIts "
            f"{plural(job.request_count or 0, 'request')} were never sent: nothing is "
            "billed, and its input stays where it is."
            if queued
            else f"Cancel {job.label} ({job.batch_name})?\n\n{_cancel_effect(job)}"
        )
        self.monitor.app.push_screen(
            ConfirmScreen(question, yes="Cancel job", no="Keep running"), confirmed
        )

    async def _cancel(self, key: str, label: str, queued: bool) -> None:
        problem = await self.poll_run.cancel(key)
        if problem is not None:
            self.event_log.add(f"cancel {label}: {problem}", key)
            self.monitor.notify(problem, title="Cancel failed", severity="error", markup=False)
            return
        if not queued:
            self.event_log.add(f"asked the server to cancel {label}", key)
        self.monitor.action_poll_now(quiet=True)

    def retry(self) -> None:
        job = self.table.job_under_cursor
        if job is None:
            return
        label = retry_label(job)
        if label is None:
            self._warn(f"{job.label}: nothing to retry (no failed rows, not failed as a whole)")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._in_worker(self._retry(job.key), group="retry", exclusive=True)

        question = f"{label}?\n\n{_retry_effect(job, self.poll_run.prices)}"
        self.monitor.app.push_screen(ConfirmScreen(question, yes="Submit", no="Not now"), confirmed)

    async def _retry(self, key: str) -> None:
        monitor = self.monitor
        # Between cycles only: the poll and the submit share the job file and client.
        while monitor.polling:
            await monitor.cycle_done.wait()
        monitor.holding = True
        try:
            events = await self.poll_run.retry(key, lambda line: self.event_log.add(line, key))
        finally:
            monitor.holding = False
        for event in events:
            self.table.upsert(event.job)
        monitor.jobs_changed()
        monitor.action_poll_now(quiet=True)

    def browse_results(self) -> None:
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
        whole = self.monitor.history_rows.whole(job) or job
        source = whole.raw.get("source_file") or job.input_file
        input_path = base / str(source) if source else None
        try:
            screen = ResultsScreen(path, input_path, job.label)
        except OSError as error:
            self._warn(f"cannot read {path}: {error.strerror}")
            return
        self.monitor.app.push_screen(screen)

    def copy_path(self) -> None:
        job = self.table.job_under_cursor
        if job is None or not job.results_file:
            self._warn("no results path to copy")
            return
        path = str(Path(self.poll_run.engine.base, job.results_file).resolve())
        self.monitor.app.copy_to_clipboard(path)  # OSC 52: works over ssh and in tmux
        self.monitor.notify(f"copied {path}", markup=False, timeout=3)

    def _in_worker(
        self, work: Coroutine[object, object, None], group: str, exclusive: bool = False
    ) -> None:
        """Run `work` as the monitor's worker (it ends with the screen)."""
        self.monitor.run_worker(work, group=group, exclusive=exclusive, exit_on_error=False)

    def _warn(self, message: str) -> None:
        self.monitor.notify(message, severity="warning", markup=False)
