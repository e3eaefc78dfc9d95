"""The strip above the table: the whole run in one line.

`━━━━━━━━━╸          47%  ETA ~12m · 3/12 jobs done · $0.42 · 1,234/2,600 requests · 5m elapsed`
Most important first, so a narrow terminal crops the least useful end.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from gembatch import formatting, prices, states
from gembatch.report.progress import RunProgress, eta_text
from gembatch.tui.widgets.palette import palette

BAR_WIDTH = 20
NARROW_BAR = 10  # below WIDE columns: room for the cost and the queue at 80
WIDE = 100


class Overview(Static):
    """Counts come from `RunProgress` (recounted when jobs change); the ETA and the
    elapsed time move with the clock, so `show` is called on every tick too, and
    builds the line again only once those texts can have changed (for a run hours
    long, once a minute)."""

    DEFAULT_CSS = """
    Overview { height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._shown: tuple | None = None
        self._run: RunProgress | None = None  # what the line shows, and until when
        self._quiet_until = 0.0
        self._bar_style: object = None
        self._now = 0.0
        # Times the line was built: a tick before its texts can change builds none.
        self.lines_built = 0

    def on_resize(self) -> None:
        """The bar's width follows the terminal's (the cost must show at 80 columns)."""
        if self._run is not None:
            self._quiet_until = 0.0
            self.show(self._run, self._now)

    def show(self, run: RunProgress, now: float) -> None:
        bar_style = palette(self.app).kind(states.Kind.SUCCEEDED)  # (the theme may change)
        if run is self._run and now < self._quiet_until and bar_style == self._bar_style:
            return
        self._run, self._bar_style, self._now = run, bar_style, now
        self._quiet_until = now + run.changes_in(now)
        self.lines_built += 1
        text = line(run, now, bar_style, BAR_WIDTH if self.size.width >= WIDE else NARROW_BAR)
        key = (text.plain, tuple(text.spans))
        if key != self._shown:  # an update re-lays-out the screen: only on change
            self._shown = key
            self.update(text, layout=False)  # one line, full width: its size never changes


def line(
    run: RunProgress, now: float, bar_style: object = "green", bar_width: int = BAR_WIDTH
) -> Text:
    text = Text(no_wrap=True)
    fraction = run.fraction
    filled, empty = formatting.bar(fraction or 0.0, bar_width)
    text.append(filled, style=bar_style)  # type: ignore[arg-type]
    text.append(empty, style="dim")
    text.append(f" {fraction:4.0%}" if fraction is not None else "    ?", style="bold")
    # What a narrow terminal must still show comes first (it crops the end): when it
    # ends, how many jobs are done or waiting, what it costs; then the detail.
    eta, unknown = _eta(run, now)
    parts = [eta]
    parts.append(f"{run.jobs_finished:,}/{formatting.plural(run.jobs, 'job')} done")
    if run.queued:
        parts.append(f"{run.queued} queued")
    if run.budget is not None:
        parts.append(run.spend.line(run.budget))
    elif run.cost.priced:
        tokens = run.cost.prompt_tokens + run.cost.output_tokens
        parts.append(f"{prices.dollars(run.cost.dollars)} · {formatting.compact(tokens)} tokens")
    parts.append(f"{run.requests_done:,}/{run.requests:,} requests")
    elapsed = run.elapsed(now)
    if elapsed is not None and run.going:
        parts.append(f"{formatting.duration(elapsed, live=True)} elapsed")
    if unknown:  # (why the ETA is a lower bound)
        parts.append(f"{formatting.plural(unknown, 'job')} without progress yet")
    text.append("  " + " · ".join(part for part in parts if part))
    return text


def _eta(run: RunProgress, now: float) -> tuple[str, int]:
    """The ETA, and how many jobs going have reported no progress yet: the run cannot
    end before them, so with any the ETA is a lower bound (`≥`)."""
    if not run.going:
        return ("all finished" if run.jobs else "no jobs"), 0
    eta, unknown = run.eta(now)
    if eta is None:
        return "ETA: no progress yet", 0
    if not unknown:
        return f"ETA {eta_text(eta)}", 0
    if eta < 60:  # at least "<1m" says nothing
        return "ETA not known yet", unknown
    return f"ETA ≥{eta_text(eta).lstrip('~')}", unknown
