"""The data-safety rules, written once: the engine, `cleanup`, `cancel`, `retry` and the
merge all ask here.

- A job's results are *wanted* when it succeeded or the server gave it an output
  (a failed or cancelled job's partial output is paid work too).
- They are *on disk* when the record names a verified results file that exists.
- They are *due* while wanted, not on disk, and the output can still be had.
- Something remote *may be deleted* only when this run saw the server call the job
  finished, and every wanted result is verified on disk: never on the job file's
  word alone (a stale or hand-edited record must not delete a running job).
- A job is *handled* when nothing is left to do for it, locally or remotely.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gembatch import states
from gembatch.clock import Clock
from gembatch.formatting import parse_time
from gembatch.jobfile import fields
from gembatch.jobfile.file import JobRecord
from gembatch.jobfile.view import JobView

OUTPUT_LIFETIME_S = 48 * 3600  # what the service keeps inputs and outputs (§0.9)


def succeeded(record: JobRecord) -> bool:
    return fields.succeeded(record.effective_state)


def results_wanted(record: JobRecord) -> bool:
    data = record.data
    batch = fields.batch_of(data)
    state = fields.effective_state_of(data, batch, fields.batch_name_of(data, batch))
    return fields.results_wanted_of(data, batch, state)


def results_on_disk(record: JobRecord, base: Path) -> bool:
    return bool(record.results_file) and (base / str(record.results_file)).is_file()


def output_gone(record: JobRecord) -> bool:
    """The server no longer has the output (expired or deleted): nothing more to fetch."""
    return fields.output_gone_of(record.data)


def output_expires(record: JobRecord) -> float:
    """When the server deletes the output: its file's expirationTime when known, else
    48 h after the job ended (or now-ish, if even that is unknown)."""
    known = parse_time(record.data.get("output_expires_at"))
    if known is not None:
        return known
    ended = parse_time(record.batch.get("end_time"))
    return (ended or 0.0) + OUTPUT_LIFETIME_S


def waiting_to_retry(record: JobRecord, clock: Clock) -> bool:
    """An incomplete download backs off instead of being fetched again every cycle."""
    retry_at = parse_time(record.data.get("results_retry_at"))
    return retry_at is not None and clock.now() < retry_at


def results_due(record: JobRecord, base: Path) -> bool:
    """A finished job whose results we should have, do not have, and still can get."""
    return (
        record.is_terminal
        and not record.missing
        and not record.remote_deleted  # the output went with the remote job
        and results_wanted(record)
        and not output_gone(record)
        and not results_on_disk(record, base)
    )


def needs_visit(record: JobRecord, base: Path, clock: Clock) -> bool:
    """Whether this cycle must ask the server about the job for its own sake.

    Unfinished jobs, and finished ones whose results are due (unless an incomplete
    download is backing off). A job awaiting cleanup is visited too, once per run,
    because deletion needs the server's word (`awaits_cleanup`).
    """
    if not record.batch_name or record.missing or record.remote_deleted:
        return False
    if not record.is_terminal:
        return True
    return results_due(record, base) and not waiting_to_retry(record, clock)


def awaits_cleanup(record: JobRecord, base: Path) -> bool:
    """Finished by the job file's word, with nothing left to save: ready to delete
    once the server confirms it is finished."""
    return (
        bool(record.batch_name)
        and record.is_terminal
        and not record.missing
        and not record.remote_deleted
        and not output_gone(record)
        and (not results_wanted(record) or results_on_disk(record, base))
    )


def may_delete(record: JobRecord, base: Path, confirmed_finished: bool) -> bool:
    """Whether the remote job and its files may go now."""
    return confirmed_finished and awaits_cleanup(record, base)


def cancellable(record: JobRecord) -> bool:
    """A job on the server not finished yet, or a part waiting in the local queue."""
    return (bool(record.batch_name) and not record.is_terminal) or record.waiting


def handled(record: JobRecord, keep_remote: bool = False) -> bool:
    """Nothing left to do: results saved where wanted, and the remote cleaned up."""
    data = record.data
    batch = fields.batch_of(data)
    name = fields.batch_name_of(data, batch)
    state = fields.effective_state_of(data, batch, name)
    return handled_job(
        state,
        name,
        fields.output_gone_of(data),
        fields.results_wanted_of(data, batch, state),
        fields.results_file_of(data),
        fields.remote_deleted_of(data),
        keep_remote,
    )


def view_handled(job: JobView, keep_remote: bool = False) -> bool:
    """`handled`, for a view already built (a run's start views every record once)."""
    return handled_job(
        job.state,
        job.batch_name,
        job.results_lost,
        job.results_wanted,
        job.results_file,
        job.remote_deleted,
        keep_remote,
    )


def handled_job(
    state: str | None,
    batch_name: str | None,
    output_gone: bool,
    wanted: bool,
    results_file: str | None,
    remote_deleted: bool,
    keep_remote: bool,
) -> bool:
    """The rule. A missing job and a job whose output expired unsaved are handled too
    (nothing more can be done); they count as failures, never as done."""
    if not states.is_terminal(state):
        return False
    if state == states.MISSING or output_gone or not batch_name:
        return True  # (no batch: cancelled in the local queue, never created)
    if wanted and not results_file:
        return False
    return keep_remote or remote_deleted


def group_finished(group: Iterable[JobRecord], base: Path) -> bool:
    """Parts and retries of one input: all finished, nothing left to download."""
    return all(record.is_terminal and not results_due(record, base) for record in group)


def group_ready(group: Iterable[JobRecord], base: Path) -> bool:
    """Ready to merge: finished, with some results to merge."""
    group = list(group)
    return group_finished(group, base) and any(r.results_file for r in group)
