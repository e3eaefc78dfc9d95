"""What the engine's events say to the person at the monitor: the log's lines, the
toasts, the bell and the all-done banner. The monitor holds one `News` and hands it the
events; the table and the totals stay the monitor's."""

from __future__ import annotations

from typing import Protocol

from rich.text import Text
from textual.widgets import Static

from gembatch import states
from gembatch.engine.events import (
    CycleFinished,
    Event,
    JobStuck,
    JobUpdated,
    OutputExpiring,
    RemoteDeleted,
    ResultsSaved,
)
from gembatch.engine.plain import describe
from gembatch.formatting import plural
from gembatch.report.summary import Totals, failure_reason
from gembatch.tui.screens.detail import why_text
from gembatch.tui.screens.monitor_part import MonitorPart, MonitorView


class Monitor(MonitorView, Protocol):
    """What the news needs of the monitor screen besides its table and log."""

    @property
    def banner(self) -> Static: ...

    bell_enabled: bool


class News(MonitorPart[Monitor]):
    """Tells the user what happened, once, in the log and (where it matters) a toast."""

    def __init__(self, monitor: Monitor) -> None:
        super().__init__(monitor)
        self.finished_this_cycle: list[str] = []
        self.all_done_announced = False

    def log(self, event: Event, key: str | None) -> None:
        for line in describe(event):
            self.event_log.add(line, key)

    def ring(self) -> None:
        if self.monitor.bell_enabled:  # the config can mute it
            self.monitor.app.bell()

    def cycle_started(self) -> None:
        self.finished_this_cycle.clear()

    def job_updated(self, event: JobUpdated) -> None:
        job = event.job
        changed_state = states.changed(event.previous_state, job.state)
        if changed_state or event.previous_state is None:
            self.log(event, job.key)
        if changed_state and states.alarming(job.state):
            self.monitor.notify(
                f"{job.label}: {job.state_info.label}: {why_text(job) or failure_reason(job)}"
                "; R on its row resubmits it",
                title="Job did not succeed",
                severity="error",
                markup=False,
            )
            self.ring()

    def job_done_with(self, event: ResultsSaved | RemoteDeleted) -> None:
        self.log(event, event.job.key)
        if isinstance(event, ResultsSaved):
            self.finished_this_cycle.append(event.job.label)

    def needs_a_look(self, event: JobStuck | OutputExpiring) -> None:
        self.log(event, event.job.key)
        self.monitor.notify(
            describe(event)[0].lstrip("⚠ "),
            title="Needs a look",
            severity="warning",
            timeout=15,
            markup=False,
        )

    def cycle_finished(self, event: CycleFinished, totals: Totals) -> None:
        # The log pane already lists each saved result; toasts would only cover the
        # table, so they are for when the log is hidden.
        names = self.finished_this_cycle
        if names and not self.event_log.display:
            text = names[0] if len(names) == 1 else f"{len(names):,} jobs, {names[0]} first"
            self.monitor.notify(
                f"results saved: {text}", title="Jobs finished", timeout=4, markup=False
            )
        if event.all_done and not self.all_done_announced:
            self.all_done_announced = True
            self._announce_all_done(totals)

    def _announce_all_done(self, totals: Totals) -> None:
        subject = "The job is" if totals.total == 1 else f"All {totals.total:,} jobs are"
        rows = (
            f" {plural(totals.failed_rows, 'row')} still failed: R retries them."
            if totals.failed_rows
            else ""
        )
        banner = self.monitor.banner
        banner.update(Text(f"{subject} done: {totals.breakdown()}.{rows}"))
        banner.display = True
        self.event_log.add("all jobs are done")
        self.monitor.notify(f"{subject.lower()} done", title="Done", markup=False)
        self.ring()
