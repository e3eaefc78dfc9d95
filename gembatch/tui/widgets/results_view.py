"""A list of result rows drawn line by line from the index: only what is on screen is
read and parsed, so a 100,000-line file scrolls as freely as a 100-line one."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from gembatch import formatting, states
from gembatch.results.index import ResultRow, ResultsIndex
from gembatch.tui.widgets.palette import palette

# (heading, width); the response's first line takes the rest.
COLUMNS = (("#", 7), ("Key", 16), ("Status", 8), ("Finish", 10), ("Tokens", 7))


class ResultsView(ScrollView, can_focus=True):
    """Rows of one results file (all, or the numbers in `shown`), with a cursor."""

    DEFAULT_CSS = """
    ResultsView { height: 1fr; }
    ResultsView > .results--cursor { background: $block-cursor-background; }
    """
    COMPONENT_CLASSES = {"results--cursor"}
    BINDINGS = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown,space", "page(1)", "Page down", show=False),
        Binding("home,g", "edge(0)", "First", show=False),
        Binding("end,G", "edge(1)", "Last", show=False),
        Binding("enter", "open", "Whole request and response"),
    ]
    cursor = reactive(0)

    class Opened(Message):
        def __init__(self, row: ResultRow) -> None:
            super().__init__()
            self.row = row

    def __init__(self, index: ResultsIndex, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.index = index
        self.shown: list[int] | None = None  # None: every row

    @property
    def count(self) -> int:
        return len(self.index) if self.shown is None else len(self.shown)

    def show_only(self, numbers: list[int] | None) -> None:
        self.shown = numbers
        self.cursor = 0
        self.scroll_to(0, 0, animate=False)
        self._resize()

    def on_mount(self) -> None:
        self._resize()

    def on_resize(self) -> None:
        self._resize()

    def _resize(self) -> None:
        self.virtual_size = Size(self.size.width, self.count)
        self.refresh()

    def row_at(self, position: int) -> ResultRow:
        number = position if self.shown is None else self.shown[position]
        return self.index.row(number)

    def render_line(self, y: int) -> Strip:
        position = int(self.scroll_offset.y) + y
        width = self.size.width
        if position >= self.count:
            return Strip.blank(width, self.rich_style)
        row = self.row_at(position)
        text = _row_text(row, width, palette(self.app))
        if position == self.cursor:
            text.stylize(self.get_component_rich_style("results--cursor"))
        segments = list(text.render(self.app.console))
        return Strip(segments).adjust_cell_length(width, self.rich_style)

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh()  # two lines change; the whole view is a handful of lines
        top = int(self.scroll_offset.y)
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif new >= top + self.size.height:
            self.scroll_to(y=new - self.size.height + 1, animate=False)

    def action_move(self, step: int) -> None:
        self.cursor = max(0, min(self.count - 1, self.cursor + step))

    def action_page(self, direction: int) -> None:
        self.action_move(direction * max(1, self.size.height - 1))

    def action_edge(self, end: int) -> None:
        self.cursor = max(0, self.count - 1) if end else 0

    def action_open(self) -> None:
        if self.count:
            self.post_message(self.Opened(self.row_at(self.cursor)))

    def on_click(self, event: object) -> None:
        y = getattr(event, "y", None)
        if isinstance(y, int):
            self.cursor = max(0, min(self.count - 1, int(self.scroll_offset.y) + y))


def heading(width: int) -> Text:
    text = Text(style="bold", no_wrap=True)
    for name, column in COLUMNS:
        text.append(name.ljust(column) + " ")
    text.append("Response (first line) or error")
    text.truncate(width)
    return text


def _row_text(row: ResultRow, width: int, colours: object) -> Text:
    kind = states.Kind.SUCCEEDED if row.ok else states.Kind.FAILED
    style: Style = colours.kind(kind)  # type: ignore[attr-defined]
    tokens = f"{row.tokens:,}" if row.tokens is not None else ""
    cells = (
        (str(row.number + 1), None),
        (formatting.short_path(formatting.printable(row.key), COLUMNS[1][1]), None),
        ("ok" if row.ok else "✘ failed", style),
        (row.finish_reason.lower(), None),
        (tokens, None),
    )
    text = Text(" ", no_wrap=True, end="")  # the heading's padding
    for (value, cell_style), (_, column) in zip(cells, COLUMNS, strict=True):
        text.append(value[:column].ljust(column) + " ", style=cell_style or "")
    rest = row.first_line if row.ok else row.error
    text.append(formatting.printable(rest), style="" if row.ok else style)
    text.truncate(width)
    return text
