"""Look inside a job's results: one row per request, the failed ones on a key, and the
whole request and response of any row."""

from __future__ import annotations

import json
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from gembatch import formatting
from gembatch.results.index import ResultRow, ResultsIndex, find_request
from gembatch.tui.widgets.results_view import ResultsView, heading


class ResultsScreen(Screen[None]):
    """The results browser of one file; the input beside it supplies the requests."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
        Binding("f", "toggle_failed", "Failed only"),
    ]

    def __init__(self, results_path: Path, input_path: Path | None, title: str) -> None:
        super().__init__()
        self.results_path = results_path
        self.input_path = input_path
        self.title_text = title
        self.index = ResultsIndex(results_path)
        self.failed: list[int] | None = None  # found on first use, in a thread
        self.failed_only = False

    def compose(self) -> ComposeResult:
        yield Static(id="results-title")
        yield Static(id="results-heading")
        yield ResultsView(self.index, id="results")
        yield Footer()

    def on_mount(self) -> None:
        self._describe()
        self.query_one("#results-heading", Static).update(heading(self.size.width))
        self.query_one(ResultsView).focus()

    def on_resize(self) -> None:
        self.query_one("#results-heading", Static).update(heading(self.size.width))

    def on_unmount(self) -> None:
        self.index.close()

    def _describe(self, note: str = "") -> None:
        rows = formatting.plural(len(self.index), "request")
        failed = f" · {len(self.failed):,} failed" if self.failed is not None else ""
        shown = " · showing failed rows only" if self.failed_only else ""
        text = Text(f"{self.title_text} · {rows}{failed}{shown}{note}", style="bold")
        self.query_one("#results-title", Static).update(text)

    def action_toggle_failed(self) -> None:
        if self.failed is None:
            self._describe(" · finding failed rows…")
            self.find_failed()
            return
        self.failed_only = not self.failed_only
        self.query_one(ResultsView).show_only(self.failed if self.failed_only else None)
        self._describe()

    @work(thread=True, exclusive=True, group="failed-rows")
    def find_failed(self) -> None:
        failed = self.index.failed_rows()
        self.app.call_from_thread(self._found_failed, failed)

    def _found_failed(self, failed: list[int]) -> None:
        self.failed = failed
        self.action_toggle_failed()

    @on(ResultsView.Opened)
    def _open(self, event: ResultsView.Opened) -> None:
        request = find_request(self.input_path, event.row.key) if self.input_path else None
        self.app.push_screen(ResultDetailScreen(event.row, request))


class ResultDetailScreen(ModalScreen[None]):
    """One request and its whole response (or error), as JSON."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
    ]

    def __init__(self, row: ResultRow, request: dict | None) -> None:
        super().__init__()
        self.row = row
        self.request = request

    def compose(self) -> ComposeResult:
        row = self.row
        outcome = "ok" if row.ok else f"failed: {row.error}"
        with VerticalScroll(id="dialog"):
            yield Static(Text(f"{formatting.printable(row.key)} · {outcome}", style="bold"))
            if row.ok:
                yield Static(Text("Response text", style="bold"), classes="heading")
                yield Static(Text(formatting.printable(row.text, keep_lines=True) or "(no text)"))
            yield Static(Text("Request", style="bold"), classes="heading")
            yield Static(Text(_json(self.request) if self.request else "not found in the input"))
            yield Static(Text("Result line", style="bold"), classes="heading")
            yield Static(Text(_json(row.item)), classes="raw")
        yield Footer()


def _json(value: object) -> str:
    return formatting.printable(json.dumps(value, indent=2, ensure_ascii=False), keep_lines=True)
