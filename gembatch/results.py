"""Results files: where they go, how they are written, and how they are checked."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from gembatch.atomic import AtomicFile
from gembatch.formatting import plural

RESULTS_FOLDER = "results"
USAGE_FIELDS = (
    "promptTokenCount",
    "candidatesTokenCount",
    "thoughtsTokenCount",
    "cachedContentTokenCount",
    "totalTokenCount",
)


class ResultsProblem(Exception):
    """Saved results are incomplete or unreadable; the remote job must be kept."""


class ShortResults(ResultsProblem):
    """Every line parses, but there are fewer (or more) than the job had requests.

    What came is paid work: it was kept at `path`, not thrown away.
    """

    def __init__(self, summary: ResultsSummary, expected: int, path: Path) -> None:
        super().__init__(lines_mismatch(summary.lines, expected))
        self.summary = summary
        self.expected = expected
        self.path = path


@dataclass
class ResultsSummary:
    """What a verified results file holds."""

    lines: int = 0
    failed_rows: int = 0
    usage: dict[str, int] = field(default_factory=dict)


def results_path_for(
    input_file: str, base: Path, batch_name: str | None = None, folder_name: str = RESULTS_FOLDER
) -> Path:
    """`<input dir>/results/<input name>`, never outside the results folder.

    `base` is the job file's folder; relative input paths are read from there. An
    input outside it (`../../x`, `/abs/x`) puts its results in `<base>/results/`.
    """
    base = base.resolve()
    source = Path(input_file) if input_file else Path()
    name = _safe_name(source.name) or _safe_name((batch_name or "job").replace("/", "-"))
    folder = (base / source.parent).resolve() / folder_name
    if source.is_absolute() or not _inside(folder, base):
        folder = base / folder_name
    path = (folder / name).resolve()
    if not _inside(path, folder.resolve()):  # a name like '..' after all the above
        path = folder / f"{_safe_name((batch_name or 'job').replace('/', '-'))}.jsonl"
    return path


def _safe_name(name: str) -> str:
    name = re.sub(r"[\x00/\\]", "_", name).strip()
    return "" if name in ("", ".", "..") else name


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def display_path(path: Path, base: Path) -> str:
    """The path relative to the job file's folder when it lies inside, else absolute."""
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


async def save_atomically(
    dest: Path,
    write: Callable[[BinaryIO], Awaitable[Any]],
    expected_lines: int | None,
    short_dest: Path | None = None,
) -> ResultsSummary:
    """Let `write` fill a temp file beside `dest`, verify it, fsync it and rename it.

    Lines that do not parse keep nothing. A count that differs from `expected_lines`
    is renamed to `short_dest` instead (when given) and raised as `ShortResults`.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    writer = AtomicFile(dest, suffix=".part")
    with writer as handle:
        target = VerifyingFile(handle)
        try:
            await write(target)  # type: ignore[arg-type]
        finally:
            target.stop()
        summary = target.result()
        short = expected_lines is not None and summary.lines != expected_lines
        if short and short_dest is None:
            writer.discard()
        elif short and short_dest is not None:
            writer.dest = short_dest
    if short:
        assert expected_lines is not None
        raise ShortResults(summary, expected_lines, short_dest or dest)
    return summary


def remove_stale_parts(folder: Path) -> None:
    """Drop the half-written downloads a killed process left in a results folder. Only
    the poller writes there, under its lock: before its first save, all are stale."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return  # not there yet (made on the first save) or unreadable (the save says so)
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(".part"):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def verify_existing(dest: Path, expected_lines: int | None) -> ResultsSummary | None:
    """A complete results file already on disk (a crash after its rename), or None."""
    if not dest.is_file():
        return None
    try:
        with dest.open("rb") as handle:
            return summarise(handle, expected_lines)
    except ResultsProblem:
        return None


def summarise(lines: Iterable[bytes], expected_lines: int | None) -> ResultsSummary:
    """Check every line parses and count them, failed rows and token usage."""
    summary = ResultsSummary()
    for number, line in enumerate(lines, start=1):
        _check_line(summary, number, line)
    return _complete(summary, expected_lines)


class _Response(msgspec.Struct):
    usageMetadata: dict[str, Any] | None = None


class _ResultLine(msgspec.Struct):
    """What the check needs of an output line; msgspec still reads (and so checks)
    the rest of it, without building it: a 1 GB output is checked at disk speed."""

    response: _Response | msgspec.UnsetType | None = msgspec.UNSET


_read_result_line = msgspec.json.Decoder(_ResultLine).decode


def _check_line(summary: ResultsSummary, number: int, line: bytes | bytearray | memoryview) -> None:
    if not len(line):
        return
    try:
        item = _read_result_line(line)
    except (msgspec.DecodeError, msgspec.ValidationError):
        _check_line_as_json(summary, number, bytes(line))  # odd: `json` has the last word
        return
    summary.lines += 1
    if item.response is msgspec.UNSET:
        summary.failed_rows += 1  # (the only sure sign: see `_check_line_as_json`)
    elif item.response is not None and item.response.usageMetadata:
        _add_usage_metadata(summary.usage, item.response.usageMetadata)


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
    _add_usage(summary.usage, item.get("response"))


def lines_mismatch(lines: int, expected: int) -> str:
    return f"results have {plural(lines, 'line')} but the job had {plural(expected, 'request')}"


def _complete(summary: ResultsSummary, expected_lines: int | None) -> ResultsSummary:
    if expected_lines is not None and summary.lines != expected_lines:
        raise ResultsProblem(lines_mismatch(summary.lines, expected_lines))
    return summary


class _LineChecker:
    """Checks lines as chunks arrive, in the writer's own thread: msgspec reads a
    results line at over 1 GB/s here, and a checking thread cost more than it saved
    (the writer waited for the interpreter lock after every write: 0.19x a plain
    copy). Memory stays at one chunk and one unfinished line whatever the file size."""

    def __init__(self) -> None:
        self.summary = ResultsSummary()
        self.problem: ResultsProblem | None = None
        self._tail = bytearray()
        self._number = 0

    def feed(self, chunk: bytes) -> None:
        """Check the lines the chunk completes; each is read where it lies (a view, not
        a copy), except the one that began in the chunk before."""
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
    """A write target that checks what passes through it (rewinding starts afresh)."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.checker = _LineChecker()

    def write(self, chunk: bytes) -> int:
        self.handle.write(chunk)
        self.checker.feed(bytes(chunk))  # (a copy: the caller may reuse its buffer)
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

    def stop(self) -> None:
        self.checker.finish()

    def result(self) -> ResultsSummary:
        """What passed through, every line checked; the count is the caller's to judge."""
        if self.checker.problem is not None:
            raise self.checker.problem
        return self.checker.summary


def _add_usage(totals: dict[str, int], response: Any) -> None:
    usage = response.get("usageMetadata") if isinstance(response, dict) else None
    if isinstance(usage, dict):
        _add_usage_metadata(totals, usage)


def _add_usage_metadata(totals: dict[str, int], usage: dict[str, Any]) -> None:
    for key in USAGE_FIELDS:
        value = usage.get(key)
        if isinstance(value, int):
            totals[key] = totals.get(key, 0) + value


def inline_result_lines(responses: list[dict[str, Any]]) -> Iterable[bytes]:
    """One JSONL line per inline response, keyed like the file output (`key` on top)."""
    for index, item in enumerate(responses):
        line: dict[str, Any] = {}
        metadata = item.get("metadata") if isinstance(item, dict) else None
        key = metadata.get("key") if isinstance(metadata, dict) else None
        line["key"] = key if key is not None else str(index)
        if isinstance(item, dict) and item.get("error") is not None:
            line["error"] = item["error"]
        else:
            line["response"] = item.get("response") if isinstance(item, dict) else item
        yield (json.dumps(line, ensure_ascii=False) + "\n").encode()
