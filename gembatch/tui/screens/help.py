"""What every key does, and what gembatch does on its own."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from gembatch import states

ABOUT = (
    "gembatch checks every unfinished job, saves each finished job's results to "
    "<input dir>/results/, verifies them, records them in the job file, and only then "
    "deletes the remote job and its files. Quit at any time: the job file is always "
    "consistent, and the next run resumes where this one stopped."
)


MARKS = (
    ("⟳", "the row being checked: its request is in flight now"),
    ("━━━╸", "requests done (succeeded or failed) out of the job's total; ? not reported yet"),
    ("ETA ~12m", "when a running job should end at its rate so far; the run's is its slowest"),
    ("(22✘)", "rows that failed inside a job (after its progress)"),
    ("…", "a name or path shortened to fit"),
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
        keys.add_row(
            Text("ctrl+p", style="bold"),
            Text("command palette: every action by name, jump to a job, themes"),
        )
        keys.add_row(Text("ctrl+c", style="bold"), Text("quit"))
        symbols = Table.grid(padding=(0, 2))
        for icon, meaning in states.legend():
            symbols.add_row(Text(icon, style="bold"), Text(meaning))
        for mark, meaning in MARKS:
            symbols.add_row(Text(mark, style="bold"), Text(meaning))
        with VerticalScroll(id="dialog"):
            yield Static(Text("gembatch · keys", style="bold"))
            yield Static(keys)
            yield Static(Text("symbols", style="bold"), classes="heading")
            yield Static(symbols)
            yield Static(Text(ABOUT), id="about")
        yield Footer()


_KEY_NAMES = {"slash": "/", "question_mark": "?", "R": "shift+r", "L": "shift+l"}


def _key_name(key: str) -> str:
    return _KEY_NAMES.get(key, key)
