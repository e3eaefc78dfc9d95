"""The main screen: the live job table, totals, the event log, and the poll lifecycle."""

from __future__ import annotations

import gc
from collections import defaultdict, deque
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, RichLog, Static
from textual.worker import Worker, WorkerState

from gembatch import formatting, states
from gembatch.clock import Clock
from gembatch.events import (
    CycleFinished,
    CycleStarted,
    Event,
    JobChecked,
    JobChecking,
    JobsLoaded,
    JobStuck,
    JobUpdated,
    OutputExpiring,
    PollFailed,
    PollingStopped,
    RemoteDeleted,
    ResultsMerged,
    ResultsSaved,
)
from gembatch.plain import describe
from gembatch.screens.confirm import ConfirmScreen
from gembatch.screens.detail import JobDetailScreen
from gembatch.screens.help import HelpScreen
from gembatch.summary import GROUPS, Totals
from gembatch.widgets.job_table import JobTable
from gembatch.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from gembatch.pollrun import PollRun

FILTERS: tuple[str | None, ...] = (None, *GROUPS[:4])
HISTORY_PER_JOB = 200


class EngineEvent(Message):
    """Engine events, delivered to the screen on Textual's message queue in order."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events


class MonitorScreen(Screen[None]):
    """Watches every job; runs one poll cycle at a time as a worker."""

    BINDINGS = [
        Binding("r", "poll_now", "Poll"),
        Binding("enter", "show_detail", "Details"),
        Binding("c", "cancel_job", "Cancel"),
        Binding("f", "cycle_filter", "Filter"),
        Binding("slash", "jump", "Jump"),
        Binding("l", "toggle_log", "Log"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "app.quit", "Quit"),
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
        self.history: dict[str, deque[str]] = defaultdict(lambda: deque(maxlen=HISTORY_PER_JOB))
        self.paused = False
        self.polling = False
        self.errors = 0
        self.last_poll: float | None = None
        self.next_poll_at: float | None = None
        self.all_done_announced = False
        self._timer: Timer | None = None
        self._finished_this_cycle: list[str] = []
        self._totals: Totals | None = None  # None: jobs changed since last counted
        self._status_pending = False
        self._pending_log: list[str] = []

    def _ring(self) -> None:
        if self.bell_enabled:  # the config can mute it
            self.app.bell()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="banner")
        yield JobTable(self.clock, id="jobs")
        yield StatusBar(id="status")
        yield RichLog(id="log", max_lines=2000, wrap=False, markup=False)
        yield Footer(show_command_palette=False)

    @property
    def table(self) -> JobTable:
        return self.query_one(JobTable)

    def on_mount(self) -> None:
        self.query_one("#banner").display = False
        self.set_interval(1.0, self._tick)
        self.engine.announce()
        if self.autostart:
            self.start_cycle()
        self._refresh_status()

    # --- the poll lifecycle -------------------------------------------------------------
    def start_cycle(self, even_if_paused: bool = False) -> None:
        if self.polling or (self.paused and not even_if_paused):
            return
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.polling = True
        self.next_poll_at = None
        self._refresh_status()
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
        self._refresh_status()

    def _on_cycle_crashed(self, error: BaseException | None) -> None:
        message = f"the poll cycle failed: {error!r}; trying again next cycle"
        self._log(message)
        self.notify(message, severity="error", markup=False)
        self._schedule(self.engine.options.interval_s)
        self._refresh_status()

    def _on_polling_stopped(self, event: PollingStopped) -> None:
        self.paused = True
        message = f"{event.reason}. Polling is paused; fix the key and restart gembatch."
        self._log(message)
        self.notify(message, title="API key problem", severity="error", timeout=30, markup=False)
        self._ring()

    def _schedule(self, delay: float) -> None:
        if self.paused:
            return
        self.next_poll_at = self.clock.now() + delay
        self._timer = self.set_timer(delay, self.start_cycle)

    def _tick(self) -> None:
        self.table.tick()
        self._refresh_status()

    # --- engine events ------------------------------------------------------------------
    @on(EngineEvent)
    def _on_engine_event(self, message: EngineEvent) -> None:
        with self.app.batch_update():
            for event in message.events:
                if isinstance(event, JobChecking):
                    self.table.set_checking(event.key, True)
                elif isinstance(event, JobChecked):
                    self.table.set_checking(event.key, False)
                else:
                    self._apply(event)
                    self._schedule_status()
            self.table.flush()

    def _apply(self, event: Event) -> None:
        if isinstance(event, JobsLoaded):
            self.table.load(event.jobs)
            # A big table is hundreds of thousands of long-lived objects; without this,
            # every full garbage collection walks them all (pauses of 0.5 s seen at
            # 10,000 jobs). Frozen objects are still freed when no longer referenced.
            gc.freeze()
            for problem in event.problems:
                self._log(problem)
                self.notify(problem, title="Job file", severity="warning", markup=False)
        elif isinstance(event, CycleStarted):
            self._finished_this_cycle.clear()
        elif isinstance(event, JobUpdated):
            self.table.upsert(event.job)
            self._note_job_event(event)
        elif isinstance(event, ResultsSaved | RemoteDeleted):
            self.table.upsert(event.job)
            self._log_event(event, event.job.key)
            if isinstance(event, ResultsSaved):
                self._finished_this_cycle.append(event.job.label)
        elif isinstance(event, PollFailed):
            self.errors += 1
            self._log_event(event, event.key)
        elif isinstance(event, ResultsMerged):
            self._log_event(event, None)
        elif isinstance(event, JobStuck | OutputExpiring):
            self._log_event(event, event.job.key)
            self.notify(
                describe(event)[0].lstrip("⚠ "),
                title="Needs a look",
                severity="warning",
                timeout=15,
                markup=False,
            )
        elif isinstance(event, CycleFinished):
            self._on_cycle_finished(event)
        elif isinstance(event, PollingStopped):
            self._on_polling_stopped(event)

    def _note_job_event(self, event: JobUpdated) -> None:
        job = event.job
        changed_state = states.changed(event.previous_state, job.state)
        if changed_state or event.previous_state is None:
            self._log_event(event, job.key)
        kind = states.info(job.state).kind
        if changed_state and kind in (states.Kind.FAILED, states.Kind.EXPIRED, states.Kind.MISSING):
            self.notify(
                f"{job.label}: {job.state_info.label}",
                title="Job did not succeed",
                severity="error",
                markup=False,
            )
            self._ring()

    def _on_cycle_finished(self, event: CycleFinished) -> None:
        # The log pane already lists each saved result; toasts would only cover the
        # table, so they are for when the log is hidden.
        if self._finished_this_cycle and not self.query_one(RichLog).display:
            names = self._finished_this_cycle
            text = names[0] if len(names) == 1 else f"{len(names)} jobs, {names[0]} first"
            self.notify(f"results saved: {text}", title="Jobs finished", timeout=4, markup=False)
        if event.all_done and not self.all_done_announced:
            self.all_done_announced = True
            totals = self._totals or Totals.of(self.table.jobs.values())
            summary = totals.breakdown()
            banner = self.query_one("#banner", Static)
            subject = "The job is" if totals.total == 1 else f"All {totals.total} jobs are"
            banner.update(Text(f"{subject} done: {summary}."))
            banner.display = True
            self._log("all jobs are done")
            self.notify(f"{subject.lower()} done", title="Done", markup=False)
            self._ring()

    # --- the log ------------------------------------------------------------------------
    def _log_event(self, event: Event, key: str | None) -> None:
        for line in describe(event):
            self._log(line, key)

    def _log(self, line: str, key: str | None = None) -> None:
        stamp = formatting.clock_time(self.clock.now())
        self._pending_log.append(f"{stamp}  {line}")
        if len(self._pending_log) == 1:
            self.call_later(self._flush_log)  # one write for a whole burst of events
        if key is not None:
            self.history[key].append(f"{stamp}  {line}")

    def _flush_log(self) -> None:
        lines, self._pending_log = self._pending_log, []
        if lines:
            self.query_one(RichLog).write(Text("\n".join(lines)))

    def _schedule_status(self) -> None:
        """Refresh the status line once after a burst of events, not once per event."""
        self._totals = None
        if not self._status_pending:
            self._status_pending = True
            self.call_later(self._refresh_status)

    def _refresh_status(self) -> None:
        self._status_pending = False
        if self._totals is None:
            self._totals = Totals.of(self.table.jobs.values())
        next_in = None if self.next_poll_at is None else self.next_poll_at - self.clock.now()
        self.query_one(StatusBar).show(
            self._totals,
            self.last_poll,
            next_in,
            self.polling,
            self.errors,
            self.paused,
            self.table.filter_group,
        )

    # --- actions ------------------------------------------------------------------------
    def action_poll_now(self) -> None:
        if self.polling:
            self.notify("a poll is already running", markup=False)
            return
        if self.paused:  # one poll now; paused it stays, and says so
            self._log("polling once now; still paused (p resumes)")
        self.start_cycle(even_if_paused=True)

    def action_show_detail(self) -> None:
        job = self.table.job_under_cursor
        if job is not None:
            self.app.push_screen(
                JobDetailScreen(job, list(self.history[job.key]), self.clock, self.poll_run.prices)
            )

    @on(DataTable.RowSelected)
    def _on_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_show_detail()

    def action_cancel_job(self) -> None:
        job = self.table.job_under_cursor
        if job is None:
            return
        if not job.batch_name or states.is_terminal(job.state):
            self.notify(
                f"{job.label} is {job.state_info.label}; nothing to cancel",
                severity="warning",
                markup=False,
            )
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.cancel_job(job.key, job.label)

        question = (
            f"Cancel {job.label} ({job.batch_name})?\n\nRequests that have not "
            "finished are dropped; results already done are kept if the server "
            "returns them."
        )
        self.app.push_screen(
            ConfirmScreen(question, yes="Cancel job", no="Keep running"), confirmed
        )

    @work(group="cancel", exit_on_error=False)
    async def cancel_job(self, key: str, label: str) -> None:
        problem = await self.poll_run.cancel(key)
        if problem is not None:
            self._log(f"cancel {label}: {problem}", key)
            self.notify(problem, title="Cancel failed", severity="error", markup=False)
            return
        self._log(f"asked the server to cancel {label}", key)
        self.action_poll_now()

    def action_cycle_filter(self) -> None:
        current = FILTERS.index(self.table.filter_group)
        self.table.set_filter(FILTERS[(current + 1) % len(FILTERS)])
        self._refresh_status()

    def action_jump(self) -> None:
        self.app.action_command_palette()

    def action_toggle_log(self) -> None:
        log = self.query_one(RichLog)
        log.display = not log.display

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if self.paused:
            if self._timer is not None:
                self._timer.stop()
                self._timer = None
            self.next_poll_at = None
            self._log("paused: no new polls until you press p again")
        else:
            self._log("resumed")
            self.start_cycle()
        self._refresh_status()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.BINDINGS))
