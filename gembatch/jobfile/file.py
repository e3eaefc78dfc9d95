"""The job file (`job-info.jsonl`): reading, atomic merge-on-write, locks (its lines: `records`).

Rules this module keeps (see shared/design.md):
- unknown fields survive every rewrite; a record that did not change is written
  back byte for byte;
- a line that does not parse stays where it stood, byte for byte, and is reported;
- a rewrite is atomic (temp file, fsync, `os.replace`, fsync of the folder);
- writers hold a `filelock` lock on a side file and merge with what is on disk,
  so a record another process added meanwhile is never lost.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import filelock

from gembatch.clock import SYSTEM_CLOCK, Clock
from gembatch.jobfile.disk import (
    HEAD_BYTES,
    JobFileError,
    PollerBusyError,
    atomic_write,
    kind_of,
    lines_before,
    lock_path,
    lock_problem,
    not_a_job_file,
    not_job_lines,
    poller_lock,
    read_errors_mapped,
    respect_earlier_tool,
    sweep_stale_temp_files,
)
from gembatch.jobfile.line_source import LineSource
from gembatch.jobfile.lines import parse_lines, read_entries, scan_lines
from gembatch.jobfile.records import BadLine, Entry, JobRecord, LimitsRecord
from gembatch.jobfile.rewrite import WrittenMeanwhile, lay_over, rewrite

__all__ = [
    "BadLine",
    "JobFile",
    "JobFileError",
    "JobRecord",
    "LimitsRecord",
    "PollerBusyError",
    "atomic_write",
    "parse_lines",
]

WRITE_LOCK_TIMEOUT_S = 30.0
# Rewrites begun again when the file changed under one, before giving up.
REWRITE_ATTEMPTS = 3
T = TypeVar("T")


class JobFile:
    """A job file on disk and the records read from it."""

    def __init__(self, path: str | os.PathLike[str], clock: Clock = SYSTEM_CLOCK) -> None:
        self.path = Path(path)
        # Locks and rewrites go to the file itself: two names for one file (a symlink)
        # must share one lock, and a rewrite must not replace the link with a copy.
        self.real_path = Path(os.path.realpath(self.path))
        # The times this file records, and every time shown beside its jobs, come from here.
        self.clock = clock
        self.entries: list[Entry] = []
        # Bumped when records are replaced by others (read from disk); with the number
        # of entries it tells readers whether the set of records changed.
        self._replaced = 0
        self._records: tuple[tuple[int, int], list[JobRecord], LimitsRecord | None] = (
            (-1, -1),
            [],
            None,
        )
        self.write_lock = filelock.FileLock(
            str(lock_path(self.real_path, ".lock")), timeout=WRITE_LOCK_TIMEOUT_S
        )
        self.rewrites = 0
        self._swept = False
        self._seen_signature: tuple[int, int, int] | None = None
        # What we last read or wrote: its length and digest, so a file that others only
        # appended to is recognised and just its new tail is parsed.
        self._known_length = 0
        self._known_digest = b""
        self.scanned: tuple[int, int] | None = None  # (device, inode) of the last scan
        self.loaded = False  # every line read (`read`), not just named
        # The file the records' lines are read back from (see `line_source`).
        self._source: LineSource | None = None

    # --- reading --------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike[str], clock: Clock = SYSTEM_CLOCK) -> JobFile:
        job_file = cls(path, clock)
        job_file.read()
        return job_file

    def read(self, visit: Callable[[JobRecord, dict[str, Any]], None] | None = None) -> None:
        """Read every line (what `load` does; a poll's work list does it in its first
        pass, `visit`, shown each record with its parsed line). Readers see the records
        replaced, not appended to."""
        self._seen_signature = self._disk_signature()
        self.entries = self._read_entries(visit)
        self._replaced += 1
        self.loaded = True

    def check_readable(self) -> None:
        """The one-line `JobFileError` that `read` would raise for what is not a job
        file (a folder, a FIFO, a CSV, no permission), from its first bytes only."""
        handle = self._open()
        if handle is not None:
            handle.close()

    def nothing_to_poll(self) -> str | None:
        """Why a poll of this file can do nothing (no line holds a job it can read)."""
        if any(r.batch_name or r.submit_id for r in self.records):
            return None
        return self.no_jobs() or f"{self.path} holds no job that can be read; nothing to poll"

    def no_jobs(self) -> str | None:
        """Why this file, read, is no use to a command about its jobs: it holds none."""
        if self.records or self.bad_lines:
            return None
        return f"{self.path} holds no jobs; submit jobs first, or pass --job-info FILE"

    def _read_entries(
        self, visit: Callable[[JobRecord, dict[str, Any]], None] | None = None
    ) -> list[Entry]:
        """Every line as an entry, remembered as `_remember` would remember the bytes;
        the records point at the file read (`_source`)."""
        entries, self._source, length, digest = self._read_with_source(visit)
        self._known_length, self._known_digest = length, digest
        return entries

    def _read_with_source(
        self, visit: Callable[[JobRecord, dict[str, Any]], None] | None = None
    ) -> tuple[list[Entry], LineSource | None, int, bytes]:
        handle = self._open()
        if handle is None:
            return [], None, 0, hashlib.sha1(b"").digest()
        with handle:
            source = LineSource.of(handle, str(self.path))
            entries, length, digest = self._mapped_errors(
                lambda: read_entries(handle, source, visit)
            )
        return entries, source, length, digest

    def _remember(self, data: bytes) -> None:
        self._known_length = len(data)
        self._known_digest = hashlib.sha1(data).digest()

    def _remember_written(self, written: tuple[int, bytes]) -> None:
        self._known_length, self._known_digest = written

    def _appended_tail(
        self, data: bytes, read_at: tuple[int, int, int] | None
    ) -> list[Entry] | None:
        """The entries after what we know, if the file (`data`, read when it had the
        signature `read_at`) only grew since; else None."""
        known = self._known_length
        if len(data) < known or (known and data[known - 1 : known] != b"\n"):
            return None  # shrank, or the last line we knew was unfinished
        if hashlib.sha1(data[:known]).digest() != self._known_digest:
            return None
        if self._source is not None:  # (appended to in place: what it held still is)
            self._source.holds(data, read_at)
        return parse_lines(data[known:], first_line=len(self.entries) + 1)

    def _read_bytes(self) -> bytes:
        handle = self._open()
        if handle is None:
            return b""
        with handle:
            return self._mapped_errors(handle.read)

    def _open(self) -> BinaryIO | None:
        """The file for reading (None when there is none), or a one-line JobFileError."""

        def checked_open() -> BinaryIO:
            status = self.real_path.stat()
            if not stat.S_ISREG(status.st_mode):  # (a FIFO would hang every command)
                raise JobFileError(not_a_job_file(self.path, kind_of(status.st_mode)))
            if status.st_nlink > 1:
                raise JobFileError(
                    f"{self.path} has {status.st_nlink} hard links; gembatch replaces the file "
                    "whole on every write, which would split them: use a symlink or a single name"
                )
            handle = self.path.open("rb")
            why = not_job_lines(handle.read(HEAD_BYTES))
            if why:
                handle.close()
                raise JobFileError(not_a_job_file(self.path, why))
            handle.seek(0)
            return handle

        try:
            return self._mapped_errors(checked_open)
        except FileNotFoundError:
            return None

    def _mapped_errors(self, action: Callable[[], T]) -> T:
        return read_errors_mapped(self.path, action)

    @property
    def exists(self) -> bool:
        return self.path.exists()

    @property
    def generation(self) -> tuple[int, int]:
        """Changes whenever the set of records does (not when a record's fields do)."""
        return (self._replaced, len(self.entries))

    @property
    def records(self) -> list[JobRecord]:
        """The job records, in file order; kept until the set changes (do not modify)."""
        return self._sorted_entries()[0]

    @property
    def limits(self) -> LimitsRecord | None:
        """The settings line (budget, queue size), if the file has one."""
        return self._sorted_entries()[1]

    def _sorted_entries(self) -> tuple[list[JobRecord], LimitsRecord | None]:
        if self._records[0] != self.generation:
            records, limits = [], None
            for entry in self.entries:
                if type(entry) is JobRecord:
                    records.append(entry)
                elif isinstance(entry, LimitsRecord) and limits is None:
                    limits = entry  # a second one (hand-copied) is kept, not obeyed
            self._records = (self.generation, records, limits)
        return self._records[1], self._records[2]

    def _keyed(self) -> list[JobRecord]:
        """Everything merged by key: the job records and the settings line."""
        records, limits = self._sorted_entries()
        return records if limits is None else [*records, limits]

    @property
    def bad_lines(self) -> list[BadLine]:
        return [e for e in self.entries if isinstance(e, BadLine) and not e.is_blank]

    def bad_line_messages(self) -> list[str]:
        return [self.bad_line_message(bad) for bad in self.bad_lines]

    def bad_line_message(self, bad: BadLine) -> str:
        return f"{self.path}:{bad.line_number}: {bad.reason}; kept as is, fix or remove it by hand"

    def scan(self, start: int = 0, end: int | None = None) -> Iterator[tuple[Entry, Any]]:
        """Every line once, as it is read, with what it parsed to; nothing is kept (the
        job file's `entries` stay empty). For a count over a million records.

        `start` and `end`: the byte range to read, from the start of a line (lines are
        numbered from 1 there). `scanned` says which file was read: (device, inode).
        """
        handle = self._open()
        if handle is None:
            return
        with handle:
            status = os.fstat(handle.fileno())
            self.scanned = (status.st_dev, status.st_ino)
            handle.seek(start)
            yield from scan_lines(handle if end is None else lines_before(handle, end - start))

    def refresh(self) -> list[JobRecord]:
        """Take in what others wrote since we last looked; returns records new to us."""
        signature = self._disk_signature()
        if signature is not None and signature == self._seen_signature:
            return []
        known = {id(record) for record in self.records}
        data = self._read_bytes()
        tail = self._appended_tail(data, signature)
        if tail is not None:
            self.entries = [*self.entries, *tail]
            self._remember(data)
        else:  # read again as records that point at it: a watcher holds no lines either
            entries, source, length, digest = self._read_with_source()
            self.entries = self._merge(data, signature, entries)
            self._source, self._known_length, self._known_digest = source, length, digest
            self._replaced += 1
        self._seen_signature = signature
        return [record for record in self.records if id(record) not in known]

    def _disk_signature(self) -> tuple[int, int, int] | None:
        try:
            stat = self.real_path.stat()
        except OSError:
            return None
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    # --- writing --------------------------------------------------------------------
    def save(self, before_replace: Callable[[], None] | None = None) -> None:
        """Merge our changes with the file on disk and replace it atomically."""
        try:
            with self.write_lock:
                self._save_locked(before_replace)
        except filelock.Timeout:
            raise JobFileError(
                f"{self.path}: another gembatch process has held the write lock for "
                f"{WRITE_LOCK_TIMEOUT_S:.0f}s; try again when it finishes"
            ) from None
        except OSError as error:
            lock = Path(self.write_lock.lock_file)
            if error.filename not in (str(lock), str(lock.parent)):  # (the hidden folder's)
                raise
            raise lock_problem(lock, error) from None

    def append(self, *records: JobRecord) -> None:
        """Add records and save at once, in one rewrite (used by submit)."""
        for record in records:
            record.original_line = None
            record._touched = True
        self.entries.extend(records)
        self.save()

    def _save_locked(self, before_replace: Callable[[], None] | None) -> None:
        respect_earlier_tool(self.path, self.real_path, self.clock)
        if not self._swept:  # (once per process: under the write lock, all are stale)
            sweep_stale_temp_files(self.real_path)
            self._swept = True
        for _ in range(REWRITE_ATTEMPTS):
            with contextlib.suppress(WrittenMeanwhile):
                self._rewrite(before_replace)
                return
        raise JobFileError(
            f"{self.path} kept changing while gembatch rewrote it (another program writes "
            "into it in place); stop that program and run the command again"
        )

    def _rewrite(self, before_replace: Callable[[], None] | None) -> None:
        based_on = self._disk_signature()
        if based_on == self._seen_signature and based_on is not None:
            merged = self._settle_own_changes()  # nobody else wrote: no need to re-read
        else:
            disk = self._read_bytes()
            tail = self._appended_tail(disk, based_on)
            if tail is not None:  # others only appended: keep ours, add theirs
                merged = [*self._settle_own_changes(), *tail]
            else:
                merged = self._merge(disk, based_on, parse_lines(disk))
                self._replaced += 1
            del disk
        # Streamed, unchanged lines copied from the file: a million-record file is
        # never held in memory whole.
        written, self._source = rewrite(
            self.real_path, merged, lambda: self._disk_signature() == based_on, before_replace
        )
        self.rewrites += 1
        self.entries = merged
        self._remember_written(written)
        self._seen_signature = self._disk_signature()

    def _settle_own_changes(self) -> list[Entry]:
        """Touched records that did not really change go back to their original bytes."""
        for record in self._keyed():
            if record.touched and record.original_line is not None and not record.changes():
                record.mark_saved(record.original_line)
        return list(self.entries)

    def _merge(
        self, disk: bytes, read_at: tuple[int, int, int] | None, disk_entries: list[Entry]
    ) -> list[Entry]:
        """Lay our changes over what is on disk now (`disk_entries`, read from `disk`, the
        file's bytes when it had the signature `read_at`); keep whatever others added."""
        ours = self._keyed()
        source = self._source
        if source is not None and not source.holds(disk, read_at):  # written into in place:
            ours = [r for r in ours if not r.refers_to(source)]  # the disk's lines stand
            _refuse_ambiguous(ours, disk_entries, source)
        return lay_over(ours, disk_entries)

    # --- the poller's exclusive ownership ----------------------------------------------
    def poller_lock(self) -> contextlib.AbstractContextManager[None]:
        """Hold the single-poller lock for as long as the block runs."""
        return poller_lock(self.path, self.real_path, self.clock)


def _refuse_ambiguous(ours: list[JobRecord], disk: list[Entry], source: LineSource) -> None:
    """With the file rewritten in place, our unchanged records' keys are not known, so
    a changed record whose key the disk holds twice cannot be told which it is."""
    keys = Counter(entry.key for entry in disk if isinstance(entry, JobRecord))
    if any(keys[record.key] > 1 for record in ours):
        raise source.moved()
