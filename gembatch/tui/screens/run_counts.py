"""Every job counted, for the status bar, the overview and the all-done banner."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from gembatch.report.progress import RunProgress
from gembatch.report.summary import Totals
from gembatch.tui.screens.monitor_part import MonitorPart, MonitorView

if TYPE_CHECKING:
    from gembatch.engine.loop import Engine
    from gembatch.engine.run import PollRun


class Monitor(MonitorView, Protocol):
    """What the counts need of the monitor screen besides its table."""

    engine: Engine
    poll_run: PollRun
    budget: float | None
    reading: bool


class RunCounts(MonitorPart[Monitor]):
    """The settled jobs as the engine counted them, once, and the live ones as shown:
    rows of a long history still to come change nothing, and a burst of updates costs
    what the live jobs cost, not the table's length. Counted again when asked after
    `forget` (the jobs changed)."""

    def __init__(self, monitor: Monitor) -> None:
        super().__init__(monitor)
        self._totals: Totals | None = None
        self.progress: RunProgress | None = None  # the overview's, counted with the totals

    def forget(self) -> None:
        self._totals = None

    def totals(self) -> Totals:
        if self._totals is None:
            monitor = self.monitor
            if monitor.reading:  # nothing counted yet (the status bar's note says why)
                return Totals()
            history = monitor.engine.history
            jobs = self.table.jobs
            live = [jobs[key] for key in monitor.engine.live_keys() if key in jobs]
            self._totals = history.totals.plus(Totals.of(live))
            self.progress = RunProgress.of(
                live, monitor.poll_run.prices, monitor.budget, earlier=history
            )
        return self._totals
