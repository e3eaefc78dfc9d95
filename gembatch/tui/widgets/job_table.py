"""The live job table: one row per job, keyed by the job, updated cell by cell."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets.data_table import ColumnKey, RowKey

from gembatch import formatting, states
from gembatch.clock import Clock
from gembatch.jobfile.view import JobView
from gembatch.report.summary import group_of
from gembatch.tui.widgets.cached_table import CachedRowsTable
from gembatch.tui.widgets.columns import HEADINGS, LEAST, layout
from gembatch.tui.widgets.job_cells import (
    SORT_KEYS,
    SORTS,
    changes_in,
    differs,
    progress_bar,
    progress_text,
    ticking,
)
from gembatch.tui.widgets.palette import palette


def passes(job: JobView, group: str | None, text: str) -> bool:
    """Whether a job shows under a state filter (`group`) and a text filter (casefolded)."""
    if group is not None and group_of(job) != group:
        return False
    if text:
        return text in f"{job.label}\n{job.batch_name or ''}".casefold()
    return True


# A row stays highlighted this long at least (`set_checking`): one frame in three at
# 0.3 s apart sees even a request of a millisecond.
MIN_LIT_S = 0.6

Cells = dict[str, Text]


class JobTable(CachedRowsTable):
    """Jobs by row key; a change re-renders one row and updates only the cells that differ."""

    DEFAULT_CSS = """
    JobTable { height: 1fr; }
    """
    # DataTable's own Enter is hidden from the footer; this one says what it does.
    BINDINGS = [Binding("enter", "select_cursor", "Details")]

    def __init__(self, clock: Clock, **kwargs: object) -> None:
        self._unpainted = False
        # The tick has nothing to do until this moment, while the rows on screen stay
        # as they were (`tick`): long jobs' durations change once a minute.
        self._quiet_until = 0.0
        self._ticked_view: tuple[int, int, int] = (0, 0, 0)
        # Ticks that went over the rows on screen: a quiet tick returns before it looks.
        self.ticks_that_looked = 0
        # The name column stays put when the table scrolls sideways.
        super().__init__(
            lambda key: self._refresh_row(key, repaint=False),
            cursor_type="row",
            zebra_stripes=True,
            fixed_columns=1,
            # The state colours stay on the cursor row; the cursor shows as a background.
            cursor_foreground_priority="renderable",
            **kwargs,  # type: ignore[arg-type]
        )
        # The columns shown and their widths (`columns.layout`: by priority, to fit).
        self.widths: dict[str, int] = {}
        self.clock = clock
        self.jobs: dict[str, JobView] = {}
        self.checking: set[str] = set()  # rows shown as being asked about
        self._in_flight: dict[str, int] = {}  # requests in flight, by row
        self._lit_at: dict[str, float] = {}
        self.filter_group: str | None = None
        self.filter_text = ""  # the `/` bar's text: rows whose name or batch contain it
        self.sort_by = SORTS[0]
        self._shown: dict[str, Cells] = {}

    def on_mount(self) -> None:
        self._fit_columns()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._rebuild())

    def on_resize(self) -> None:
        if self._fit_columns():
            self._rebuild()

    @property
    def label_width(self) -> int:
        return self.widths.get("input", LEAST["input"])

    @property
    def results_width(self) -> int:
        return self.widths.get("results", LEAST["results"])

    def _fit_columns(self) -> bool:
        """The columns that fit the terminal, by priority, and their widths; True when
        that changed what is shown (the rows are then built again)."""
        longest = max((len(job.label) for job in self.jobs.values()), default=0)
        progress = max((len(progress_text(job)) for job in self.jobs.values()), default=0)
        widths = layout(self.size.width, longest, formatting.BAR_WIDTH + 1 + progress)
        if widths == self.widths and self.columns:
            return False
        if list(widths) != list(self.widths) or not self.columns:
            self.clear(columns=True)
            self._shown.clear()
            self.forget_stale()
            for key, width in widths.items():
                self.add_column(HEADINGS[key], key=key, width=width)
        else:
            for key, width in widths.items():
                self.columns[ColumnKey(key)].width = width
        self.widths = widths
        return True

    def _layout_changed(self) -> None:
        super()._layout_changed()
        self._quiet_until = 0.0

    # --- data in ------------------------------------------------------------------------
    def load(self, jobs: Iterable[JobView]) -> None:
        for job in jobs:
            self.jobs[job.key] = job
        self._fit_columns()
        self._rebuild()

    def add_jobs(self, jobs: Iterable[JobView]) -> None:
        """More jobs at the end (the history, a chunk at a time): rows appended without
        going over the others; `flush` puts them in a sort's order."""
        added = False
        for job in jobs:
            self.jobs[job.key] = job
            if self._visible(job):
                cells = self._cells_for(job)
                self.add_row(*self._shown_cells(cells), key=job.key)
                self._shown[job.key] = cells
                added = True
        if added:
            self._layout_changed()

    def upsert(self, job: JobView) -> None:
        """Show a job's new values (repainted by `flush`); adds the row if the job is new."""
        self.jobs[job.key] = job
        self._quiet_until = 0.0  # its times may tick differently now
        visible = self._visible(job)
        if job.key in self._shown and visible:
            if job.key in self.keys_on_screen():
                self._refresh_row(job.key, repaint=False)
            else:
                self.mark_stale(job.key)
            self._unpainted = True
        elif visible:
            cells = self._cells_for(job)
            self.add_row(*self._shown_cells(cells), key=job.key)
            self._shown[job.key] = cells
            self._layout_changed()
        elif job.key in self._shown:
            self.remove_row(job.key)
            del self._shown[job.key]
            self.forget_stale(job.key)
            self._layout_changed()

    def flush(self) -> None:
        """Repaint once after a batch of `upsert`s."""
        if self._unpainted:
            self._unpainted = False
            self.refresh()

    def set_checking(self, key: str, checking: bool) -> None:
        """A request about this row's job is in flight (or ended): ⟳ in its State
        while it is; the row's highlight lasts `MIN_LIT_S` at least, as a get or a
        small download takes milliseconds and would otherwise never reach a frame."""
        now = time.monotonic()
        if checking:
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            self._lit_at[key] = now
            self.checking.add(key)
        else:
            self._in_flight[key] = max(0, self._in_flight.get(key, 1) - 1)
        if key in self._shown:
            self._refresh_row(key)  # the ⟳ comes and goes at once; the highlight lingers
        if checking:
            return
        left = self._lit_at.get(key, now) + MIN_LIT_S - now
        if left > 0:
            self.set_timer(left, lambda: self._unlight(key))
        else:
            self._unlight(key)

    def _unlight(self, key: str) -> None:
        if not self._in_flight.get(key):  # (not lit again meanwhile)
            self._in_flight.pop(key, None)
            self._lit_at.pop(key, None)
            self.checking.discard(key)
            if key in self._shown:
                self._refresh_row(key)

    def set_filter(self, group: str | None) -> None:
        self.filter_group = group
        self._rebuild()

    def set_filter_text(self, text: str) -> None:
        if text.casefold() != self.filter_text:
            self.filter_text = text.casefold()
            self._rebuild()

    def cycle_sort(self) -> str:
        """The next order of SORTS; returns its name."""
        self.sort_by = SORTS[(SORTS.index(self.sort_by) + 1) % len(SORTS)]
        self._rebuild()
        return self.sort_by

    def resort(self) -> None:
        """Put rows back in order after a cycle changed their states or times."""
        if self.sort_by == SORTS[0]:
            return
        order = [job.key for job in self._ordered(self.jobs.values()) if job.key in self._shown]
        if order != [str(row.key.value) for row in self.ordered_rows]:
            self._rebuild()

    def tick(self) -> None:
        """Advance the live durations and ETAs of running jobs on screen, building a row
        only when one of those texts changed (once a minute for long jobs); between
        those moments, with the same rows on screen, a tick does nothing at all."""
        now = self.clock.now()
        view = (int(self.scroll_offset.y), self.size.height, self._layout_version)
        if now < self._quiet_until and view == self._ticked_view:
            return
        quiet_until = math.inf
        self.ticks_that_looked += 1
        for key in self.keys_on_screen():
            job = self.jobs.get(key)
            if job is None or states.is_terminal(job.state):
                continue
            shown = self._shown.get(key)
            duration, eta = ticking(job, now)
            if shown is None or (shown["duration"].plain, shown["eta"].plain) != (duration, eta):
                self._refresh_row(key)
            quiet_until = min(quiet_until, now + changes_in(job, now))
        self._quiet_until, self._ticked_view = quiet_until, view

    # --- the cursor ---------------------------------------------------------------------
    @property
    def job_under_cursor(self) -> JobView | None:
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return self.jobs.get(str(row_key.value))

    def move_to(self, key: str) -> bool:
        if key not in self._shown:
            self.set_filter(None)
        if key not in self._shown:
            return False
        self.move_cursor(row=self.get_row_index(key), scroll=True)
        return True

    # --- rendering ------------------------------------------------------------------------
    def _visible(self, job: JobView) -> bool:
        return passes(job, self.filter_group, self.filter_text)

    def choice(self) -> tuple[str | None, str, Callable[[JobView], Any] | None]:
        """The filter and the order as they stand (the order's key; None: file order),
        for rows chosen off the table."""
        order = None if self.sort_by == SORTS[0] else SORT_KEYS[self.sort_by](self.clock.now())
        return self.filter_group, self.filter_text, order

    def replace_jobs(self, gone: Iterable[str], jobs: Iterable[JobView]) -> None:
        """Some jobs taken off the table and others put on it, in one rebuild; the
        cursor stays on its job, or goes to the top when that job is gone."""
        selected = self.job_under_cursor
        for key in gone:
            self.jobs.pop(key, None)
        for job in jobs:
            self.jobs[job.key] = job
        self._rebuild()
        if selected is None or selected.key not in self._shown:
            self.move_cursor(row=0, scroll=True)

    def _ordered(self, jobs: Iterable[JobView]) -> list[JobView]:
        if self.sort_by == SORTS[0]:
            return list(jobs)
        return sorted(jobs, key=SORT_KEYS[self.sort_by](self.clock.now()))

    def _rebuild(self) -> None:
        """Used only on load and when the filter changes; live updates never clear."""
        selected = self.job_under_cursor
        self.clear()
        self._shown.clear()
        self.forget_stale()
        self._layout_changed()
        for job in self._ordered(self.jobs.values()):
            if self._visible(job):
                cells = self._cells_for(job)
                self.add_row(*self._shown_cells(cells), key=job.key)
                self._shown[job.key] = cells
        self._layout_changed()
        if selected is not None and selected.key in self._shown:
            self.move_cursor(row=self.get_row_index(selected.key))

    def _refresh_row(self, key: str, repaint: bool = True) -> None:
        self.forget_stale(key)
        new = self._cells_for(self.jobs[key])
        old = self._shown[key]
        changed = False
        row = self._data.get(RowKey(key))
        for column, cell in new.items():
            if column in self.widths and differs(old.get(column), cell) and row is not None:
                # What update_cell does, less its refresh: a cycle that changes 1,000
                # rows then repaints once, not once per cell.
                row[ColumnKey(column)] = cell
                changed = True
        self._shown[key] = new
        if changed:
            self.row_changed(key)
            if repaint:
                self.refresh()

    def _shown_cells(self, cells: Cells) -> list[Text]:
        return [cells[key] for key in self.widths]

    def _cells_for(self, job: JobView) -> Cells:
        now = self.clock.now()
        duration, eta = ticking(job, now)
        info = job.state_info
        colours = palette(self.app)
        style = colours.kind(info.kind)
        checking = job.key in self.checking
        row_style = colours.checking_background if checking else None
        state_text = f"{info.icon} {job.state_label}"
        if self._in_flight.get(job.key):  # (the icon says what is true this instant)
            state_text = f"⟳ {job.state_label}"
        results = job.results_file or ""
        cells: Cells = {
            "input": Text(formatting.short_path(job.label, self.label_width)),
            "state": Text(state_text, style=style),
            "progress": progress_bar(job, style),  # with done of total, failed rows
            "duration": Text(duration, justify="right"),
            # Left-aligned: at 80 columns the column starts at the edge, and a right-aligned
            # value would sit beyond it.
            "eta": Text(eta),
            "created": Text(formatting.local_time(job.create_time, now)),
            "ended": Text(formatting.local_time(job.end_time, now)),
            "results": Text(formatting.short_path(results, self.results_width)),
        }
        if job.last_error and not job.results_file:
            cells["results"] = Text(
                formatting.clip("! " + job.last_error, self.results_width),
                style=colours.kind(states.Kind.FAILED),
            )
        if row_style is not None:
            # The whole width of every cell, not just its text: a row in flight must be
            # seen at a glance.
            for key, cell in cells.items():
                width = self.widths.get(key, len(cell))
                cell.align(cell.justify or "left", max(width, cell.cell_len))  # type: ignore[arg-type]
                cell.stylize(row_style)
        return cells
