"""How the monitor's table and log are looked at: the state and text filters, the sort
order, the log's size, and the note that says what narrows or orders the table. The
monitor holds one `ViewControls`; its keys come here through `action_*` methods."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from textual.widget import Widget

from gembatch.report.summary import GROUPS
from gembatch.tui.screens.monitor_part import MonitorPart, MonitorView
from gembatch.tui.widgets.filter_bar import FilterBar

if TYPE_CHECKING:
    from gembatch.engine.loop import Engine
    from gembatch.tui.screens.history_rows import HistoryRows


class Monitor(MonitorView, Protocol):
    """What the view's controls need of the monitor screen besides its table and log."""

    @property
    def filter_bar(self) -> FilterBar: ...
    @property
    def history_rows(self) -> HistoryRows: ...
    @property
    def engine(self) -> Engine: ...
    @property
    def focused(self) -> Widget | None: ...

    reading: bool

    def refresh_status(self) -> None: ...
    def call_after_refresh(self, *args: Any, **kwargs: Any) -> Any: ...
    def set_class(self, *args: Any, **kwargs: Any) -> Any: ...


FILTERS: tuple[str | None, ...] = (None, *GROUPS[:4])


class ViewControls(MonitorPart[Monitor]):
    """Filters, sort and log size for one monitor; each change refreshes its status."""

    def note(self) -> str:
        """What narrows or orders the table, for the status bar."""
        table = self.table
        parts = [f"state: {table.filter_group}"] if table.filter_group else []
        if table.filter_text:
            parts.append(f"filter: {table.filter_text!r}")
        if table.sort_by != "file order":
            parts.append(f"sort: {table.sort_by}")
        loading = self.monitor.history_rows.note()
        job_file = self.monitor.engine.job_file
        if self.monitor.reading:
            loading = (
                f"reading {len(job_file.records):,} jobs…"
                if job_file.loaded
                else f"reading {job_file.path.name}…"
            )
        return "  ".join([*parts, loading] if loading else parts)

    def _view_changed(self) -> None:
        """The filter or the order changed: the earlier jobs the table holds are chosen
        again when it cannot hold them all, and the status bar says what applies."""
        self.monitor.history_rows.choose_again()
        self.monitor.refresh_status()

    def cycle_filter(self) -> None:
        current = FILTERS.index(self.table.filter_group)
        self.table.set_filter(FILTERS[(current + 1) % len(FILTERS)])
        self._view_changed()

    def cycle_sort(self) -> None:
        self.table.cycle_sort()  # the status bar says which order
        self._view_changed()

    def open_filter(self) -> None:
        self.monitor.filter_bar.open()

    def filter_typed(self, text: str) -> None:
        self.table.set_filter_text(text)
        self._view_changed()

    def filter_done(self) -> None:
        self.table.set_filter_text(self.monitor.filter_bar.value)
        self.table.focus()
        self._view_changed()

    def clear_filter(self) -> None:
        """Escape: the text filter goes, then the state filter."""
        if self.table.filter_text:
            self.monitor.filter_bar.action_clear()
        elif self.table.filter_group is not None:
            self.table.set_filter(None)
            self._view_changed()

    def toggle_log(self) -> None:
        log = self.event_log
        at_bottom = log.scroll_offset.y >= log.max_scroll_y
        log.display = not log.display
        self.monitor.call_after_refresh(self._after_log_resize, at_bottom)

    def grow_log(self) -> None:
        """Small, big, full screen, small again: for reading a burst of errors."""
        log = self.event_log
        at_bottom = log.scroll_offset.y >= log.max_scroll_y
        log.display = True
        size = log.next_size()
        self.monitor.set_class(size == "big", "-log-big")
        self.monitor.set_class(size == "full", "-log-full")
        self.monitor.call_after_refresh(self._after_log_resize, at_bottom)

    def _after_log_resize(self, at_bottom: bool) -> None:
        """The keys act on the row under the cursor: the table keeps the focus whenever
        it shows (a full-screen log took it); the log stays at its newest line unless
        the reader had scrolled back."""
        if self.table.display and self.monitor.focused is not self.table:
            self.table.focus()
        if at_bottom:
            self.event_log.scroll_end(animate=False)
