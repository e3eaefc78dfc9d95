"""The log pane: stamped lines, written once per burst, and each job's own history."""

from __future__ import annotations

import textwrap
from collections import defaultdict, deque

from rich.cells import cell_len
from textual.widgets import Log

from gembatch import formatting
from gembatch.clock import Clock

HISTORY_PER_JOB = 200
STAMP_WIDTH = 10  # `14:05:09  `
_HANGING = " " * STAMP_WIDTH
SIZES = ("small", "big", "full")  # the log's heights, cycled by a key


class EventLog(Log):
    """What happened, newest last; `history[key]` keeps each job's lines for its detail."""

    def __init__(self, clock: Clock, **kwargs: object) -> None:
        # A Log, not a RichLog: it keeps plain lines and draws the ones on screen, where
        # a RichLog renders every line as it is written (a third of applying a cycle
        # of 1,000 jobs). Plain text also means nothing in a name is read as markup.
        super().__init__(max_lines=2000, **kwargs)  # type: ignore[arg-type]
        self.clock = clock
        self.history: dict[str, deque[str]] = defaultdict(lambda: deque(maxlen=HISTORY_PER_JOB))
        self._pending: list[str] = []
        self.size_name = SIZES[0]

    def add(self, line: str, key: str | None = None) -> None:
        stamped = f"{formatting.clock_time(self.clock.now())}  {line}"
        self._pending.append(stamped)
        if len(self._pending) == 1:
            self.call_later(self._flush)  # one write for a whole burst of events
        if key is not None:
            self.history[key].append(stamped)

    def _flush(self) -> None:
        lines, self._pending = self._pending, []
        if lines:
            self.write_lines(self._wrapped(lines))

    def _wrapped(self, lines: list[str]) -> list[str]:
        """Lines wider than the log, broken at spaces and indented under the text after
        their time (at 80 columns a failure's reason is at the end of its line); the
        rest, nearly all, as they are."""
        # Hidden (`l`) or not laid out yet, it has no width: the screen's, less a
        # scrollbar, is what it will have.
        width = self.scrollable_content_region.width or self.app.size.width - 1
        if width < 40:
            return lines
        out: list[str] = []
        for line in lines:
            if cell_len(line) <= width:
                out.append(line)
            else:  # (a cell to spare for a wide character such as 🗑)
                out.extend(
                    textwrap.wrap(
                        line, width - 1, subsequent_indent=_HANGING, break_on_hyphens=False
                    )
                    or [""]
                )
        return out

    def next_size(self) -> str:
        """Small, big (half the screen), full (the table hidden), then small again."""
        self.size_name = SIZES[(SIZES.index(self.size_name) + 1) % len(SIZES)]
        return self.size_name
