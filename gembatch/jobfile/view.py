"""A job as shown and counted: one snapshot of a record, built in one pass over it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gembatch import formatting, states
from gembatch.jobfile import fields
from gembatch.jobfile.fields import count, text
from gembatch.jobfile.file import JobRecord


@dataclass(unsafe_hash=True)  # hashed and compared as if frozen; see below
class JobView:
    """A snapshot of one job, safe to hand to another thread or widget.

    Read-only by rule (make a changed copy with `dataclasses.replace`), but not a frozen
    dataclass: its `__init__` would set each of the 19 fields through
    `object.__setattr__`, which made a view cost 7x as much to build, and `status` and
    a poller's start build one for every record of the file.
    """

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

    built = 0  # views made so far in this process (a test counts them per run)

    @classmethod
    def _of(cls, record: JobRecord, whole: bool) -> JobView:
        # One pass over the object, each rule asked once (see `fields`).
        JobView.built += 1
        data = record.data
        batch = fields.batch_of(data)
        name = fields.batch_name_of(data, batch)
        state = fields.effective_state_of(data, batch, name)
        stats = data.get("stats")
        done = failed = None
        if isinstance(stats, dict) and stats:
            failed = count(stats.get("failed"))
            done = (count(stats.get("succeeded")) or 0) + (failed or 0)
        # Rows still failed: those no retry has answered since (set at the merge), else
        # the results' own count, else the server's.
        failed_rows = count(data.get("failed_rows_left"))
        if failed_rows is None:
            failed_rows = count(data.get("failed_rows"))
        usage = data.get("usage")
        return cls(
            fields.key_of(data, name),
            fields.input_file_of(data),
            name,
            state,
            fields.request_count_of(data),
            done,
            failed if failed_rows is None else failed_rows,
            text(batch.get("create_time")),
            text(batch.get("end_time")) or text(data.get("completed_at")),
            fields.results_file_of(data),
            fields.remote_deleted_of(data),
            text(data.get("last_error")),
            text(batch.get("model")),
            fields.output_gone_of(data),
            fields.results_wanted_of(data, batch, state),
            usage if isinstance(usage, dict) else None,
            _estimate_usd(data.get("estimate")),
            None,
            data if whole else {},
        )


def _estimate_usd(estimate: Any) -> float | None:
    value = estimate.get("cost_usd") if isinstance(estimate, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None
