"""The line under the table: totals by state, poll times, errors, pause and filter."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from gembatch import formatting, states
from gembatch.summary import Totals
from gembatch.widgets.palette import palette

_GROUP_KIND = {
    "in progress": states.Kind.RUNNING,
    "succeeded": states.Kind.SUCCEEDED,
    "failed": states.Kind.FAILED,
    "cancelled/expired": states.Kind.CANCELLED,
    "other": states.Kind.UNKNOWN,
}


class StatusBar(Horizontal):
    """Totals on the left (cropped when narrow), poll timing on the right (always shown)."""

    DEFAULT_CSS = """
    StatusBar { height: 1; padding: 0 1; background: $panel; }
    StatusBar #totals { width: 1fr; height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    StatusBar #poll { width: auto; height: 1; margin-left: 2; }  /* never runs into the totals */
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._shown: dict[str, tuple] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="totals")
        yield Static(id="poll")

    def render_text(self) -> str:
        """Both halves as plain text (for tests and screen readers)."""
        return " │ ".join(
            str(part.visual)
            for part in (self.query_one("#totals", Static), self.query_one("#poll", Static))
        )

    def show(
        self,
        totals: Totals,
        last_poll: float | None,
        next_poll_in: float | None,
        polling: bool,
        errors: int,
        paused: bool,
        view_note: str = "",
    ) -> None:
        colours = palette(self.app)
        text = Text()
        for group, count in totals.counts.items():
            if count or group in ("in progress", "succeeded"):
                if text:
                    text.append(" · ", style="dim")
                text.append(f"{count} {group}", style=colours.kind(_GROUP_KIND[group]))
        if totals.failed_rows:
            text.append(f" ({totals.failed_rows:,} rows failed)", style="dim")
        self._set("#totals", text)
        text = Text()
        if view_note:  # what narrows or orders the table
            text.append(view_note, style="bold")
            text.append("  │  ", style="dim")
        if errors:
            text.append(f"{errors} API errors", style=colours.kind(states.Kind.FAILED))
            text.append("  │  ", style="dim")
        if paused:
            text.append("PAUSED", style=colours.kind(states.Kind.RUNNING) + Style(bold=True))
        elif polling:
            text.append("polling…")
        elif next_poll_in is not None:
            text.append(f"next poll in {max(0, round(next_poll_in))}s")
        else:
            text.append("not polling")
        if last_poll is not None:
            text.append(f"  last {formatting.clock_time(last_poll)}", style="dim")
        self._set("#poll", text)

    def _set(self, selector: str, text: Text) -> None:
        """Update only on change: every update re-lays-out the screen."""
        key = (text.plain, tuple(text.spans))
        if self._shown.get(selector) != key:
            self._shown[selector] = key
            self.query_one(selector, Static).update(text)
