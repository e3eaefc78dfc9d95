"""The line under the table: totals by state, poll times, errors, pause and filter."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from gembatch import formatting, states
from gembatch.summary import Totals
from gembatch.widgets.job_table import state_colour

_GROUP_KIND = {
    "in progress": states.Kind.RUNNING,
    "succeeded": states.Kind.SUCCEEDED,
    "failed": states.Kind.FAILED,
    "cancelled/expired": states.Kind.CANCELLED,
    "other": states.Kind.UNKNOWN,
}


class StatusBar(Static):
    """Totals and poll timing; rebuilt from plain values, never from widgets."""

    DEFAULT_CSS = """
    StatusBar { height: 1; padding: 0 1; background: $panel; }
    """

    def show(
        self,
        totals: Totals,
        last_poll: float | None,
        next_poll_in: float | None,
        polling: bool,
        errors: int,
        paused: bool,
        filter_group: str | None,
    ) -> None:
        theme = self.app.get_css_variables()
        text = Text()
        for group, count in totals.counts.items():
            if count or group in ("in progress", "succeeded"):
                if text:
                    text.append(" · ", style="dim")
                text.append(f"{count} {group}", style=state_colour(theme, _GROUP_KIND[group]))
        if totals.failed_rows:
            text.append(f" ({totals.failed_rows:,} rows failed)", style="dim")
        text.append("  │  ", style="dim")
        if paused:
            text.append("PAUSED", style=f"bold {state_colour(theme, states.Kind.RUNNING)}")
        elif polling:
            text.append("polling…")
        elif next_poll_in is not None:
            text.append(f"next poll in {max(0, round(next_poll_in))}s")
        else:
            text.append("not polling")
        if last_poll is not None:
            text.append(f"  last {formatting.clock_time(last_poll)}", style="dim")
        if errors:
            text.append("  │  ", style="dim")
            text.append(f"{errors} API errors", style=state_colour(theme, states.Kind.FAILED))
        if filter_group:
            text.append("  │  ", style="dim")
            text.append(f"filter: {filter_group}", style="bold")
        self.update(text)
