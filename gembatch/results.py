"""Results files: where they go, how they are written, and how they are checked."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from gembatch.atomic import AtomicFile

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
        super().__init__(f"results have {summary.lines} lines but the job had {expected} requests")
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


def _check_line(summary: ResultsSummary, number: int, line: bytes) -> None:
    if not line or line.isspace():
        return
    try:
        item = _read_result_line(line)
    except (msgspec.DecodeError, msgspec.ValidationError):
        _check_line_as_json(summary, number, line)  # an odd line: `json` has the last word
        return
    summary.lines += 1
    if item.response is msgspec.UNSET:
        summary.failed_rows += 1  # (the only sure sign: see `_check_line_as_json`)
    elif item.response is not None and item.response.usageMetadata:
        _add_usage(summary.usage, {"usageMetadata": item.response.usageMetadata})


def _check_line_as_json(summary: ResultsSummary, number: int, line: bytes) -> None:
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


def _complete(summary: ResultsSummary, expected_lines: int | None) -> ResultsSummary:
    if expected_lines is not None and summary.lines != expected_lines:
        raise ResultsProblem(
            f"results have {summary.lines} lines but the job had {expected_lines} requests"
        )
    return summary


class _LineChecker:
    """Checks lines on a worker thread as chunks arrive, so checking overlaps the download.

    The queue is bounded: when checking falls behind, writing waits, and memory stays
    at a few chunks whatever the file size.
    """

    def __init__(self, max_chunks: int = 8) -> None:
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=max_chunks)
        self.summary = ResultsSummary()
        self.problem: ResultsProblem | None = None
        self.thread = threading.Thread(target=self._run, name="gembatch-verify", daemon=True)
        self.thread.start()

    def feed(self, chunk: bytes) -> None:
        self.queue.put(chunk)

    def finish(self) -> None:
        self.queue.put(None)
        self.thread.join()

    def _run(self) -> None:
        tail = b""
        number = 0
        while (chunk := self.queue.get()) is not None:
            if self.problem is not None:
                continue  # keep draining so the writer never blocks
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()
            try:
                for line in lines:
                    number += 1
                    _check_line(self.summary, number, line)
            except ResultsProblem as problem:
                self.problem = problem
        if tail.strip() and self.problem is None:
            try:
                _check_line(self.summary, number + 1, tail)
            except ResultsProblem as problem:
                self.problem = problem


class VerifyingFile:
    """A write target that checks what passes through it (rewinding starts afresh)."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.checker = _LineChecker()

    def write(self, chunk: bytes) -> int:
        self.handle.write(chunk)
        self.checker.feed(bytes(chunk))
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
    if not isinstance(usage, dict):
        return
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
