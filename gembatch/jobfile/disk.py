"""The job file's dealings with the disk outside its records: its errors, the atomic
rewrite (streamed and hashed as written), and the locks (`jobfile` is the file itself).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import socket
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

import filelock

from gembatch.atomic import AtomicFile, new_file_mode
from gembatch.clock import Clock
from gembatch.errors import BadInput, PollerBusy
from gembatch.jobfile.records import BadLine, Entry

T = TypeVar("T")


class JobFileError(BadInput):
    """The job file cannot be read or written; the message says what to do."""


class PollerBusyError(JobFileError, PollerBusy):
    """Another process is already polling this job file."""

    exit_code = PollerBusy.exit_code


# --- telling a job file from something else -----------------------------------------------
HEAD_BYTES = 64 * 1024  # what is read to tell a job file from something else


def not_a_job_file(path: Path, why: str) -> str:
    return (
        f"{path} is not a job file ({why}); a job file holds one JSON object per line: "
        "pass --job-info FILE to name yours"
    )


def read_errors_mapped(path: Path, action: Callable[[], T]) -> T:
    """`action()`, its OSErrors (but a missing file) as one-line `JobFileError`s."""
    try:
        return action()
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise JobFileError(f"{path} is a folder, not a job file; pass --job-info FILE") from None
    except PermissionError:
        raise JobFileError(
            f"cannot read {path}: permission denied; check its owner and mode"
        ) from None
    except OSError as error:
        raise JobFileError(f"cannot read {path}: {error.strerror}; pass --job-info FILE") from None


def kind_of(mode: int) -> str:
    """What a file that is not a regular file is, for `not_a_job_file`."""
    if stat.S_ISDIR(mode):
        return "it is a folder"
    if stat.S_ISFIFO(mode):
        return "it is a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "it is a device"
    return "it is not a regular file"


def not_job_lines(head: bytes) -> str:
    """Why a file's first bytes show it is no job file ("" when they may be one):
    binary data, or not one line that starts a JSON object (a CSV, a JSON array)."""
    if not head.strip():
        return ""
    if b"\x00" in head:
        return "it holds binary data"
    for line in head.split(b"\n"):
        if line.lstrip().removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"{"):
            return ""
    return "no line starts a JSON object: a CSV, or one JSON document?"


# A job file's locks and markers live in one hidden folder beside it, not as three
# files beside the user's own (issue 25). A lock file cannot be removed safely while
# another process may be opening it, so they stay there, out of sight.
LOCK_FOLDER = ".gembatch"


def hidden_folder(real_path: Path) -> Path:
    """The job file's hidden folder (created by whoever first puts something there)."""
    return real_path.parent / LOCK_FOLDER


def lock_path(real_path: Path, suffix: str) -> Path:
    """Where the job file's lock or marker named by `suffix` lives."""
    return hidden_folder(real_path) / f"{real_path.name}{suffix}"


def _held_by_an_older_gembatch(real_path: Path, suffix: str) -> bool:
    """Versions before `LOCK_FOLDER` kept their locks beside the job file: one still
    running holds its lock there (the file is busy); a lock left behind is removed."""
    legacy = Path(f"{real_path}{suffix}")
    if not legacy.is_file():
        return False
    lock = filelock.FileLock(str(legacy), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        return True
    except OSError:
        return False  # (not ours to judge: the new lock decides)
    lock.release()
    with contextlib.suppress(OSError):
        legacy.unlink()
    return False


@contextlib.contextmanager
def poller_lock(path: Path, real_path: Path, clock: Clock) -> Iterator[None]:
    """Hold the single-poller lock of a job file for as long as the block runs."""
    lock = filelock.FileLock(str(lock_path(real_path, ".poll.lock")), timeout=0)
    holder_path = lock_path(real_path, ".poller")
    try:
        lock.acquire()
        if _held_by_an_older_gembatch(real_path, ".poll.lock"):
            lock.release()
            raise filelock.Timeout(str(real_path))
        _held_by_an_older_gembatch(real_path, ".lock")  # (a leftover goes)
    except filelock.Timeout:
        holder = _read_holder(holder_path)
        raise PollerBusyError(
            f"{path} is already being polled by {holder}; "
            "watch that one, or stop it before starting another"
        ) from None
    except OSError as error:
        raise lock_problem(Path(lock.lock_file), error) from None
    try:
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": clock.now()}
        holder_path.write_text(json.dumps(me))
        yield
    finally:
        with contextlib.suppress(OSError):
            holder_path.unlink()
        lock.release()


def lock_problem(lock: Path, error: OSError) -> JobFileError:
    """One line for a lock file we cannot create or open (another user's, a folder...)."""
    reason = (error.strerror or str(error)).lower()
    if lock.parent.name == LOCK_FOLDER and not lock.parent.is_dir():
        lock = lock.parent  # the hidden folder could not be made
    if lock.exists():
        return JobFileError(
            f"cannot open the lock file {lock}: {reason}; if it belongs to another user or "
            "is not a file, remove it while no gembatch runs; the job file was not changed"
        )
    folder = lock.parent if str(lock.parent) else Path(".")
    return JobFileError(f"cannot write in {folder}: {reason}; the job file was not changed")


def _read_holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text())
        since = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(info["since"])))
        return f"process {info['pid']} on {info['host']} (since {since})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def atomic_write(
    path: Path,
    data: bytes | Iterable[bytes],
    before_replace: Callable[[str], None] | None = None,
) -> tuple[int, bytes]:
    """Write `data` (bytes, or lines as they are made) to `path` so a crash at any
    instant leaves the old or the new file; its length and SHA-1, for `_remember`.
    `before_replace` is given the written temp file's path just before the rename."""
    chunks = [data] if isinstance(data, bytes) else data
    try:
        mode = path.stat().st_mode & 0o777  # a rewrite keeps the file's permissions
    except FileNotFoundError:
        mode = new_file_mode() & 0o644
    folder = path.parent if str(path.parent) else Path(".")
    atomic = AtomicFile(path, mode=mode)
    if before_replace is not None:
        atomic.before_replace = lambda: before_replace(atomic.tmp_name)
    try:
        with atomic as handle:
            return _write_hashed(handle, chunks)
    except PermissionError:
        raise JobFileError(
            f"cannot write in {folder}: permission denied; the job file was not changed"
        ) from None
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise JobFileError(f"cannot write {path}: {reason}; the job file was not changed") from None


def _write_hashed(handle: BinaryIO, chunks: Iterable[bytes]) -> tuple[int, bytes]:
    """Write in pieces of about a megabyte, hashing as it goes."""
    digest, length, pending, size = hashlib.sha1(), 0, [], 0
    for chunk in chunks:
        pending.append(chunk)
        size += len(chunk)
        if size >= 1 << 20:
            block = b"".join(pending)
            handle.write(block)
            digest.update(block)
            length += len(block)
            pending, size = [], 0
    block = b"".join(pending)
    handle.write(block)
    digest.update(block)
    return length + len(block), digest.digest()


def lines_before(handle: BinaryIO, length: int) -> Iterator[bytes]:
    """The lines of the next `length` bytes (the last one ends there)."""
    for line in handle:
        if length <= 0:
            return
        yield line[:length]
        length -= len(line)


def entry_bytes(entry: Entry) -> bytes:
    """An entry as its line in the file (a bad line byte for byte, ended)."""
    if not isinstance(entry, BadLine):
        return entry.serialise()
    return entry.data if entry.data.endswith(b"\n") else entry.data + b"\n"


# A `job-info.jsonl.tmp` younger than this is the earlier tool's write in progress.
EARLIER_TOOL_LOCK_S = 600.0


def respect_earlier_tool(path: Path, real_path: Path, clock: Clock) -> None:
    """The earlier gembatch locks by creating `job-info.jsonl.tmp` (O_EXCL) and writes
    it before renaming it over the file: while a fresh one exists, it is writing."""
    marker = Path(str(real_path) + ".tmp")
    try:
        age = clock.now() - marker.stat().st_mtime
    except OSError:
        return
    if age < EARLIER_TOOL_LOCK_S:
        raise JobFileError(
            f"{marker} exists ({age:.0f}s old): the earlier gembatch tool is writing "
            f"{path}; try again when it has finished (or remove {marker.name} if "
            "it is not running)"
        )


def sweep_stale_temp_files(real_path: Path) -> None:
    """Temp files of ours that a killed rewrite left; under the write lock no other
    writer can be midway, so every one of them is stale."""
    for stale in real_path.parent.glob(f".{glob.escape(real_path.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()
