"""One line of the job file: a record (with its typed views and change tracking) or a
line that does not parse, kept byte for byte; and how file bytes become those."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from gembatch import states
from gembatch.jobfile import fields
from gembatch.jobfile.fields import text
from gembatch.jobfile.json_line import loads_line
from gembatch.jobfile.line_source import LENGTH_MASK, LineSource, span

DELETED = object()  # marks a removed field in a record's patch


class JobRecord:
    """One job line: the object as read, plus typed views of the fields we use.

    Reading goes through `data` (and the typed properties); changing goes through `raw`
    or `ensure_batch()`, which mark the record touched. Only touched records are
    compared with their original line at save time, so a file of 100,000 jobs costs
    what its changed records cost, and an untouched record is written back byte for byte.

    A record is *cold* when it keeps only its original line: a parsed JSON object costs
    about four times its line, and a long-lived job file is mostly finished jobs nobody
    asks about. `data` parses a cold record for the caller without keeping the result;
    `warm()` keeps it (for the records a poll works on), `cool()` lets it go again.
    """

    # `_line`: the original line, in memory (bytes) or in the file it was read from
    # (a `LineSource`, with `_span` saying where): a settled record costs about 100
    # bytes, not its line.
    __slots__ = ("_line", "_raw", "_span", "_touched")

    def __init__(self, raw: dict[str, Any] | None, original_line: bytes | None = None) -> None:
        if raw is None and original_line is None:
            raise ValueError("a record needs its object or its line")
        self._raw = raw
        self._line: bytes | LineSource | None = original_line  # None: not on disk yet
        self._span = 0
        self._touched = original_line is None

    def __repr__(self) -> str:
        return f"JobRecord({self.data!r})"

    @property
    def original_line(self) -> bytes | None:
        """The line as last read from or written to disk (None: never on disk)."""
        line = self._line
        if line is None or type(line) is bytes:
            return line
        assert isinstance(line, LineSource)
        return line.read(self._span)

    @original_line.setter
    def original_line(self, line: bytes | None) -> None:
        self._line = line

    def refer(self, source: LineSource, offset: int, length: int) -> None:
        """The original line is at `offset` in `source`: let go of the copy in memory.
        (Only an unchanged record's: a changed one's original is compared at the merge.)"""
        if not self._touched and self._line is not None and length <= LENGTH_MASK:
            self._line, self._span = source, span(offset, length)

    def line_in(self) -> tuple[LineSource | None, int, bytes | None]:
        """For a rewrite: the line's source and span, or (for a line that is not in a
        file as it stands) its bytes."""
        line = self._line
        if not self._touched and isinstance(line, LineSource):
            return line, self._span, None
        return None, 0, self.serialise()

    def line_at(self) -> bytes | tuple[LineSource, int] | None:
        """Where the original line is (in memory, or a file and a span), read at once:
        for a reader on another thread, which must not see a record half re-pointed."""
        line = self._line
        return (line, self._span) if isinstance(line, LineSource) else line

    def take_line(self, other: JobRecord) -> None:
        """Unchanged, with `other`'s line (the disk's, read again) as its own, where
        that is kept: in memory or in a file."""
        self._line, self._span, self._touched = other._line, other._span, False

    def refers_to(self, source: LineSource) -> bool:
        return self._line is source

    def _pin(self) -> None:
        """Keep the original line in memory: the merge compares a changed record with it,
        so it must be the line as read, not whatever the file holds there now."""
        source = self._line
        if isinstance(source, LineSource):
            if not source.unmoved():
                raise source.moved()
            self._line = source.read(self._span)

    @property
    def raw(self) -> dict[str, Any]:
        """The record for changing; marks it for comparison at the next save."""
        self._pin()
        self._touched = True
        return self.warm()

    @raw.setter
    def raw(self, value: dict[str, Any]) -> None:
        self._pin()
        self._raw = value
        self._touched = True

    @property
    def data(self) -> dict[str, Any]:
        """The record for reading only (a cold record's is parsed afresh each time)."""
        if self._raw is not None:
            return self._raw
        line = self.original_line
        assert line is not None
        try:
            return _parse_line(line)
        except (ValueError, RecursionError):  # (it parsed when read: since moved)
            if isinstance(self._line, LineSource):
                raise self._line.moved() from None
            raise

    def warm(self) -> dict[str, Any]:
        """Keep the parsed object from now on; returns it."""
        if self._raw is None:
            self._raw = self.data
        return self._raw

    def cool(self) -> None:
        """Drop the parsed object of an unchanged record: its line says it all."""
        if not self._touched and self._line is not None:
            self._raw = None

    @property
    def cold(self) -> bool:
        return self._raw is None

    @contextmanager
    def warmed(self) -> Iterator[JobRecord]:
        """Parsed once for a run of reads (the typed properties each read `data`), then
        cold again if it was."""
        was_cold = self._raw is None
        self.warm()
        try:
            yield self
        finally:
            if was_cold:
                self.cool()

    @contextmanager
    def parsed_as(self, obj: dict[str, Any]) -> Iterator[JobRecord]:
        """`warmed`, with the object its line was just parsed to (no second parse)."""
        was_cold = self._raw is None
        if was_cold:
            self._raw = obj
        try:
            yield self
        finally:
            if was_cold:
                self.cool()

    # --- identity (the rules themselves are in `fields`) ---------------------------
    @property
    def batch_name(self) -> str | None:
        data = self.data
        return fields.batch_name_of(data, fields.batch_of(data))

    @property
    def submit_id(self) -> str | None:
        return text(self.data.get("submit_id"))

    @property
    def key(self) -> str:
        """An identity that never changes over the record's life (`fields.key_of`)."""
        data = self.data
        return fields.key_of(data, fields.batch_name_of(data, fields.batch_of(data)))

    # --- typed views ----------------------------------------------------------------
    @property
    def input_file(self) -> str:
        return fields.input_file_of(self.data)

    @property
    def batch(self) -> dict[str, Any]:
        """The `batch` object as stored (read-only view; empty when absent)."""
        return fields.batch_of(self.data)

    def ensure_batch(self) -> dict[str, Any]:
        """The `batch` object for changing, created beside an old-form `job_name` if needed."""
        raw = self.raw
        batch = raw.get("batch")
        if not isinstance(batch, dict):
            batch = {}
            if self.batch_name:
                batch["name"] = self.batch_name
            raw["batch"] = batch
        return batch

    @property
    def state(self) -> str | None:
        data = self.data
        return fields.state_of(data, fields.batch_of(data))

    @property
    def legacy_finished(self) -> bool:
        """A record the earlier tool wrote when a job had finished (`final_state`)."""
        final = self.data.get("final_state")
        return "batch" not in self.data and isinstance(final, str) and states.is_terminal(final)

    @property
    def missing(self) -> bool:
        """The server answered 404 for this job; its last known state is kept."""
        return fields.missing_of(self.data)

    @property
    def effective_state(self) -> str | None:
        data = self.data
        batch = fields.batch_of(data)
        return fields.effective_state_of(data, batch, fields.batch_name_of(data, batch))

    # --- the local queue (`submit --max-running/--max-cost`) --------------------------
    @property
    def queued(self) -> bool:
        """In the local queue: recorded, not created yet, and not cancelled."""
        data = self.data
        batch = fields.batch_of(data)
        name = fields.batch_name_of(data, batch)
        return fields.queued_of(data, name, fields.state_of(data, batch))

    @property
    def waiting(self) -> bool:
        """Queued and not taken: nobody has begun to upload or create it, so it can be
        created (or cancelled) without asking the server first."""
        return self.queued and "owner" not in self.data

    @property
    def intent(self) -> bool:
        """Taken for creating and not created yet: a create may have reached the server,
        so only the owner, or whoever outlives it, may finish it (after listing)."""
        return (
            bool(self.submit_id)
            and not self.batch_name
            and not states.is_terminal(self.state)
            and not self.waiting
        )

    @property
    def is_terminal(self) -> bool:
        return states.is_terminal(self.effective_state)

    @property
    def request_count(self) -> int | None:
        return fields.request_count_of(self.data)

    @property
    def results_file(self) -> str | None:
        return fields.results_file_of(self.data)

    @property
    def remote_deleted(self) -> bool:
        return fields.remote_deleted_of(self.data)

    @property
    def display_name(self) -> str:
        return self.input_file or self.batch_name or self.submit_id or "(unnamed job)"

    # --- change tracking ------------------------------------------------------------
    @property
    def touched(self) -> bool:
        return self._touched

    def changes(self) -> dict[str, Any]:
        """What changed since it was read, as a nested patch (`DELETED` marks removals)."""
        if not self._touched or self._raw is None:
            return {}
        original = loads_line(self.original_line) if self.original_line is not None else {}
        return diff(original if isinstance(original, dict) else {}, self._raw)

    def mark_saved(self, line: bytes) -> None:
        self._line = line
        self._touched = False

    def serialise(self) -> bytes:
        """The record's line; an unchanged record keeps its exact original bytes."""
        if not self._touched:
            line = self.original_line
            if line is not None:
                return line
        text = json.dumps(self.data, ensure_ascii=False, separators=(", ", ": "))
        try:
            return text.encode() + b"\n"
        except UnicodeEncodeError:
            # A lone surrogate ("\ud800" in the file) has no UTF-8 form: write the
            # record with escapes, which reads back to the same value.
            return json.dumps(self.data, separators=(", ", ": ")).encode() + b"\n"


class LimitsRecord(JobRecord):
    """The job file's own settings line (`{"gembatch_limits": {...}}`): the budget and
    the queue's size, kept with the jobs so that every process and every restart
    honours them. Merged like a record (by its fixed key), never shown as a job."""

    __slots__ = ()
    FIELD = "gembatch_limits"

    @property
    def key(self) -> str:
        return "gembatch:limits"

    @property
    def values(self) -> dict[str, Any]:
        values = self.data.get(self.FIELD)
        return values if isinstance(values, dict) else {}


@dataclass
class BadLine:
    """A line that did not parse as a JSON object; kept byte for byte."""

    line_number: int
    data: bytes
    reason: str

    @property
    def is_blank(self) -> bool:
        return not self.data.strip()


Entry = JobRecord | BadLine


def diff(old: Any, new: Any) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for key in new.keys() | old.keys():
        if key not in new:
            patch[key] = DELETED
        elif key not in old or old[key] != new[key]:
            if isinstance(old.get(key), dict) and isinstance(new[key], dict):
                patch[key] = diff(old[key], new[key])
            else:
                patch[key] = copy.deepcopy(new[key])
    return patch


def apply_patch(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is DELETED:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            apply_patch(target[key], value)
        else:
            target[key] = value


def _parse_line(line: bytes) -> dict[str, Any]:
    """A line `parse_lines` accepted as an object, parsed again the same way."""
    return loads_line(line)  # type: ignore[no-any-return]
