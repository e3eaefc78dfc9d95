"""How far a run has got (`Stats`), and showing it where the user is: one line that
redraws itself in a terminal, a display that updates in place in Jupyter and ends by
itself when all is done, plain lines in a log, or nothing.

The figures are the monitor's own (`progress.RunProgress`: requests done, ETA, cost
at batch prices, the budget), taken over the run's jobs only.
"""

from __future__ import annotations

import html
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TextIO

from gembatch import formatting, prices
from gembatch.jobfile.view import JobView
from gembatch.report.progress import RunProgress, eta_text
from gembatch.report.summary import did_not_succeed

LOG_EVERY_S = 30.0  # a log (not a terminal) gets a line this often, and the last one


@dataclass(frozen=True)
class Stats:
    """A run at a glance. Counts are requests unless they say jobs; `cost_usd` is the
    estimate at batch prices of the results saved so far; `eta_s` None: not known yet."""

    name: str
    requests: int
    done: int
    failed: int
    jobs: int
    jobs_done: int
    jobs_failed: int
    queued: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    budget_usd: float | None
    eta_s: float | None
    finished: bool

    @property
    def fraction(self) -> float:
        """Requests done, from 0 to 1."""
        return self.done / self.requests if self.requests else 0.0

    @classmethod
    def of(
        cls,
        name: str,
        views: Iterable[JobView],
        prices_: dict,
        budget: float | None,
        finished: bool,
        now: float,
    ) -> Stats:
        jobs = list(views)
        run = RunProgress.of(jobs, prices_, budget)
        eta, _unknown = run.eta(now)
        return cls(
            name=name,
            requests=run.requests,
            done=run.requests_done,
            failed=sum(job.failed_count or 0 for job in jobs),
            jobs=run.jobs,
            jobs_done=run.jobs_finished,
            jobs_failed=sum(did_not_succeed(job) for job in jobs),
            queued=run.queued,
            input_tokens=run.cost.prompt_tokens,
            output_tokens=run.cost.output_tokens,
            cost_usd=run.cost.dollars,
            budget_usd=budget,
            eta_s=None if finished else eta,
            finished=finished,
        )

    def line(self) -> str:
        """`map: 62% · 620/1,000 requests · 2 of 3 jobs done · ETA 4 min · $0.12 of $10`"""
        bits = [
            f"{self.name}: {self.fraction:.0%}",
            f"{self.done:,}/{self.requests:,} requests",
            f"{self.jobs_done:,} of {formatting.plural(self.jobs, 'job')} done",
        ]
        if self.queued:
            bits.append(f"{self.queued:,} queued")
        if not self.finished and self.eta_s is not None:
            bits.append(f"ETA {eta_text(self.eta_s)}")
        money = prices.dollars(self.cost_usd)
        if self.budget_usd is not None:
            money += f" of {prices.dollars(self.budget_usd)}"
        bits.append(money)
        if self.failed or self.jobs_failed:
            failed = [formatting.plural(self.failed, "failed request")] if self.failed else []
            if self.jobs_failed:
                failed.append(formatting.plural(self.jobs_failed, "failed job"))
            bits.append(", ".join(failed))
        if self.finished:
            bits.append("done")
        return " · ".join(bits)


class Display:
    """Where progress goes: 'auto' picks Jupyter, a terminal's redrawn line, or a log's
    plain lines; False (or 'off') shows nothing."""

    def __init__(self, mode: bool | str = "auto", stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.kind = _kind(mode, self.stream)
        self._handle: Any = None
        self._last = ""
        self._last_at = 0.0

    def show(self, stats: Stats) -> None:
        line = stats.line()
        if self.kind == "off" or line == self._last:
            return
        if self.kind == "jupyter":
            self._jupyter(stats, line)
        elif self.kind == "terminal":
            end = "\n" if stats.finished else ""
            self.stream.write(f"\r{line}\x1b[K{end}")
            self.stream.flush()
        else:
            now = time.monotonic()
            if stats.finished or now - self._last_at >= LOG_EVERY_S:
                self._last_at = now
                print(line, file=self.stream, flush=True)
        self._last = line

    def _jupyter(self, stats: Stats, line: str) -> None:
        from IPython.display import display

        shown = _Shown(stats, line)
        if self._handle is None:
            self._handle = display(shown, display_id=True)
        else:
            self._handle.update(shown)

    def close(self) -> None:
        """A terminal line left unfinished (an error, Ctrl+C) ends here."""
        if self.kind == "terminal" and self._last and not self._last.endswith("done"):
            self.stream.write("\n")
            self.stream.flush()


class _Shown:
    """What Jupyter draws: a bar and the line (text where HTML is not shown)."""

    def __init__(self, stats: Stats, line: str) -> None:
        self.stats, self.line = stats, line

    def __repr__(self) -> str:
        return self.line

    def _repr_html_(self) -> str:
        percent = round(self.stats.fraction * 100)
        return (
            f'<div><progress value="{percent}" max="100" style="width:20em"></progress> '
            f"<code>{html.escape(self.line)}</code></div>"
        )


def _kind(mode: bool | str, stream: TextIO) -> str:
    if mode is False or mode == "off":
        return "off"
    if mode in ("jupyter", "terminal", "log"):
        return str(mode)
    if _in_jupyter():
        return "jupyter"
    return "terminal" if stream.isatty() else "log"


def _in_jupyter() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    get = getattr(shell, "get_ipython", None)
    ipython = get() if get is not None else None
    return ipython is not None and "IPKernelApp" in getattr(ipython, "config", {})
