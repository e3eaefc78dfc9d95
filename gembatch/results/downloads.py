"""Fetching a finished job's results to disk: choose a path no other job has, stream,
verify, keep what an incomplete output gave, and adopt what an earlier run left.

The engine decides *when* (see `lifecycle`); this module does the saving and records
its outcome on the job's record. It never deletes anything remote.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from gembatch.clock import Clock
from gembatch.gemini.client import (
    GeminiClient,
    GeminiError,
    NotFoundError,
    RemoteJob,
    UnmanageableFile,
)
from gembatch.inputs import InputError, read_requests
from gembatch.jobfile import lifecycle
from gembatch.jobfile.file import JobRecord
from gembatch.results import merge
from gembatch.results.check import ResultsProblem, ResultsSummary
from gembatch.results.files import (
    DiskSave,
    Expected,
    ResultsPath,
    display_path,
    inline_result_lines,
    results_path_for,
    save_results,
    verify_existing,
)

# A short output is fetched again with growing pauses; after this many downloads that
# all gave the same line count, the server's output is taken as final (what it lacks
# counts as failed rows, which `gembatch retry` resubmits).
SHORT_OUTPUT_ATTEMPTS = 3
FIRST_RETRY_S = 60.0
MAX_RETRY_S = 6 * 3600.0
MISSING_KEYS_SHOWN = 5
CLAIMING_FIELDS = ("results_file", "merged_results_file", "incomplete_results_file")


@dataclass(frozen=True)
class SaveOutcome:
    """What happened to one job's results; the engine turns it into events."""

    saved: ResultsSummary | None = None  # verified and recorded
    path: str = ""
    problem: str = ""  # one line for the user when not saved (or saved short)
    transient: bool = True
    error: GeminiError | None = None
    blocked: bool = False  # no retry can help until the user acts (said once)
    adopted: bool = False  # found complete on disk, from a run killed before recording


class ResultsSaver:
    """Saves results for the jobs of one job file; remembers which paths are taken."""

    def __init__(self, base: Path, client: GeminiClient, folder_name: str, clock: Clock) -> None:
        self.base = base
        self.client = client
        self.folder_name = folder_name
        self.clock = clock
        self._claimed: set[str] | None = None  # paths records name (built when needed)
        self._reserved: dict[str, str] = {}  # record key -> path its save is writing
        self._swept: set[Path] = set()  # folders cleared of a killed run's temp files

    # --- paths ------------------------------------------------------------------------
    def forget_claims(self) -> None:
        """Other processes may have changed the job file: rebuild the claims when needed."""
        self._claimed = None

    def _recorded_claims(self, records: Iterable[JobRecord]) -> set[str]:
        if self._claimed is None:
            self._claimed = {
                value
                for record in records
                for value in map(record.data.get, CLAIMING_FIELDS)
                if isinstance(value, str) and value
            }
        return self._claimed

    def destination(self, record: JobRecord, records: Iterable[JobRecord]) -> ResultsPath:
        """The results path for `record`, reserved now (not when the save ends), so two
        jobs finishing together can never pick the same file."""
        mine = {record.data.get(field) for field in CLAIMING_FIELDS}
        mine.add(self._reserved.pop(record.key, None))
        claimed = self._recorded_claims(records)
        reserved = set(self._reserved.values())  # the saves in flight: a handful

        def taken(path: str) -> bool:  # membership, not a copy of every claim per save
            return path not in mine and (path in claimed or path in reserved)

        path = results_path_for(record.input_file, self.base, record.batch_name, self.folder_name)
        dest = ResultsPath.of(path, self.base)
        if taken(dest.shown):
            suffix = str(record.batch_name or record.key).split("/")[-1].split(":")[-1]
            dest = dest.renamed(f"{path.stem}.{suffix}{path.suffix}")
        self._reserved[record.key] = dest.shown
        return dest

    def claim(self, dest: ResultsPath) -> None:
        if self._claimed is not None:
            self._claimed.add(dest.shown)

    def _display(self, path: Path) -> str:
        return display_path(path, self.base)

    # --- saving -----------------------------------------------------------------------
    async def save(
        self,
        record: JobRecord,
        remote: RemoteJob,
        dest: ResultsPath,
        on_progress: Callable[[int], None],
    ) -> SaveOutcome:
        """Adopt what a run killed before recording left complete at `dest`, else
        stream, verify and record; when nothing was saved, learn when the output goes
        (`note_expiry`). `remote` must have an output (file or inline)."""
        expect = _expected(record, remote)
        sweep = self._first_save_in(dest.path.parent)
        try:
            disk = await save_results(dest, self._writer(remote, on_progress), expect, sweep=sweep)
        except ResultsProblem as problem:
            record.raw["last_error"] = f"results not saved: {problem}; remote kept, will retry"
            outcome = SaveOutcome(
                problem=f"{problem}; the remote job is kept and the download will be retried",
                transient=False,
            )
        except NotFoundError as gone:
            outcome = await self._output_gone(record, remote, gone)
        except GeminiError as error:
            outcome = SaveOutcome(problem=str(error), transient=error.retryable, error=error)
        except OSError as error:
            outcome = self._cannot_write(dest, error)
        else:
            outcome = self._recorded(record, remote, disk)
        if outcome.saved is None:
            await self.note_expiry(record, remote)
        return outcome

    def _first_save_in(self, folder: Path) -> bool:
        """Whether a killed run's half-written downloads are still to be swept from
        `folder`: once per folder per run, not a scan per save."""
        first = folder not in self._swept
        self._swept.add(folder)
        return first

    def _recorded(self, record: JobRecord, remote: RemoteJob, disk: DiskSave) -> SaveOutcome:
        """The job's record, told what is on disk."""
        if disk.short_of is not None:
            return self._keep_short(record, disk)
        self.record(record, disk.at, disk.summary)
        outcome = SaveOutcome(saved=disk.summary, path=disk.at.shown, adopted=disk.adopted)
        return outcome if disk.adopted else _failed_count_checked(remote, outcome)

    def _cannot_write(self, dest: ResultsPath, error: OSError) -> SaveOutcome:
        in_the_way = _file_in_the_way(dest.path.parent, self.base)
        if in_the_way is not None:
            return SaveOutcome(
                problem=f"{self._display(in_the_way)} is a file where the results folder "
                "should be; move it away and poll again (the remote jobs are kept)",
                transient=False,
                blocked=True,
            )
        reason = (error.strerror or str(error)).lower()
        return SaveOutcome(
            problem=f"cannot write {dest.shown}: {reason}; free some space or "
            "fix the folder's permissions (the remote job is kept; saving is retried "
            "next cycle)",
            transient=False,
        )

    def _writer(
        self, remote: RemoteJob, on_progress: Callable[[int], None]
    ) -> Callable[[BinaryIO], Any]:
        if remote.output_file:
            name = remote.output_file

            async def download(handle: BinaryIO) -> Any:
                return await self.client.download_file(name, handle, on_progress)

            return download
        responses = remote.inlined_responses or []

        async def write_inline(handle: BinaryIO) -> Any:
            for line in inline_result_lines(responses):
                handle.write(line)

        return write_inline

    def record(self, record: JobRecord, dest: ResultsPath, summary: ResultsSummary) -> None:
        raw = record.raw
        raw["results_file"] = dest.shown
        raw["results_lines"] = summary.lines
        raw["failed_rows"] = summary.failed_rows
        if summary.usage:
            raw["usage"] = summary.usage
        for stale in ("last_error", "results_retry_at", "results_attempts"):
            raw.pop(stale, None)
        raw[merge.SERVER_ORDER] = True  # put in input order by the merge step (§0.12)
        self.claim(dest)

    def _keep_short(self, record: JobRecord, disk: DiskSave) -> SaveOutcome:
        """Paid work is kept: a short output stays on disk, named and recorded; the same
        line count three downloads running is taken as final."""
        summary, raw = disk.summary, record.raw
        assert disk.short_of is not None
        attempts = _this_attempt(record)
        if disk.final:
            missing_rows = disk.short_of - summary.lines
            summary.failed_rows += missing_rows
            self.record(record, disk.at, summary)
            raw.pop("incomplete_results_file", None)
            raw.pop("incomplete_lines", None)
            raw["missing_rows"] = missing_rows
            note = self._short_note(record, disk)
            raw["last_error"] = f"{note}; taken as final after {attempts} downloads"
            return SaveOutcome(
                saved=summary,
                path=disk.at.shown,
                problem=f"{note}; the same after {attempts} downloads, so saved as it is "
                "(the missing rows count as failed; `gembatch retry` resubmits them)",
                transient=False,
            )
        self.claim(disk.at)
        wait = min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** (attempts - 1))
        raw["incomplete_results_file"] = disk.at.shown
        raw["incomplete_lines"] = summary.lines
        raw["results_attempts"] = attempts
        raw["results_retry_at"] = self.clock.iso(later_s=wait)
        note = self._short_note(record, disk)
        raw["last_error"] = f"{note}; kept in {disk.at.shown}"
        return SaveOutcome(
            problem=f"{note}; what came is kept in {disk.at.shown}, the remote "
            f"job is kept, and the download is tried again in {_minutes(wait)}",
            transient=False,
        )

    def _short_note(self, record: JobRecord, disk: DiskSave) -> str:
        """`output has 4 of 6 lines; missing keys: a, b`."""
        missing = _missing_keys(self.base, record, disk.at.path)
        return f"output has {disk.summary.lines:,} of {disk.short_of:,} lines" + (
            f"; missing keys: {missing}" if missing else ""
        )

    async def _output_gone(
        self, record: JobRecord, remote: RemoteJob, gone: NotFoundError
    ) -> SaveOutcome:
        """The output is not there; if `files.get` agrees, it has expired or was deleted."""
        name = str(remote.output_file)
        try:
            await self.client.get_file(name)
        except UnmanageableFile:
            # The Files API cannot say (a 42-character output id, §0.11): judge by the
            # job's end time, as the service deletes outputs about 48 h after it.
            if self.clock.now() < lifecycle.output_expires(record):
                return SaveOutcome(problem=f"{gone}; will retry", transient=True, error=gone)
            return self._mark_gone(record, name)
        except NotFoundError:
            return self._mark_gone(record, name)
        except GeminiError as error:
            return SaveOutcome(problem=str(error), transient=error.retryable, error=error)
        return SaveOutcome(problem=f"{gone}; will retry", transient=True, error=gone)

    def _mark_gone(self, record: JobRecord, name: str) -> SaveOutcome:
        record.raw["output_gone_at"] = self.clock.iso()
        record.raw["last_error"] = (
            f"the output {name} is gone from the server (expired or deleted) before its "
            "results were saved; the record is kept"
        )
        return SaveOutcome(
            problem=f"{record.raw['last_error']}; resubmit the input to run it again",
            transient=False,
        )

    async def note_expiry(self, record: JobRecord, remote: RemoteJob) -> None:
        """When a save did not succeed, learn when the output will be deleted from the
        file itself (§0.9), so the warning comes in time; once per job."""
        if not remote.output_file or record.data.get("output_expires_at"):
            return
        try:
            info = await self.client.get_file(remote.output_file)
        except UnmanageableFile:  # cannot be read (§0.11): 48 h after the job ended, once
            fallback = lifecycle.output_expires(record)
            record.raw["output_expires_at"] = self.clock.iso(later_s=fallback - self.clock.now())
            return
        except GeminiError:
            return  # the warning falls back to 48 h after the job ended
        expires = getattr(info, "expiration_time", None)
        if isinstance(expires, datetime):
            record.raw["output_expires_at"] = expires.astimezone(timezone.utc).isoformat(
                timespec="seconds"
            )

    def adopt(self, record: JobRecord, records: Iterable[JobRecord]) -> bool:
        """For a finished job the server forgot: complete results an earlier run saved."""
        dest = self.destination(record, records)
        summary = verify_existing(dest.path, record.request_count)
        if summary is None:
            return False
        self.record(record, dest, summary)
        return True


def _failed_count_checked(remote: RemoteJob, outcome: SaveOutcome) -> SaveOutcome:
    """Rows without a response, against what the server counted (§0.4): a mismatch is
    said (the results file is what was saved)."""
    stats, saved = remote.stats, outcome.saved
    assert saved is not None
    if (
        stats is None
        or not stats.total
        or stats.failed is None
        or stats.failed == saved.failed_rows
    ):
        return outcome
    problem = (
        f"the results have {saved.failed_rows:,} failed rows, the server counted "
        f"{stats.failed:,}; the results file is what was saved"
    )
    return dataclasses.replace(outcome, problem=problem, transient=False)


def _file_in_the_way(folder: Path, base: Path) -> Path | None:
    """The file standing where `folder` or one of its parents (below `base`) should be."""
    for path in (folder, *folder.parents):
        if path.exists() and not path.is_dir():
            return path
        if path == base:
            break
    return None


def _expected(record: JobRecord, remote: RemoteJob) -> Expected:
    """Only a succeeded job with nothing pending owes one line per request; a failed
    or cancelled job's partial output is kept as it comes."""
    stats = remote.stats
    if not lifecycle.succeeded(record) or (stats and stats.pending):
        return Expected()
    earlier = record.data.get("incomplete_lines")
    last_try = _this_attempt(record) >= SHORT_OUTPUT_ATTEMPTS
    final = earlier if isinstance(earlier, int) and last_try else None
    failed = stats.failed if stats and stats.total else None
    return Expected(_expected_lines(record, remote), failed, final)


def _this_attempt(record: JobRecord) -> int:
    """Which download of a short output this is (1 for the first)."""
    return int(record.data.get("results_attempts", 0) or 0) + 1


def _expected_lines(record: JobRecord, remote: RemoteJob) -> int | None:
    if remote.stats and remote.stats.total is not None:
        return remote.stats.total
    count = record.data.get("count")
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _missing_keys(base: Path, record: JobRecord, results: Path) -> str:
    """`a, b, c and 12 more`: which input keys have no line in a short output."""
    try:
        found = merge.index_results([results])
        missing = [r.key for r in read_requests(base / record.input_file) if r.key not in found]
    except (OSError, InputError):
        return ""
    shown = ", ".join(missing[:MISSING_KEYS_SHOWN])
    more = len(missing) - MISSING_KEYS_SHOWN
    return f"{shown} and {more:,} more" if more > 0 else shown


def _minutes(seconds: float) -> str:
    minutes = math.ceil(seconds / 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes / 60:.0f} h"
