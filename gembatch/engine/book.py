"""What a cycle records and reports, for the engine and each of its steps: records
changed (one rewrite per cycle), failures (counted; a 429 and a server's wait noted for
the back-off), the queue's places and its news (each line once per run)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from gembatch.engine.events import Event, JobUpdated, PollFailed, QueueNote
from gembatch.gemini.client import GeminiError, TransientError
from gembatch.jobfile.file import JobFile, JobFileError, JobRecord
from gembatch.jobfile.view import JobView


class CycleBook:
    """The engine's bookkeeping, shared with its steps (`steps`)."""

    def __init__(self, job_file: JobFile, emit: Callable[[Event], None]) -> None:
        self.job_file = job_file
        self.emit = emit
        self.dirty = False  # records changed since the last rewrite
        self.save_problem = ""  # why the job file could not be written, if it could not
        self.cycle_errors = 0
        self.rate_limited = False
        self.server_wait = 0.0
        self.places: dict[str, int] = {}  # queued parts' places in line
        self.noted: set[str] = set()

    def view(self, record: JobRecord) -> JobView:
        view = JobView.of(record)
        place = self.places.get(record.key) if record.queued else None
        return dataclasses.replace(view, queue_place=place) if place else view

    def save_if_dirty(self) -> bool:
        if not self.dirty:
            return True
        try:
            self.job_file.save()
        except (JobFileError, OSError) as error:
            self.save_problem = str(error)
            self.fail(
                f"could not rewrite {self.job_file.path}: {error}; nothing was deleted, "
                "will try again next cycle",
                transient=False,
            )
            return False
        self.dirty = False
        self.save_problem = ""
        return True

    def changed(self, record: JobRecord, previous: str | None = None, emit: bool = True) -> None:
        self.dirty = True
        if emit:
            self.emit(JobUpdated(JobView.of(record), previous))

    def fail(
        self,
        message: str,
        record: JobRecord | None = None,
        transient: bool = True,
        error: GeminiError | None = None,
    ) -> None:
        self.cycle_errors += 1
        if error is not None and error.code == 429:
            self.rate_limited = True
        if isinstance(error, TransientError) and error.retry_after:
            self.server_wait = max(self.server_wait, error.retry_after)
        self.emit(PollFailed(message, record.key if record else None, transient))

    def queue_moved(self, record: JobRecord, previous: str | None) -> None:
        self.emit(JobUpdated(self.view(record), previous))

    def note(self, message: str, key: str | None = None) -> None:
        """The queue's news, each line once per run (a wait is not news every cycle)."""
        if message not in self.noted:
            self.noted.add(message)
            self.emit(QueueNote(message.removeprefix("error: "), key))
