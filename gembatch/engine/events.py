"""What the engine tells its listeners: past-tense, immutable events.

The plain printer and the Textual monitor consume exactly these; neither reaches
into the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from gembatch.jobfile.view import JobView


@dataclass(frozen=True)
class Event:
    """Base of everything the engine emits."""


@dataclass(frozen=True)
class JobsLoaded(Event):
    """The job file was read; here is every job in it and any line that did not parse."""

    jobs: tuple[JobView, ...]  # the jobs the run can still change
    problems: tuple[str, ...] = ()
    budget_usd: float | None = None  # the job file's budget, when it has one
    # The settled rest of the file, counted by state group (`gembatch.report.history`): a screen
    # that lists every job asks the engine for their views.
    earlier: tuple[tuple[str, int], ...] = ()  # (group, jobs)


@dataclass(frozen=True)
class JobChecking(Event):
    """A request about this job is in flight."""

    key: str


@dataclass(frozen=True)
class ListingJobs(Event):
    """The cycle's survey: one list call reads many jobs at once (`pages` read so far,
    of at most `of_at_most`); `done` when it has ended. No one row is asked about."""

    pages: int
    of_at_most: int
    done: bool = False


@dataclass(frozen=True)
class JobChecked(Event):
    """The request about this job finished (whatever its outcome)."""

    key: str


@dataclass(frozen=True)
class JobUpdated(Event):
    """A job's recorded fields changed."""

    job: JobView
    previous_state: str | None = None


@dataclass(frozen=True)
class DownloadProgressed(Event):
    """Bytes of a job's results written so far."""

    key: str
    written: int


@dataclass(frozen=True)
class ResultsSaved(Event):
    """A job's results are complete and verified on disk."""

    job: JobView
    path: str
    lines: int
    failed_rows: int


@dataclass(frozen=True)
class RemoteDeleted(Event):
    """The remote batch job and its files were deleted (or, for an output the Files API
    cannot delete, left to expire on its own)."""

    job: JobView
    deleted: tuple[str, ...]
    left_to_expire: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResultsMerged(Event):
    """All parts and retries of one input were merged back into input order."""

    source: str
    path: str
    succeeded: int
    failed: int
    errors_path: str | None


@dataclass(frozen=True)
class JobStuck(Event):
    """A job has been pending or running for longer than it should."""

    job: JobView
    hours: float


@dataclass(frozen=True)
class OutputExpiring(Event):
    """A succeeded job's output is close to the API's deletion and not saved yet."""

    job: JobView
    hours_since_end: float


@dataclass(frozen=True)
class PollFailed(Event):
    """Something went wrong; `key` is the job it concerns, if any."""

    message: str
    key: str | None = None
    transient: bool = True


@dataclass(frozen=True)
class QueueNote(Event):
    """The local queue moved or waits: a job created from it, or why the next waits."""

    message: str
    key: str | None = None


@dataclass(frozen=True)
class PollingStopped(Event):
    """The server refused the key: no more cycles until it is fixed and gembatch restarted."""

    reason: str


@dataclass(frozen=True)
class CycleStarted(Event):
    """A poll cycle began."""

    started_at: float


@dataclass(frozen=True)
class CycleFinished(Event):
    """A poll cycle ended; `next_poll_in` is None when the engine stops."""

    finished_at: float
    checked: int
    errors: int
    next_poll_in: float | None
    all_done: bool
    rewrites: int
    # Nothing left to do but queued parts the budget holds back: only the user can
    # move them (`gembatch submit --max-cost`); says why, "" otherwise.
    stalled: str = ""
