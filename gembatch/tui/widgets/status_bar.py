"""The line under the table: totals by state, poll times, errors, pause and filter."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from gembatch import formatting, states
from gembatch.engine.events import ListingJobs
from gembatch.formatting import plural
from gembatch.report.summary import Totals
from gembatch.tui.widgets.palette import palette

# Where the groups' names do not fit, they are named by their icons (the help's legend),
# so all of them fit beside the countdown at 80 columns.
_ICON_NAME = {"succeeded": "✔", "failed": "✘", "cancelled/expired": "⊘/∅"}
# The countdown's box, by `-compact`: under WIDE_FROM columns the time of the last poll
# goes, so that every total fits at 120 columns. Set here, not in CSS: the totals'
# arithmetic reads the same numbers.
POLL_WIDTH = {False: 36, True: 20}

_GROUP_KIND = {
    "in progress": states.Kind.RUNNING,
    "succeeded": states.Kind.SUCCEEDED,
    "failed": states.Kind.FAILED,
    "cancelled/expired": states.Kind.CANCELLED,
    "other": states.Kind.UNKNOWN,
}


class StatusBar(Horizontal):
    """Totals on the left (cropped when narrow), poll timing on the right (always shown)."""

    # The countdown changes every second: its box has a fixed width, so updating it
    # repaints those cells only, never a layout of the whole screen (which an auto width
    # costs, and which redraws the table with it).
    DEFAULT_CSS = """
    StatusBar { height: 1; padding: 0 1; background: $panel; }
    StatusBar #totals { width: 1fr; height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    StatusBar #notes { width: auto; height: 1; margin-left: 2; }  /* never runs into the totals */
    StatusBar #poll { height: 1; margin-left: 2; text-align: right; text-wrap: nowrap; }
    """

    WIDE_FROM = 160  # columns

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._shown: dict[str, tuple] = {}
        self._poll_args: tuple = ()
        self._totals_args: tuple = ()

    def on_mount(self) -> None:
        self.query_one("#poll").styles.width = POLL_WIDTH[False]

    def on_resize(self) -> None:
        compact = self.outer_size.width < self.WIDE_FROM
        self.set_class(compact, "-compact")
        self.query_one("#poll").styles.width = POLL_WIDTH[compact]
        if self._totals_args:  # (words or icons: that depends on the width)
            self.show_totals(*self._totals_args)
        if self._poll_args:
            self.show_poll(*self._poll_args)

    def compose(self) -> ComposeResult:
        yield Static(id="totals")
        yield Static(id="notes")  # filter, sort, API errors: change rarely
        yield Static(id="poll")

    def render_text(self) -> str:
        """Both halves as plain text (for tests and screen readers)."""
        return " │ ".join(
            str(self.query_one(part, Static).visual) for part in ("#totals", "#notes", "#poll")
        )

    def show_totals(self, totals: Totals, errors: int, view_note: str = "") -> None:
        """The parts that change with the jobs, the API errors and the view."""
        self._totals_args = (totals, errors, view_note)
        colours = palette(self.app)
        notes = Text()
        if view_note:  # what narrows or orders the table
            notes.append(view_note, style="bold")
        if errors:
            if notes:
                notes.append("  │  ", style="dim")
            notes.append(plural(errors, "API error"), style=colours.kind(states.Kind.FAILED))
        room = self.size.width - POLL_WIDTH[self.has_class("-compact")] - 2
        room -= notes.cell_len + 2 if notes else 0
        text = self._totals_text(totals, words=True)
        if self.size.width and text.cell_len > room:
            text = self._totals_text(totals, words=False)
        self._set("#totals", text)
        self._set("#notes", notes)
        box = self.query_one("#notes", Static)
        if box.display != bool(notes):  # an empty box would still take its margin
            box.display = bool(notes)

    def _totals_text(self, totals: Totals, words: bool) -> Text:
        """`3 in progress · 2 succeeded · 1 failed (22 rows failed)`, or with icons for
        names: `3 in progress · 2 ✔ · 1 ✘ (22 rows ✘)`."""
        colours = palette(self.app)
        text = Text()
        for group, count in totals.counts.items():
            if count or group in ("in progress", "succeeded"):
                if text:
                    text.append(" · ", style="dim")
                name = group if words else _ICON_NAME.get(group, group)
                text.append(f"{count:,} {name}", style=colours.kind(_GROUP_KIND[group]))
        if totals.failed_rows:
            rows = plural(totals.failed_rows, "row")
            text.append(f" ({rows} failed)" if words else f" ({rows} ✘)", style="dim")
        return text

    def show_poll(
        self,
        last_poll: float | None,
        next_poll_in: float | None,
        polling: bool,
        paused: bool,
        listing: ListingJobs | None = None,
    ) -> None:
        """The part that moves with the clock: the countdown to the next poll, and the
        cycle's survey while it reads the job list (one call for many jobs)."""
        self._poll_args = (last_poll, next_poll_in, polling, paused, listing)
        text = Text()
        if paused:
            colours = palette(self.app)
            text.append("PAUSED", style=colours.kind(states.Kind.RUNNING) + Style(bold=True))
        elif listing is not None:
            # (The page it is on, not "of ≤22": the bound is mostly slack, and a survey
            # usually ends on its first page.)
            page = listing.pages + 1  # ("listing: page 1200" still fits the compact box)
            compact = self.has_class("-compact")
            text.append(f"listing: page {page}" if compact else f"listing jobs: page {page}")
        elif polling:
            text.append("polling…")
        elif next_poll_in is not None:
            text.append(f"next poll in {formatting.duration(max(0, round(next_poll_in)))}")
        else:
            text.append("not polling")
        if last_poll is not None and not self.has_class("-compact") and listing is None:
            text.append(f"  last {formatting.clock_time(last_poll)}", style="dim")
        self._set("#poll", text, layout=False)  # its width is fixed

    def _set(self, selector: str, text: Text, layout: bool = True) -> None:
        """Update only on change; `layout` when the box may change size."""
        key = (text.plain, tuple(text.spans))
        if self._shown.get(selector) != key:
            self._shown[selector] = key
            self.query_one(selector, Static).update(text, layout=layout)
