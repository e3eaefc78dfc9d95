"""Who is creating an intent: a process holds a lock named by its token while it may own
intents, so another process can tell a live owner (leave its intents alone) from a dead
one (finish what it left). The lock files live in the job file's hidden folder.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import filelock

from gembatch.jobfile.disk import lock_path
from gembatch.jobfile.file import JobFile, JobRecord


def owner_token(record: JobRecord) -> str | None:
    """The token of the process that took this intent, as its record names it."""
    owner = record.data.get("owner")
    token = owner.get("token") if isinstance(owner, dict) else None
    return token if isinstance(token, str) and token.isalnum() else None


def owner_lock_path(job_file: JobFile, token: str) -> str:
    return str(lock_path(job_file.real_path, f".submit-{token}.lock"))


def owner_words(record: JobRecord) -> str:
    """`process 123 on host`, for a message about an intent someone else is finishing."""
    owner = record.data.get("owner")
    if isinstance(owner, dict):
        return f"process {owner.get('pid')} on {owner.get('host')}"
    return "another process"


def release(lock: filelock.FileLock) -> None:
    """Let a lock go and remove its file (nobody waits on an owner's lock)."""
    lock.release()
    Path(lock.lock_file).unlink(missing_ok=True)


def take_if_dead(job_file: JobFile, record: JobRecord) -> filelock.FileLock | None:
    """The intent's owner lock, now held by us; None while its owner is alive. An intent
    of a version before owner tokens is named by its submit id."""
    token = owner_token(record) or f"legacy-{record.submit_id}"
    lock = filelock.FileLock(owner_lock_path(job_file, token), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        return None
    return lock


def owner_alive(job_file: JobFile, record: JobRecord) -> bool:
    """Whether the process that took this intent still runs (it holds its lock)."""
    if owner_token(record) is None:
        return False
    lock = take_if_dead(job_file, record)
    if lock is None:
        return True
    release(lock)
    return False


class Ownership:
    """This process's claim on the intents it writes: its lock, taken on first use and
    held until `close`, and the `owner` field each of its intents carries."""

    def __init__(self, job_file: JobFile) -> None:
        self.job_file = job_file
        self.token = uuid.uuid4().hex[:12]
        self._lock: filelock.FileLock | None = None

    def field(self) -> dict[str, object]:
        """Take the lock (once); the `owner` field for an intent of ours."""
        if self._lock is None:
            self._lock = filelock.FileLock(owner_lock_path(self.job_file, self.token))
            self._lock.acquire()
        return {"token": self.token, "pid": os.getpid(), "host": socket.gethostname()}

    def close(self) -> None:
        """Every intent of ours is finished or recorded: let the lock file go."""
        if self._lock is not None:
            release(self._lock)
            self._lock = None
