"""How the bytes of a job file become its entries: records (cold, their line only, or
where it is in the file) and bad lines kept byte for byte."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

from gembatch.jobfile.json_line import Blank, json_reason, loads_line
from gembatch.jobfile.line_source import LineSource
from gembatch.jobfile.records import BadLine, Entry, JobRecord, LimitsRecord


def parse_lines(data: bytes, first_line: int = 1) -> list[Entry]:
    """Split raw file bytes into records and bad lines, keeping every byte.

    Lines end at LF only (a bare CR inside a bad line is its own byte, not a line end);
    a UTF-8 byte order mark is accepted; no line, however deep or long its numbers,
    can make more than itself unreadable. Records are kept cold (their line only).
    """
    return [entry for entry, _ in scan_lines(_lf_lines(data), first_line)]


def read_entries(
    handle: BinaryIO,
    source: LineSource | None = None,
    visit: Callable[[JobRecord, dict[str, Any]], None] | None = None,
) -> tuple[list[Entry], int, bytes]:
    """Every line of `handle` as an entry, read as it streams by (never the whole file
    in memory beside its lines: that doubled the peak of a load), with the length and
    SHA-1 digest of what was read. With a `source` (the same file), records keep where
    their line is instead of the line. `visit` is shown each job record with the object
    its line parsed to, in file order (a reader's one pass, in the read's one parse)."""
    digest, length = hashlib.sha1(), 0
    at = 0  # where the line being scanned starts
    whole_lines: tuple[int, bytes] | None = None  # before a last line with no LF

    def lines() -> Iterator[bytes]:
        nonlocal length, at, whole_lines
        for line in handle:  # (a binary file's lines end at LF only, as the format's)
            if not line.endswith(b"\n"):
                whole_lines = (length, digest.digest())
            digest.update(line)
            at = length
            length += len(line)
            yield line

    entries = []
    for entry, obj in scan_lines(lines()):  # (each parsed object let go)
        if source is not None and isinstance(entry, JobRecord) and whole_lines is None:
            entry.refer(source, at, length - at)
        if visit is not None and type(entry) is JobRecord:
            visit(entry, obj)
        entries.append(entry)
    if source is not None:
        source.cover(*(whole_lines or (length, digest.digest())))
    return entries, length, digest.digest()


def scan_lines(lines: Iterable[bytes], first_line: int = 1) -> Iterator[tuple[Entry, Any]]:
    """Each line as an entry, with the object it parsed to (None for a bad line): for a
    reader that looks at every record once and keeps none (`status` on a million)."""
    for number, line in enumerate(lines, start=first_line):
        try:
            obj = loads_line(line)
        except Blank:
            yield BadLine(number, line, "blank line"), None
            continue
        except UnicodeDecodeError:
            yield BadLine(number, line, "not UTF-8 text"), None
            continue
        except RecursionError:
            yield BadLine(number, line, "nested too deeply to read"), None
            continue
        except ValueError as exc:  # JSONDecodeError, or an integer of thousands of digits
            yield BadLine(number, line, f"not valid JSON ({json_reason(exc)})"), None
            continue
        if not isinstance(obj, dict):
            yield BadLine(number, line, "not a JSON object"), None
            continue
        if not line.endswith(b"\n"):
            line += b"\n"
        kind = LimitsRecord if LimitsRecord.FIELD in obj else JobRecord
        yield kind(raw=None, original_line=line), obj


def _lf_lines(data: bytes) -> Iterator[bytes]:
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end + 1
        yield data[start:end]
        start = end
