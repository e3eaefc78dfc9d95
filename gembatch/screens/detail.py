"""Everything about one job: fields, counts, usage, error, and its event history."""

from __future__ import annotations

import json

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from gembatch import formatting, prices, states, summary
from gembatch.clock import Clock
from gembatch.events import JobView


class JobDetailScreen(ModalScreen[None]):
    """A snapshot of one job, taken when the screen opened."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
    ]

    def __init__(
        self, job: JobView, history: list[str], clock: Clock, prices: dict | None = None
    ) -> None:
        super().__init__()
        self.prices = prices or {}  # the same overrides `status` applies
        self.job = job
        self.history = history
        self.clock = clock

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog"):
            yield Static(Text(self.job.label, style="bold"), id="title")
            yield Static(self._fields())
            yield Static(Text("History", style="bold"), classes="heading")
            yield Static(Text("\n".join(self.history) or "nothing yet in this session"))
            yield Static(Text("Record", style="bold"), classes="heading")
            yield Static(Text(json.dumps(self.job.raw, indent=2, ensure_ascii=False)), id="record")
        yield Footer()

    def _fields(self) -> Table:
        job, raw, now = self.job, self.job.raw, self.clock.now()
        stats: dict = raw["stats"] if isinstance(raw.get("stats"), dict) else {}
        usage: dict = raw["usage"] if isinstance(raw.get("usage"), dict) else {}
        took = formatting.duration(formatting.job_duration(job.create_time, job.end_time, now))
        rows: list[tuple[str, str]] = [
            ("State", f"{job.state_info.icon} {job.state_info.label}  ({job.state or 'unknown'})"),
            ("Batch job", job.batch_name or "not created yet"),
            ("Model", job.model or ""),
            ("Input file", job.input_file),
            ("Uploaded as", str(raw.get("uploaded_file_name") or "")),
            ("Created", formatting.local_time(job.create_time, now)),
            ("Ended", formatting.local_time(job.end_time, now)),
            ("Duration", took),
            ("Requests", _counts(job.request_count, stats)),
            ("Failed rows", str(raw.get("failed_rows", "")) if "failed_rows" in raw else ""),
            ("Tokens", _usage(usage)),
            ("Est. cost", _cost(job, self.prices)),
            ("Results", _results(job)),
            (
                "Remote",
                "deleted " + str(raw.get("remote_deleted_at"))
                if job.remote_deleted
                else "kept on the server",
            ),
            ("Last error", job.last_error or ""),
            ("What to do", _next_step(job)),
        ]
        table = Table.grid(padding=(0, 2))
        for name, value in rows:
            if value:
                table.add_row(Text(name, style="dim"), Text(value))
        return table


def _results(job: JobView) -> str:
    if job.results_file:
        return job.results_file
    if job.results_lost:
        return "lost: the output expired on the server before it could be saved"
    if job.results_wanted or not job.state_info.terminal:
        return "not saved yet"
    return "none: the job ended without output"


def _next_step(job: JobView) -> str:
    """For a job that did not succeed, the command that runs its requests again."""
    kind = job.state_info.kind
    failed = kind in (states.Kind.FAILED, states.Kind.EXPIRED, states.Kind.CANCELLED)
    if failed or kind is states.Kind.MISSING or job.results_lost:
        return "`gembatch retry` resubmits its requests; the merged results fill in"
    if job.failed_count and job.results_file:
        return "`gembatch retry` resubmits the failed rows"
    return ""


def _cost(job: JobView, overrides: dict) -> str:
    amount = summary.job_cost(job, overrides)
    if amount is None:
        return ""
    return f"{prices.dollars(amount)} at batch prices (table of {prices.PRICES_AS_OF})"


def _counts(total: int | None, stats: dict) -> str:
    if total is None:
        return ""
    parts = [f"{total:,} in all"]
    for key in ("succeeded", "failed", "pending"):
        if stats.get(key):
            parts.append(f"{stats[key]:,} {key}")
    return ", ".join(parts)


def _usage(usage: dict) -> str:
    names = {
        "promptTokenCount": "prompt",
        "candidatesTokenCount": "output",
        "thoughtsTokenCount": "thinking",
        "cachedContentTokenCount": "cached",
        "totalTokenCount": "total",
    }
    return ", ".join(f"{usage[k]:,} {name}" for k, name in names.items() if usage.get(k))
