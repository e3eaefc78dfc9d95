"""The `/` bar: type to narrow the table to jobs whose name or batch contains the text.

Visible while a filter is set (so a short table never looks like lost jobs); Enter
goes back to the table keeping the filter, Escape clears it.
"""

from __future__ import annotations

from textual import on
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class FilterBar(Input):
    """Posts `FilterBar.TextChanged` as the text changes and `FilterBar.Done` on leaving."""

    DEFAULT_CSS = """
    FilterBar { display: none; height: 1; border: none; padding: 0 1; background: $boost; }
    FilterBar:focus { border: none; background: $primary-muted; }
    """
    BINDINGS = [Binding("escape", "clear", "Clear filter")]

    class TextChanged(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Done(Message):
        """Focus goes back to the table."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(placeholder="filter jobs by name or batch…", **kwargs)  # type: ignore[arg-type]

    def open(self) -> None:
        self.display = True
        self.focus()

    def action_clear(self) -> None:
        self.value = ""
        self.display = False
        self.post_message(self.Done())

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.TextChanged(event.value))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not self.value:
            self.display = False
        self.post_message(self.Done())
