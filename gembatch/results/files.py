"""Results files: where they go and how they are written (checked by `results_check`)."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from gembatch.atomic import AtomicFile
from gembatch.results.check import (
    ResultsProblem,
    ResultsSummary,
    VerifyingFile,
    summarise,
)

RESULTS_FOLDER = "results"


@dataclass(frozen=True)
class ResultsPath:
    """A job's results file from birth to record: where it is on disk, and how the job
    file, the screen and the log name it (relative to the job file's folder when it
    lies inside, else absolute). Made once per save, in `ResultsSaver.destination`."""

    path: Path
    shown: str

    @classmethod
    def of(cls, path: Path, base: Path) -> ResultsPath:
        return cls(path, display_path(path, base))

    def renamed(self, name: str) -> ResultsPath:
        """The same file under another name in the same folder."""
        path = self.path.with_name(name)
        return ResultsPath(path, str(Path(self.shown).with_name(name)))

    def incomplete(self) -> ResultsPath:
        """Where a short output is kept, beside the results file."""
        return self.renamed(f"{self.path.stem}.incomplete{self.path.suffix or '.jsonl'}")


@dataclass(frozen=True)
class Expected:
    """What a job's output should hold, as far as the job file and the server say."""

    lines: int | None = None  # one a request (a succeeded job, nothing pending), else None
    failed: int | None = None  # the server's failed-row count, where it gave a total
    final_lines: int | None = None  # a short output of this many lines is taken as final


@dataclass
class DiskSave:
    """A verified results file on disk: where, what it holds, and how it got there."""

    summary: ResultsSummary
    at: ResultsPath  # the results file, or its incomplete sibling for a short output
    adopted: bool = False  # complete on disk already, from a run killed before recording
    short_of: int | None = None  # the lines expected, when fewer (or more) came
    final: bool = False  # short, the same as the last downloads: saved as the results


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


async def save_results(
    dest: ResultsPath,
    write: Callable[[BinaryIO], Awaitable[Any]],
    expect: Expected,
    *,
    sweep: bool,
) -> DiskSave:
    """The job's results at `dest`, verified: adopted when an earlier run left them
    complete, else written by `write` to a temp file beside `dest`, checked, fsynced and
    renamed. A short output is paid work: it goes to `dest.incomplete()` (or to `dest`
    when it is `expect.final_lines` long). Lines that do not parse keep nothing
    (`ResultsProblem`). `sweep` first drops a killed run's half-written downloads."""
    if sweep:  # (first: an adopted file must not leave a killed run's temp files behind)
        remove_stale_parts(dest.path.parent)
    if expect.lines is not None:
        found = verify_existing(dest.path, expect.lines)
        if found is not None and expect.failed in (None, found.failed_rows):
            return DiskSave(found, dest, adopted=True)
    kept = dest.incomplete()
    dest.path.parent.mkdir(parents=True, exist_ok=True)
    writer = AtomicFile(dest.path, suffix=".part")
    with writer as handle:
        target = VerifyingFile(handle)
        try:
            await write(target)  # type: ignore[arg-type]
        finally:
            target.finish()
        summary = target.result()
        short = expect.lines is not None and summary.lines != expect.lines
        final = short and summary.lines == expect.final_lines
        if short and not final:
            writer.dest = kept.path
    if final:  # the earlier short downloads had the same lines: this one is the results
        kept.path.unlink(missing_ok=True)
    at = kept if short and not final else dest
    return DiskSave(summary, at, short_of=expect.lines if short else None, final=final)


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
