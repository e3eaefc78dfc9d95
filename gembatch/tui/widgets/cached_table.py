"""A DataTable that stays fast at 10,000 rows: row-order caches keyed on the rows' layout,
cells rendered again only for rows that changed, and rows off screen built when drawn.

DataTable keys its caches on one counter that every cell update bumps, so a duration
ticking in one row rebuilds 10,000-entry row lists and renders every cell on screen
again. Here each row has its own version, the row order its own (bumped only when rows
are added, removed or cleared), and a row whose data changed while off screen is marked
stale and built by `build_row` when it is drawn or read.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

CELLS_CACHED = 2000  # about four screens of cells at 200x50
LINES_CACHED = 200


class CachedRowsTable(DataTable[Text]):
    """Rows by key, one line each, fixed-width columns; `build_row(key)` brings a stale
    row's cells up to date (the subclass's own way of making them)."""

    def __init__(self, build_row: Callable[[str], None], **kwargs: object) -> None:
        self._build_row = build_row
        self._layout_version = 0
        self._row_order_cache: dict[str, tuple[tuple[int, int], list]] = {}
        # Each row's own version, for the cell cache (see `_render_cell`). Rows added
        # later start at 0: nothing of them is cached yet.
        self._row_versions: dict[RowKey, int] = {}
        self._versions = itertools.count(1)
        self._stale: set[str] = set()
        self._screen_keys: tuple[tuple[int, int, int, int], frozenset[str]] = (
            (-1, -1, -1, -1),
            frozenset(),
        )
        super().__init__(**kwargs)  # type: ignore[arg-type]
        # Cells and lines are cached per version, and old versions are never drawn
        # again: caches the size of a few screens, not DataTable's 10,000 cells and
        # 1,000 rows and lines, keep a monitor that runs for days from holding
        # thousands of stale renders (the rows' cache holds the cells' segments too).
        self._cell_render_cache = LRUCache(CELLS_CACHED)
        self._row_render_cache = LRUCache(LINES_CACHED)
        self._line_cache = LRUCache(LINES_CACHED)

    # --- what the subclass tells it ---------------------------------------------------
    def _layout_changed(self) -> None:
        """Rows were added, removed or cleared."""
        self._layout_version += 1

    def row_changed(self, key: str) -> None:
        """A row's cells were updated in place: it is rendered again when drawn."""
        self._stale.discard(key)
        self._row_versions[RowKey(key)] = next(self._versions)
        self._update_count += 1

    def mark_stale(self, key: str) -> None:
        """A row off screen whose data changed: built when drawn or read, not now."""
        self._stale.add(key)
        # Lines drawn before are cached by their position: drawn again, the row is
        # built anew (its cells stay cached by the rows' own versions).
        self._update_count += 1

    def forget_stale(self, key: str | None = None) -> None:
        """A row removed or rebuilt (every row, without a key) needs no building."""
        if key is None:
            self._stale.clear()
        else:
            self._stale.discard(key)

    def keys_on_screen(self) -> frozenset[str]:
        """The keys of the rows on screen, worked out once per scroll position."""
        view = (int(self.scroll_offset.y), self.size.height, self._layout_version, self.row_count)
        if self._screen_keys[0] != view:
            first = max(0, int(self.scroll_offset.y) - 1)
            last = min(self.row_count, first + self.size.height + 2)
            keys = frozenset(
                str(self.coordinate_to_cell_key(Coordinate(row, 0))[0].value)
                for row in range(first, last)
            )
            self._screen_keys = (view, keys)
        return self._screen_keys[1]

    # --- reading rows: stale ones are built first ---------------------------------------
    def _freshen(self, row_key: RowKey) -> None:
        if self._stale and row_key.value in self._stale:
            self._stale.discard(str(row_key.value))
            self._build_row(str(row_key.value))

    def get_cell(self, row_key: RowKey | str, column_key: ColumnKey | str) -> Text:
        self._freshen(RowKey(row_key) if isinstance(row_key, str) else row_key)
        return super().get_cell(row_key, column_key)

    def get_row(self, row_key: RowKey | str) -> list[Text]:
        self._freshen(RowKey(row_key) if isinstance(row_key, str) else row_key)
        return super().get_row(row_key)

    # --- DataTable's caches, keyed on what really changes -------------------------------
    @property
    def ordered_rows(self) -> list:  # type: ignore[override]
        return self._cached("rows", lambda: DataTable.ordered_rows.fget(self))  # type: ignore[attr-defined]

    @property
    def ordered_columns(self) -> list:  # type: ignore[override]
        # The columns are fixed at mount; DataTable rebuilds this list twice per added row.
        columns = self._row_order_cache.get("columns")
        if columns is None or len(columns[1]) != len(self.columns):
            columns = ((0, 0), DataTable.ordered_columns.fget(self))  # type: ignore[attr-defined]
            self._row_order_cache["columns"] = columns
        return columns[1]

    @property
    def _y_offsets(self) -> list[tuple[RowKey, int]]:  # type: ignore[override]
        return self._cached("offsets", lambda: DataTable._y_offsets.fget(self))  # type: ignore[attr-defined]

    def _cached(self, name: str, compute: Callable[[], list]) -> list:
        key = (self._layout_version, self.row_count)
        known = self._row_order_cache.get(name)
        if known is None or known[0] != key:
            known = (key, compute())
            self._row_order_cache[name] = known
        return known[1]

    def _render_cell(  # type: ignore[override]
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list:
        # Keyed by the row's own version and the row layout instead of DataTable's one
        # counter: only the cells of rows that changed are rendered again. Everything
        # else that changes how cells look (resize, theme, columns) clears the caches.
        if row_index < 0:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        if row_key is not None:
            self._freshen(row_key)
        everything = self._update_count
        version = self._row_versions.get(row_key, 0) if row_key is not None else 0
        self._update_count = ("row", version, self._layout_version)  # type: ignore[assignment]
        try:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        finally:
            self._update_count = everything

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        # Every column has a fixed width and every row is one line, so there is nothing
        # to measure; DataTable would measure each new cell (4 s for 10,000 rows).
        super()._update_dimensions(())
