"""The log pane: stamped lines, written once per burst, and each job's own history."""

from __future__ import annotations

from collections import defaultdict, deque

from rich.text import Text
from textual.widgets import RichLog

from gembatch import formatting
from gembatch.clock import Clock

HISTORY_PER_JOB = 200
SIZES = ("small", "big", "full")  # the log's heights, cycled by a key


class EventLog(RichLog):
    """What happened, newest last; `history[key]` keeps each job's lines for its detail."""

    def __init__(self, clock: Clock, **kwargs: object) -> None:
        # Wrapped: at 80 columns a failure's reason is at the end of its line.
        super().__init__(max_lines=2000, wrap=True, markup=False, **kwargs)  # type: ignore[arg-type]
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
            self.write(Text("\n".join(lines)))

    def next_size(self) -> str:
        """Small, big (half the screen), full (the table hidden), then small again."""
        self.size_name = SIZES[(SIZES.index(self.size_name) + 1) % len(SIZES)]
        return self.size_name
