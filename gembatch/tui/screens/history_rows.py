"""The settled jobs' rows, added to the table a chunk at a time after the first frame.

A job file that has run for months holds thousands of jobs nobody will act on again.
The monitor shows the live ones at once (the first frame) and then the history, a
chunk per turn of the event loop, so that keys work and the screen draws while a
hundred thousand rows arrive. Those rows hold a summary view; the whole record (for the
detail screen) is read again when one is opened.

The table holds the latest `SHOWN_AT_MOST` of them: a row on screen costs about 5 KB
(its view, its cells, the table's maps), and a million-record history's rows took more
than 5 GB. The overview and the totals still count every job; the status bar says how
many older ones are left out and which command lists them (`gembatch status --list`).
A filter or an order chooses those rows again over every earlier job (`choose_again`,
in a thread): the table then holds the first of them all in that order, or the latest
that pass the filter.
"""

from __future__ import annotations

import collections
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from textual.worker import get_current_worker

from gembatch.errors import GembatchError
from gembatch.jobfile.disk import JobFileError
from gembatch.jobfile.file import JobRecord
from gembatch.jobfile.json_line import loads_line
from gembatch.jobfile.line_source import LineSource
from gembatch.jobfile.view import JobView
from gembatch.tui.widgets.job_table import passes

if TYPE_CHECKING:
    from gembatch.engine.loop import Engine
    from gembatch.tui.widgets.job_table import JobTable

SHOWN_AT_MOST = 10_000
CHUNK = 1_000  # rows a turn: about 0.1 s here, short enough for a key to be felt
# From this many records the work list's pass (about 30 µs a record) runs after the
# first frame, in a thread; below it, at once (the first frame shows the jobs).
READ_AFTER_FIRST_FRAME = 5_000


class HistoryRows:
    """Feeds the table the settled jobs' rows; knows their records for a whole view."""

    def __init__(self, engine: Engine, table: JobTable, changed: Callable[[], None]) -> None:
        self.engine = engine
        self.table = table
        self.changed = changed  # the rows changed: the status bar says so
        self.settled = 0  # earlier jobs, shown or not
        self.choosing = 0  # earlier jobs being gone over for a filter or an order
        self._choice: tuple[str | None, str, str] = (None, "", "file order")
        self.total = 0
        self.loaded = 0
        self.left_out = 0  # earlier jobs older than the ones the table shows
        self._records: Iterator[JobRecord] | None = None
        self._by_key: dict[str, JobRecord] = {}

    def read_later(self) -> bool:
        """Whether the job file is gone over after the first frame (`read`): a file only
        named so far (a big one), or a long history."""
        job_file = self.engine.job_file
        return not job_file.loaded or len(job_file.records) >= READ_AFTER_FIRST_FRAME

    def read(self) -> str | None:
        """In a worker thread: the job file read if it was only named, then the work
        list's one pass over every record; or why there is nothing to poll."""
        try:  # (a file only named is read in the work list's pass: one parse a line)
            self.engine.worklist.records()
            return self.engine.job_file.nothing_to_poll()
        except JobFileError as unreadable:
            return str(unreadable)

    def in_file_order(self, live: Iterable[JobView]) -> Iterator[JobView]:
        """Every job at once, in file order: for a short file, whose first frame this
        costs nothing (the live `views` given, the settled ones viewed here)."""
        views = {view.key: view for view in live}
        for record in self.engine.job_file.records:
            with record.warmed():
                key = record.key
                if key in views:
                    yield views[key]
                else:
                    self._by_key[key] = record
                    yield JobView.of(record, whole=False)

    def start(self) -> bool:
        """After the job file was read (the live rows shown): True when there are rows
        to come."""
        latest: collections.deque[JobRecord] = collections.deque(maxlen=SHOWN_AT_MOST)
        settled = 0
        for record in self.engine.worklist.settled_records():
            latest.append(record)
            settled += 1
        self.total, self.left_out = len(latest), settled - len(latest)
        self.settled = settled
        if self.total:
            self._records = iter(latest)
        return bool(self.total)

    @property
    def loading(self) -> bool:
        return self._records is not None

    def next_chunk(self) -> bool:
        """Add the next chunk of rows; False once every row is in."""
        if self._records is None:
            return False
        records = list(itertools.islice(self._records, CHUNK))
        views = []
        for record in records:
            view = JobView.of(record, whole=False)
            if view.key not in self.table.jobs:  # (a live row is newer than its history)
                self._by_key[view.key] = record
                views.append(view)
        self.table.add_jobs(views)
        self.loaded += len(views)
        if len(records) < CHUNK:
            self._records = None
            self.table.flush()  # a sort or filter chosen meanwhile covers them all now
        return self._records is not None

    def choose_again(self) -> None:
        """After the filter or the order changed: when the table cannot hold every
        earlier job, the rows it holds are chosen again over all of them (in a thread;
        a newer choice cancels one under way)."""
        table = self.table
        choice = (table.filter_group, table.filter_text, table.sort_by)
        if self.settled <= SHOWN_AT_MOST or choice == self._choice:
            return
        self._choice = choice
        # Taken on this thread: the work list is the event loop's to ask, and a record
        # may be changed or pointed at a rewritten file meanwhile; the worker reads
        # where each line was (or the view of one kept parsed), never the record.
        records = list(self.engine.worklist.settled_records())
        lines = [r.line_at() if r.cold else JobView.of(r, whole=False) for r in records]
        self.choosing, self._records = len(records), None  # (a first load under way stops)
        group, text, order = table.choice()
        table.run_worker(
            lambda: self._chosen(choice, records, lines, group, text, order),
            thread=True,
            exclusive=True,
            group="history-choice",
            exit_on_error=False,
        )

    def _chosen(
        self,
        choice: tuple[str | None, str, str],
        records: list[JobRecord],
        lines: list[JobView | bytes | tuple[LineSource, int] | None],
        group: str | None,
        text: str,
        order: Callable[[JobView], Any] | None,
    ) -> None:
        """In a worker thread: the rows for a filter and an order, handed to `_show`."""
        worker = get_current_worker()
        matched = 0

        def matching() -> Iterator[tuple[JobRecord, JobView]]:
            nonlocal matched
            for n, (record, line) in enumerate(zip(records, lines, strict=True)):
                if not n % 10_000 and worker.is_cancelled:
                    return
                view = line if isinstance(line, JobView) else _view_of(line)
                if view is not None and passes(view, group, text):
                    matched += 1
                    yield record, view

        if order is None:  # the latest that pass
            picked = list(collections.deque(matching(), maxlen=SHOWN_AT_MOST))
        else:  # the first in that order (never more than these held at once)
            picked = heapq.nsmallest(SHOWN_AT_MOST, matching(), key=lambda pair: order(pair[1]))
        if not worker.is_cancelled:
            self.table.app.call_from_thread(self._show, choice, picked, matched - len(picked))

    def _show(
        self,
        choice: tuple[str | None, str, str],
        picked: list[tuple[JobRecord, JobView]],
        left_out: int,
    ) -> None:
        if choice != self._choice:  # (a newer choice is under way: its rows are wanted)
            return
        gone = set(self._by_key)
        live = {key for key in self.table.jobs if key not in gone}  # (newer than history)
        chosen = [(record, view) for record, view in picked if view.key not in live]
        self._by_key = {view.key: record for record, view in chosen}
        self.total = self.loaded = len(chosen)
        self.left_out, self.choosing = left_out, 0
        self.table.replace_jobs(gone, [view for _, view in chosen])
        self.changed()

    def whole(self, job: JobView | None) -> JobView | None:
        """The job with its whole record (`raw`), for the detail screen and the results."""
        if job is None or job.raw:
            return job
        record = self._by_key.get(job.key)
        return JobView.of(record) if record is not None else job

    def note(self) -> str:
        """For the status bar while rows are still arriving."""
        if self.choosing:
            return f"going over {self.choosing:,} earlier jobs…"
        if self.loading:
            return f"loading earlier jobs: {self.loaded:,} of {self.total:,}"
        if self.left_out:
            return f"{self.left_out:,} older: status --list"
        return ""


def _view_of(line: bytes | tuple[LineSource, int] | None) -> JobView | None:
    """A settled job's view from where its line was; None if it can no longer be read
    there (the file rewritten in place meanwhile: the row is left out of this choice)."""
    try:
        data = line if isinstance(line, bytes) or line is None else line[0].read(line[1])
        obj = None if data is None else loads_line(data)
        return JobView.of(JobRecord(obj), whole=False) if isinstance(obj, dict) else None
    except (GembatchError, ValueError, RecursionError):
        return None
