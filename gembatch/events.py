"""What the engine tells its listeners: past-tense, immutable events.

The plain printer and the Textual monitor consume exactly these; neither reaches
into the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gembatch import formatting, lifecycle, states
from gembatch.jobfile import JobRecord, count, text


@dataclass(frozen=True)
class JobView:
    """A snapshot of one job, safe to hand to another thread or widget."""

    key: str
    input_file: str
    batch_name: str | None
    state: str | None
    request_count: int | None
    done_count: int | None
    failed_count: int | None
    create_time: str | None
    end_time: str | None
    results_file: str | None
    remote_deleted: bool
    last_error: str | None
    model: str | None
    results_lost: bool = False  # the output expired before its results were saved
    results_wanted: bool = False  # a job whose results belong on disk (lifecycle)
    usage: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    estimate_usd: float | None = None  # what it was expected to cost (under a budget)
    queue_place: int | None = None  # 1 for the next to be created from the local queue
    # The whole record, for the detail screen and hooks; left empty where a summary
    # of a million jobs needs only the fields above (`status`).
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def label(self) -> str:
        """The job's name as shown anywhere: escaped, whatever the job file holds."""
        return formatting.printable(self.input_file or self.batch_name or self.key)

    @property
    def state_info(self) -> states.StateInfo:
        if self.state is None:
            return states.NOT_CHECKED if self.batch_name else states.NOT_SUBMITTED
        return states.info(self.state)

    @property
    def state_label(self) -> str:
        """`running`; `queued #3` for a part in the local queue (its place in line)."""
        place = f" #{self.queue_place}" if self.queue_place else ""
        return self.state_info.label + place

    @classmethod
    def of(cls, record: JobRecord, whole: bool = True) -> JobView:
        if not record.cold:  # (the context manager costs a tenth of a view)
            return cls._of(record, whole)
        with record.warmed():
            return cls._of(record, whole)

    @classmethod
    def _of(cls, record: JobRecord, whole: bool) -> JobView:
        # Hand-edited files hold anything: a field of the wrong type reads as unknown.
        stats = record.data.get("stats") if isinstance(record.data.get("stats"), dict) else {}
        done = None
        if stats:
            done = (count(stats.get("succeeded")) or 0) + (count(stats.get("failed")) or 0)
        failed = count(record.data.get("failed_rows"))
        if failed is None and stats:
            failed = count(stats.get("failed"))
        batch = record.batch
        return cls(
            key=record.key,
            input_file=record.input_file,
            batch_name=record.batch_name,
            state=record.effective_state,
            request_count=record.request_count,
            done_count=done,
            failed_count=failed,
            create_time=text(batch.get("create_time")),
            end_time=text(batch.get("end_time")) or text(record.data.get("completed_at")),
            results_file=record.results_file,
            remote_deleted=record.remote_deleted,
            last_error=text(record.data.get("last_error")),
            model=text(batch.get("model")),
            results_lost=lifecycle.output_gone(record),
            results_wanted=lifecycle.results_wanted(record),
            usage=record.data["usage"] if isinstance(record.data.get("usage"), dict) else None,
            estimate_usd=_estimate_usd(record.data.get("estimate")),
            raw=record.data if whole else {},
        )


def _estimate_usd(estimate: Any) -> float | None:
    value = estimate.get("cost_usd") if isinstance(estimate, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


@dataclass(frozen=True)
class Event:
    """Base of everything the engine emits."""


@dataclass(frozen=True)
class JobsLoaded(Event):
    """The job file was read; here is every job in it and any line that did not parse."""

    jobs: tuple[JobView, ...]
    problems: tuple[str, ...] = ()
    budget_usd: float | None = None  # the job file's budget, when it has one


@dataclass(frozen=True)
class JobChecking(Event):
    """A request about this job is in flight."""

    key: str


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
    """The remote batch job and its files were deleted."""

    job: JobView
    deleted: tuple[str, ...]


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
