"""Which of the job table's columns fit the terminal, and how wide.

What a tired reader needs comes first: the name, the state, how far the job got (done
of total, failed rows), how long it has run, and where its results are or why it has
none. The ETA, when it ended and when it was created follow, and go first when the
terminal is narrow, so that nothing important is cut or pushed off to the side.
"""

from __future__ import annotations

from dataclasses import dataclass

CELL_PADDING = 2  # DataTable's one space each side of every cell
SCROLLBAR = 2


@dataclass(frozen=True)
class Column:
    key: str
    heading: str
    least: int  # narrower than this it is not shown at all


# In the order they are shown.
COLUMNS: tuple[Column, ...] = (
    Column("input", "Input file", 20),
    Column("state", "State", 14),
    Column("progress", "Progress", 18),
    Column("duration", "Duration", 8),
    Column("eta", "ETA", 8),
    Column("created", "Created", 11),
    Column("ended", "Ended", 11),
    Column("results", "Results / reason", 24),
)
# The columns a job cannot be read without, in the order they are given room; then
# the ones shown when there is room left after the name has its full width.
ESSENTIAL = ("input", "state", "progress", "duration", "results")
EXTRA = ("eta", "ended", "created")
LEAST = {column.key: column.least for column in COLUMNS}
HEADINGS = {column.key: column.heading for column in COLUMNS}


def layout(width: int, longest_label: int, progress: int) -> dict[str, int]:
    """key -> width of each column shown, in the order shown, for a table `width`
    cells wide whose longest name is `longest_label` and widest progress `progress`."""
    least = {**LEAST, "progress": max(LEAST["progress"], progress)}
    if width <= 0:  # not laid out yet: everything, at its least
        return {column.key: least[column.key] for column in COLUMNS}
    chosen: dict[str, int] = {}
    slack = width - SCROLLBAR

    def take(key: str) -> None:
        nonlocal slack
        if least[key] + CELL_PADDING <= slack:
            chosen[key] = least[key]
            slack -= least[key] + CELL_PADDING

    for key in ESSENTIAL:
        take(key)
    if "input" in chosen:  # the name before any extra column (sharing with the results)
        share = slack // 2 if "results" in chosen else slack
        grow = max(0, min(share, longest_label - chosen["input"]))
        chosen["input"] += grow
        slack -= grow
    for key in EXTRA:
        take(key)
    widest = "results" if "results" in chosen else "input"
    if widest in chosen:
        chosen[widest] += max(0, slack)
    return {column.key: chosen[column.key] for column in COLUMNS if column.key in chosen}
