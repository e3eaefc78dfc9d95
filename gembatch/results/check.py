"""Checking a results file as it is written: every line parses, how many there are, how
many failed, and the tokens they used. A file that does not pass is never recorded."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, BinaryIO

import msgspec

from gembatch.formatting import plural

COUNTS_BATCH = 4096
USAGE_FIELDS = (
    "promptTokenCount",
    "candidatesTokenCount",
    "thoughtsTokenCount",
    "cachedContentTokenCount",
    "totalTokenCount",
)


class ResultsProblem(Exception):
    """Saved results are incomplete or unreadable; the remote job must be kept."""


@dataclass
class ResultsSummary:
    """What a verified results file holds."""

    lines: int = 0
    failed_rows: int = 0
    usage: dict[str, int] = field(default_factory=dict)
    # Lines' counts with every field given, added up a batch at a time (one `sum` per
    # field in C, not five additions a line in Python: a third of a GB's check).
    _whole_counts: list[tuple[int, ...]] = field(default_factory=list, repr=False)

    def add_counts(self, values: tuple[Any, ...]) -> None:
        """One line's token counts, in USAGE_FIELDS' order (msgspec's typed values)."""
        if None in values:
            _add_usage(self.usage, values)
            return
        self._whole_counts.append(values)
        if len(self._whole_counts) >= COUNTS_BATCH:
            self.fold_counts()

    def fold_counts(self) -> None:
        """Add the batched counts into `usage` (before it is read)."""
        if self._whole_counts:
            _add_usage(self.usage, map(sum, zip(*self._whole_counts, strict=True)))
            self._whole_counts = []


def lines_mismatch(lines: int, expected: int) -> str:
    return f"results have {plural(lines, 'line')} but the job had {plural(expected, 'request')}"


def summarise(lines: Iterable[bytes], expected_lines: int | None) -> ResultsSummary:
    """Check every line parses and count them, failed rows and token usage."""
    summary = ResultsSummary()
    for number, line in enumerate(lines, start=1):
        _check_line(summary, number, line)
    if expected_lines is not None and summary.lines != expected_lines:
        raise ResultsProblem(lines_mismatch(summary.lines, expected_lines))
    summary.fold_counts()
    return summary


class _Usage(msgspec.Struct):
    """The token counts summed over an output (USAGE_FIELDS); any other field is skipped."""

    promptTokenCount: int | None = None
    candidatesTokenCount: int | None = None
    thoughtsTokenCount: int | None = None
    cachedContentTokenCount: int | None = None
    totalTokenCount: int | None = None


class _Response(msgspec.Struct):
    usageMetadata: _Usage | None = None


class _ResultLine(msgspec.Struct):
    """What the check needs of an output line; msgspec still reads (and so checks)
    the rest of it, without building it: a 1 GB output is checked at disk speed."""

    response: _Response | msgspec.UnsetType | None = msgspec.UNSET


_DECODER = msgspec.json.Decoder(_ResultLine)
_CHECK_FAILED = (msgspec.DecodeError, msgspec.ValidationError)
_usage_values = attrgetter(*USAGE_FIELDS)  # (a tuple in USAGE_FIELDS' order)


def _check_line(summary: ResultsSummary, number: int, line: bytes | bytearray | memoryview) -> None:
    if not len(line):
        return
    try:
        item = _DECODER.decode(line)
    except _CHECK_FAILED:
        _check_line_as_json(summary, number, bytes(line))  # odd: `json` has the last word
        return
    summary.lines += 1
    response = item.response
    if response is msgspec.UNSET:
        summary.failed_rows += 1  # (the only sure sign: see `_check_line_as_json`)
    elif response is not None and response.usageMetadata is not None:
        summary.add_counts(_usage_values(response.usageMetadata))


def _check_line_as_json(summary: ResultsSummary, number: int, line: bytes) -> None:
    if line.isspace():
        return  # a blank line
    try:
        item = json.loads(line)
    except ValueError:
        raise ResultsProblem(f"results line {number} is not valid JSON") from None
    summary.lines += 1
    if not isinstance(item, dict):
        return
    if "response" not in item:
        # The only sure sign: the service copies extra input fields (a user's own
        # `status` or `error`) into output lines (shared/gemini-batch-api.md §0.4).
        summary.failed_rows += 1
    usage = item.get("response")
    usage = usage.get("usageMetadata") if isinstance(usage, dict) else None
    if isinstance(usage, dict):
        _add_usage(summary.usage, map(usage.get, USAGE_FIELDS))


def _add_usage(totals: dict[str, int], values: Iterable[Any]) -> None:
    """Token counts, in USAGE_FIELDS' order, added up; anything but a number skipped
    (either reader's values: msgspec's typed ones, or whatever `json` found)."""
    for name, value in zip(USAGE_FIELDS, values, strict=True):
        if isinstance(value, int):
            totals[name] = totals.get(name, 0) + value


class _LineChecker:
    """Checks lines as chunks arrive (msgspec reads a results line at over 2 GB/s here).
    Memory stays at one chunk and one unfinished line whatever the file size."""

    def __init__(self) -> None:
        self.summary = ResultsSummary()
        self.problem: ResultsProblem | None = None
        self._tail = bytearray()
        self._number = 0

    def feed(self, chunk: bytes) -> None:
        """Check the lines the chunk completes; each is read where it lies (a view, not
        a copy), except the one that began in the chunk before. (One msgspec call for a
        whole chunk reads no faster: the parse is the cost, and finding the blank lines
        it would skip cost more than the calls it saved.)"""
        if self.problem is not None:
            return
        end = chunk.find(b"\n")
        if end < 0:
            self._tail += chunk  # (a bytearray: a line of many chunks grows in place)
            return
        view = memoryview(chunk)
        try:
            self._number += 1
            _check_line(
                self.summary, self._number, self._tail + chunk[:end] if self._tail else view[:end]
            )
            start = end + 1
            while (end := chunk.find(b"\n", start)) >= 0:
                self._number += 1
                _check_line(self.summary, self._number, view[start:end])
                start = end + 1
        except ResultsProblem as problem:
            self.problem = problem
            return
        self._tail = bytearray(chunk[start:])

    def finish(self) -> None:
        if self._tail.strip() and self.problem is None:
            try:
                _check_line(self.summary, self._number + 1, self._tail)
            except ResultsProblem as problem:
                self.problem = problem
        self._tail = bytearray()


class VerifyingFile:
    """A write target that checks what passes through it (rewinding starts afresh).

    The check runs in the writing thread: a writer thread of its own (the chunk written
    while the next is checked and received) measured no faster on two cores, where the
    simulator, the download and the disk already share them (`benchmarks/download.py`).
    """

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.checker = _LineChecker()

    def write(self, chunk: bytes) -> int:
        self.handle.write(chunk)
        # (A buffer the caller may reuse is copied; the SDK's chunks are bytes already.)
        self.checker.feed(chunk if type(chunk) is bytes else bytes(chunk))
        return len(chunk)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.handle.seek(offset, whence)

    def truncate(self, size: int | None = None) -> int:
        """A retried download rewinds: what was checked so far no longer counts."""
        result = self.handle.truncate(size)
        self.checker.finish()
        self.checker = _LineChecker()
        return result

    def flush(self) -> None:
        self.handle.flush()

    def finish(self) -> None:
        """Check the last line (one without a newline at the end of the file)."""
        self.checker.finish()

    def result(self) -> ResultsSummary:
        """What passed through, every line checked; the count is the caller's to judge."""
        if self.checker.problem is not None:
            raise self.checker.problem
        self.checker.summary.fold_counts()
        return self.checker.summary
