"""Everything about one job: fields, counts, usage, error, and its event history."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from gembatch import formatting, prices, states
from gembatch.clock import Clock
from gembatch.jobfile.fields import text
from gembatch.jobfile.view import JobView
from gembatch.report import summary


class JobDetailScreen(ModalScreen[str | None]):
    """One job, kept up to date while open; dismissed with the monitor action to run
    (`retry`, `browse_results`) or None."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Back"),
        Binding("q", "dismiss(None)", "Back", show=False),
        Binding("R", "dismiss('retry')", "Retry"),
        Binding("v", "dismiss('browse_results')", "Results"),
    ]

    def __init__(
        self,
        current: Callable[[], JobView | None],
        history: Sequence[str],
        clock: Clock,
        prices: dict | None = None,
    ) -> None:
        super().__init__()
        self.prices = prices or {}  # the same overrides `status` applies
        self.current = current  # the job as the monitor knows it now
        self.job = current()
        self.history = history
        self.clock = clock

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog"):
            yield Static(id="title")
            yield Static(id="fields")
            yield Static(Text("History", style="bold"), classes="heading")
            yield Static(id="history")
            yield Static(Text("Record", style="bold"), classes="heading")
            yield Static(id="record")
        yield Footer()

    def on_mount(self) -> None:
        self._show()
        self.set_interval(1.0, self._show)  # durations tick; states and counts change

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer only what applies: R for a job with something to run again, v for a job
        with results (a queued part has neither)."""
        if action == "dismiss" and self.job is not None:
            if parameters == ("retry",):
                return retry_scope(self.job) is not None
            if parameters == ("browse_results",):
                return bool(self.job.results_file)
        return True

    def _show(self) -> None:
        job = self.current() or self.job
        if job is None:
            return
        if job != self.job:
            self.refresh_bindings()
        self.job = job
        self.query_one("#title", Static).update(Text(job.label, style="bold"))
        self.query_one("#fields", Static).update(self._fields())
        lines = "\n".join(self.history) or "nothing yet in this session"
        self.query_one("#history", Static).update(Text(lines))
        record = json.dumps(job.raw, indent=2, ensure_ascii=False)
        self.query_one("#record", Static).update(Text(formatting.printable(record, True)))

    def _fields(self) -> Table:
        assert self.job is not None
        job, raw, now = self.job, self.job.raw, self.clock.now()
        stats: dict = raw["stats"] if isinstance(raw.get("stats"), dict) else {}
        usage: dict = raw["usage"] if isinstance(raw.get("usage"), dict) else {}
        took = formatting.duration(formatting.job_duration(job.create_time, job.end_time, now))
        rows: list[tuple[str, str]] = [
            ("State", _state(job)),
            ("Batch job", job.batch_name or "not created yet"),
            ("Model", job.model or ""),
            ("Input file", job.input_file),
            ("Uploaded as", str(raw.get("uploaded_file_name") or "")),
            ("Created", formatting.local_time(job.create_time, now)),
            ("Ended", formatting.local_time(job.end_time, now)),
            ("Duration", took),
            ("Requests", _counts(job.request_count, stats)),
            ("Failed rows", _failed_rows(job)),
            ("Tokens", _usage(usage)),
            ("Est. cost", _cost(job, self.prices)),
            ("Results", _results(job)),
            ("Remote", _remote(job, now)),
            ("Why", why_text(job)),
            ("Last error", job.last_error or ""),
            ("What to do", _next_step(job)),
        ]
        table = Table.grid(padding=(0, 2))
        for name, value in rows:
            if value:
                table.add_row(Text(name, style="dim"), Text(value))
        return table


def _state(job: JobView) -> str:
    """The state in words, with the server's own name for it (none for a queued part:
    the server has not heard of it)."""
    shown = f"{job.state_info.icon} {job.state_info.label}"
    if job.state == states.QUEUED_HERE:
        return f"{shown} #{job.queue_place}" if job.queue_place else shown
    return f"{shown}  ({job.state or 'unknown'})"


def _remote(job: JobView, now: float) -> str:
    if not job.batch_name:
        return "nothing on the server yet"
    if job.remote_deleted:
        return "deleted " + formatting.local_time(text(job.raw.get("remote_deleted_at")), now)
    return "on the server"


def _results(job: JobView) -> str:
    if job.results_file:
        return job.results_file
    if job.results_lost:
        return "lost: the output expired on the server before it could be saved"
    if job.results_wanted or not job.state_info.terminal:
        return "not saved yet"
    return "none: the job ended without output"


def why_text(job: JobView) -> str:
    """Why a job ended without (all of) its results, in words."""
    kind = job.state_info.kind
    batch = job.raw.get("batch")
    error = batch.get("error") if isinstance(batch, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if job.results_lost:
        return "its output expired on the server before gembatch could save it"
    if kind is states.Kind.FAILED:
        return str(message or "the server marked the whole job failed")
    if kind is states.Kind.EXPIRED:
        return "it did not finish within the Batch API's 48-hour limit"
    if kind is states.Kind.CANCELLED:
        return "it was cancelled (here, by another tool, or on the server)"
    if kind is states.Kind.MISSING:
        return "the server no longer knows the job (deleted elsewhere?)"
    if job.failed_count and job.state_info.terminal:
        return f"{job.failed_count:,} of its requests failed (press v to see which)"
    return ""


def retry_scope(job: JobView) -> str | None:
    """What `R` (and `gembatch retry`) would run again: the whole "job", its failed
    "rows", or None. The detail screen, the monitor's key and the palette all ask here."""
    if job.state_info.kind in states.DID_NOT_SUCCEED or job.results_lost:
        return "job"
    if job.failed_count and job.results_file:
        return "rows"
    return None


def _next_step(job: JobView) -> str:
    """What will happen to a queued part, or for a job that did not succeed, the key (or
    command) that runs its requests again."""
    if job.state == states.QUEUED_HERE:
        return (
            "waits in the local queue; `gembatch poll` creates it when the job file's "
            "limits allow (jobs running, budget). c on its row takes it out of the queue"
        )
    scope = retry_scope(job)
    if scope == "job":
        return "press R to resubmit its requests (`gembatch retry`); merged results fill in"
    if scope == "rows":
        return "press R to resubmit the failed rows (`gembatch retry`)"
    if job.results_file:
        return "press v to browse the results"
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


def _failed_rows(job: JobView) -> str:
    """Rows still failed; with how many a retry has answered since, when any has."""
    raw = job.raw
    if "failed_rows" not in raw and job.failed_count is None:
        return ""
    still = job.failed_count or 0
    at_first = raw.get("failed_rows")
    if isinstance(at_first, int) and not isinstance(at_first, bool) and at_first > still:
        return f"{still:,} ({at_first - still:,} answered by a retry since)"
    return f"{still:,}"
