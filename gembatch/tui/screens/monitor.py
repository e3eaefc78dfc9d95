"""The main screen: the live job table, totals, the event log, and the poll lifecycle."""

from __future__ import annotations

import asyncio
import gc
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, WorkerState

from gembatch.clock import Clock
from gembatch.engine.events import (
    CycleFinished,
    CycleStarted,
    Event,
    JobChecked,
    JobChecking,
    JobsLoaded,
    JobStuck,
    JobUpdated,
    ListingJobs,
    OutputExpiring,
    PollFailed,
    PollingStopped,
    QueueNote,
    RemoteDeleted,
    ResultsMerged,
    ResultsSaved,
)
from gembatch.exit_codes import EXIT_BAD_INPUT
from gembatch.tui.screens.help import HelpScreen
from gembatch.tui.screens.history_rows import HistoryRows
from gembatch.tui.screens.job_actions import JobActions
from gembatch.tui.screens.news import News
from gembatch.tui.screens.run_counts import RunCounts
from gembatch.tui.screens.view_controls import ViewControls
from gembatch.tui.widgets.event_log import EventLog
from gembatch.tui.widgets.filter_bar import FilterBar
from gembatch.tui.widgets.job_table import JobTable
from gembatch.tui.widgets.overview import Overview
from gembatch.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from gembatch.engine.run import PollRun


class EngineEvent(Message):
    """Engine events, delivered to the screen on Textual's message queue in order."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events


class MonitorScreen(Screen[None]):
    """Watches every job; runs one poll cycle at a time as a worker."""

    # The footer shows these in this order and drops what does not fit: at 80 columns
    # Enter, the job's actions, help and quit must still be there (the palette too).
    BINDINGS = [
        Binding("enter", "show_detail", "Details"),
        Binding("r", "poll_now", "Poll"),
        Binding("slash", "filter_text", "Filter"),
        Binding("c", "cancel_job", "Cancel"),
        Binding("R", "retry", "Retry"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "app.quit", "Quit"),
        Binding("f", "cycle_filter", "State"),
        Binding("s", "cycle_sort", "Sort"),
        Binding("v", "browse_results", "Results"),
        Binding("l", "toggle_log", "Log"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("y", "copy_path", "Copy path", show=False),
        Binding("L", "grow_log", "Log size", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    class Finished(Message):
        """The run's mode says stop (`--once`, or all done with `--stop-when-done`)."""

    def __init__(self, poll_run: PollRun, autostart: bool = True, bell: bool = True) -> None:
        super().__init__()
        self.bell_enabled = bell
        self.poll_run = poll_run
        self.engine = poll_run.engine
        self.clock: Clock = poll_run.engine.clock
        self.autostart = autostart
        self.paused = False
        self.polling = False
        self.listing: ListingJobs | None = None  # the cycle's survey, while it runs
        self.holding = False  # a retry is submitting: no cycle may start meanwhile
        self.cycle_done = asyncio.Event()
        self.errors = 0
        self.last_poll: float | None = None
        self.next_poll_at: float | None = None
        self._timer: Timer | None = None
        self.budget: float | None = None  # the job file's, shown against the spend
        self._status_pending = False
        self.reading = False  # going over a long job file after the first frame
        self.actions = JobActions(self)  # what can be done to the job under the cursor
        self.news = News(self)  # what the events say: the log's lines, toasts, the banner
        self.view = ViewControls(self)  # filters, sort, the log's size
        self.counts = RunCounts(self)  # every job, for the status bar and the overview

    @property
    def table(self) -> JobTable:
        return self.query_one(JobTable)

    @property
    def event_log(self) -> EventLog:
        return self.query_one(EventLog)

    @property
    def filter_bar(self) -> FilterBar:
        return self.query_one(FilterBar)

    @property
    def banner(self) -> Static:
        return self.query_one("#banner", Static)

    @property
    def overview(self) -> Overview:
        return self.query_one(Overview)

    @property
    def status_bar(self) -> StatusBar:
        return self.query_one(StatusBar)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Overview(id="overview")
        yield Static(id="banner")
        yield FilterBar(id="filter")
        yield JobTable(self.clock, id="jobs")
        yield StatusBar(id="status")
        yield EventLog(self.clock, id="log")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#banner").display = False
        self.table.focus()  # not the hidden filter bar
        self.set_interval(1.0, self.tick)
        self.history_rows = HistoryRows(self.engine, self.table, self.jobs_changed)
        self.read_in_background = self.history_rows.read_later()
        if self.read_in_background:
            self.reading = True
            self._read_job_file()  # the screen draws while a long history is gone over
        else:
            self._announce()
        self.refresh_status()

    @work(thread=True, exit_on_error=False, group="read")
    def _read_job_file(self) -> None:
        problem = self.history_rows.read()
        done = self._announce if problem is None else lambda: self._cannot_poll(problem)
        self.app.call_from_thread(done)

    def _cannot_poll(self, problem: str) -> None:
        """Said in the shell once the screen is gone, as for a file read before it."""
        self.poll_run.file_problem = problem
        self.app.exit(EXIT_BAD_INPUT, return_code=EXIT_BAD_INPUT)

    def _announce(self) -> None:
        self.reading = False
        self.engine.announce()
        if self.autostart:  # after the first frame: the table shows before any check
            self.call_after_refresh(self.start_cycle)

    # --- the poll lifecycle -------------------------------------------------------------
    def start_cycle(self, even_if_paused: bool = False) -> None:
        # (While the job file is read in its thread, no cycle: the first starts after.)
        if self.polling or self.holding or self.reading or (self.paused and not even_if_paused):
            return
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.polling = True
        self.cycle_done.clear()
        self.next_poll_at = None
        self.refresh_status()
        self.run_cycle()

    @work(exclusive=True, exit_on_error=False, group="poll")
    async def run_cycle(self) -> CycleFinished | None:
        return await self.poll_run.cycle()

    @on(Worker.StateChanged)
    def _on_worker_state(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "poll" or event.state not in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
        ):
            return
        self.polling = False
        self.cycle_done.set()
        self.last_poll = self.clock.now()
        if event.state is WorkerState.ERROR:
            self._on_cycle_crashed(event.worker.error)
            return
        finished = event.worker.result
        if isinstance(finished, CycleFinished):
            if self.poll_run.ends_after(finished):
                self.post_message(self.Finished())
                return
            self._schedule(finished.next_poll_in or self.engine.options.interval_s)
        self.refresh_status()

    def _on_cycle_crashed(self, error: BaseException | None) -> None:
        message = f"the poll cycle failed: {error!r}; trying again next cycle"
        self.event_log.add(message)
        self.notify(message, severity="error", markup=False)
        self._schedule(self.engine.options.interval_s)
        self.refresh_status()

    def _on_polling_stopped(self, event: PollingStopped) -> None:
        self.paused = True
        message = f"{event.reason}. Polling is paused; fix the key and restart gembatch."
        self.event_log.add(message)
        self.notify(message, title="API key problem", severity="error", timeout=30, markup=False)
        self.news.ring()

    def _schedule(self, delay: float) -> None:
        if self.paused:
            return
        self.next_poll_at = self.clock.now() + delay
        self._timer = self.set_timer(delay, self.start_cycle)

    def tick(self) -> None:
        """Once a second: the running jobs' durations and ETAs, and the countdown."""
        self.table.tick()
        self._refresh_clock()

    # --- engine events ------------------------------------------------------------------
    @on(EngineEvent)
    def _on_engine_event(self, message: EngineEvent) -> None:
        with self.app.batch_update():
            for event in message.events:
                if isinstance(event, JobChecking):
                    self.table.set_checking(event.key, True)
                elif isinstance(event, JobChecked):
                    self.table.set_checking(event.key, False)
                elif isinstance(event, ListingJobs):
                    self.listing = None if event.done else event
                    self._refresh_clock()
                else:
                    self._apply(event)
                    self.jobs_changed()
            self.table.flush()

    def _apply(self, event: Event) -> None:
        if isinstance(event, JobsLoaded):
            self.budget = event.budget_usd
            if self.read_in_background:
                # A long history: the live jobs make the first frame, the settled ones
                # follow, a chunk per turn of the event loop (`HistoryRows`).
                self.table.load(event.jobs)
                if self.history_rows.start():
                    self.call_after_refresh(self._load_history)
            else:
                self.table.load(self.history_rows.in_file_order(event.jobs))
            # A big table is hundreds of thousands of long-lived objects; without this,
            # every full garbage collection walks them all (pauses of 0.5 s seen at
            # 10,000 jobs). Frozen objects are still freed when no longer referenced.
            gc.freeze()
            for problem in event.problems:
                self.event_log.add(problem)
                self.notify(problem, title="Job file", severity="warning", markup=False)
        elif isinstance(event, CycleStarted):
            self.news.cycle_started()
        elif isinstance(event, JobUpdated):
            self.table.upsert(event.job)
            self.news.job_updated(event)
        elif isinstance(event, ResultsSaved | RemoteDeleted):
            self.table.upsert(event.job)
            self.news.job_done_with(event)
        elif isinstance(event, PollFailed):
            self.errors += 1
            self.news.log(event, event.key)
        elif isinstance(event, QueueNote):
            self.news.log(event, event.key)
        elif isinstance(event, ResultsMerged):
            self.news.log(event, None)
        elif isinstance(event, JobStuck | OutputExpiring):
            self.news.needs_a_look(event)
        elif isinstance(event, CycleFinished):
            self.news.cycle_finished(event, self.counts.totals())
            self.table.resort()
        elif isinstance(event, PollingStopped):
            self._on_polling_stopped(event)

    def _load_history(self) -> None:
        if self.history_rows.next_chunk():
            self.set_timer(0.001, self._load_history)  # keys and frames in between
        else:
            gc.freeze()  # (as after the first load: the rows are long-lived)
        self.jobs_changed()

    # --- the log ------------------------------------------------------------------------
    def jobs_changed(self) -> None:
        """Refresh the status line once after a burst of events, not once per event."""
        self.counts.forget()
        if not self._status_pending:
            self._status_pending = True
            self.call_later(self.refresh_status)

    def refresh_status(self) -> None:
        self._status_pending = False
        self.status_bar.show_totals(self.counts.totals(), self.errors, self.view.note())
        self._refresh_clock()

    def _refresh_clock(self) -> None:
        """What moves with the clock, each second: the run's ETA and elapsed time (drawn
        again only when their text changes) and the countdown to the next poll."""
        now = self.clock.now()
        if self.counts.progress is not None:
            self.overview.show(self.counts.progress, now)
        next_in = None if self.next_poll_at is None else self.next_poll_at - now
        self.status_bar.show_poll(self.last_poll, next_in, self.polling, self.paused, self.listing)

    # --- actions ------------------------------------------------------------------------
    def action_poll_now(self, quiet: bool = False) -> None:
        """Poll now (r); `quiet`: after an action of the user's (cancel, retry), which
        asked for no poll, so a poll already under way needs no word."""
        if self.polling:
            if not quiet:
                self.notify("a poll is already running", markup=False)
            return
        if self.paused:  # one poll now; paused it stays, and says so
            self.event_log.add("polling once now; still paused (p resumes)")
        self.start_cycle(even_if_paused=True)

    @on(DataTable.RowSelected)
    def _on_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_show_detail()

    # --- how the table and the log are looked at (`ViewControls`) ---------------------
    def action_cycle_filter(self) -> None:
        self.view.cycle_filter()

    def action_cycle_sort(self) -> None:
        self.view.cycle_sort()

    def action_filter_text(self) -> None:
        self.view.open_filter()

    @on(FilterBar.TextChanged)
    def _on_filter_changed(self, event: FilterBar.TextChanged) -> None:
        self.view.filter_typed(event.text)

    @on(FilterBar.Done)
    def _on_filter_done(self, _event: FilterBar.Done) -> None:
        self.view.filter_done()

    def action_clear_filter(self) -> None:
        self.view.clear_filter()

    def action_toggle_log(self) -> None:
        self.view.toggle_log()

    def action_grow_log(self) -> None:
        self.view.grow_log()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if self.paused:
            if self._timer is not None:
                self._timer.stop()
                self._timer = None
            self.next_poll_at = None
            self.event_log.add("paused: no new polls until you press p again")
        else:
            self.event_log.add("resumed")
            self.start_cycle()
        self.refresh_status()

    # --- the job under the cursor (`JobActions`) --------------------------------------
    def action_show_detail(self) -> None:
        self.actions.show_detail()

    def action_cancel_job(self) -> None:
        self.actions.cancel()

    def action_retry(self) -> None:
        self.actions.retry()

    def action_browse_results(self) -> None:
        self.actions.browse_results()

    def action_copy_path(self) -> None:
        self.actions.copy_path()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.BINDINGS))
