"""What every key does, and what gembatch does on its own."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

ABOUT = (
    "gembatch checks every unfinished job, saves each finished job's results to "
    "<input dir>/results/, verifies them, records them in the job file, and only then "
    "deletes the remote job and its files. Quit at any time: the job file is always "
    "consistent, and the next run resumes where this one stopped."
)


class HelpScreen(ModalScreen[None]):
    """Keys and a short explanation; any of escape, q or ? closes it."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Close"),
        Binding("q", "app.pop_screen", "Close", show=False),
        Binding("question_mark", "app.pop_screen", "Close", show=False),
    ]

    def __init__(self, bindings: list[BindingType]) -> None:
        super().__init__()
        self.key_bindings = [b for b in bindings if isinstance(b, Binding)]

    def compose(self) -> ComposeResult:
        keys = Table.grid(padding=(0, 2))
        for binding in self.key_bindings:
            keys.add_row(Text(_key_name(binding.key), style="bold"), Text(binding.description))
        keys.add_row(Text("ctrl+p", style="bold"), Text("command palette (themes, jump to job)"))
        keys.add_row(Text("ctrl+c", style="bold"), Text("quit"))
        with VerticalScroll(id="dialog"):
            yield Static(Text("gembatch · keys", style="bold"))
            yield Static(keys)
            yield Static(Text(ABOUT), id="about")


def _key_name(key: str) -> str:
    return {"slash": "/", "question_mark": "?", "enter": "enter"}.get(key, key)
