"""What a job line's fields mean, read straight from its parsed object.

One function per rule. `JobRecord`'s properties read through them, and so does
`JobView.of`, which takes the object apart once, in one pass (a `status` over a
million records builds a view per line, so a rule asked three times costs three
times). Hand-edited files hold anything: a field of the wrong type reads as absent.
"""

from __future__ import annotations

from typing import Any

from gembatch import states

Fields = dict[str, Any]


def count(value: Any) -> int | None:
    """A whole, non-negative number from the file, or None (null, text, true...)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def text(value: Any) -> str | None:
    """A string field from the file, or None when it holds anything else."""
    return value if isinstance(value, str) else None


def batch_of(data: Fields) -> Fields:
    """The `batch` object as stored (empty when absent or not an object)."""
    batch = data.get("batch")
    return batch if isinstance(batch, dict) else {}


def batch_name_of(data: Fields, batch: Fields) -> str | None:
    """The remote job's name: `batch.name`, or the earliest records' `job_name`."""
    name = batch.get("name")
    if isinstance(name, str):
        return name
    return text(data.get("job_name"))


def key_of(data: Fields, batch_name: str | None) -> str:
    """An identity that never changes over the record's life, to merge with the disk.

    A submitted record has its submit id from the start (its batch name comes later);
    records from the earlier tool have only their batch name.
    """
    submit_id = text(data.get("submit_id"))
    if submit_id:
        return f"submit:{submit_id}"
    if batch_name:
        return f"batch:{batch_name}"
    return f"{BY_INPUT}{input_file_of(data)}"


BY_INPUT = "input:"  # the key of a record with neither a submit id nor a batch name


def keyed_by_input(key: str) -> bool:
    """A record with neither a submit id nor a batch name (a stray: kept, never guessed
    at; `status` and `poll` name how many the file holds)."""
    return key.startswith(BY_INPUT)


def input_file_of(data: Fields) -> str:
    value = data.get("input_file")
    return value if isinstance(value, str) else ""


def results_file_of(data: Fields) -> str | None:
    return text(data.get("results_file"))


def missing_of(data: Fields) -> bool:
    """The server answered 404 for this job; its last known state is kept."""
    return bool(data.get("missing_since"))


def remote_deleted_of(data: Fields) -> bool:
    """The remote job and its files were deleted (after the results were saved)."""
    return bool(data.get("remote_deleted_at"))


def output_gone_of(data: Fields) -> bool:
    """The server no longer has the output (expired or deleted): nothing more to fetch."""
    return bool(data.get("output_gone_at"))


def state_of(data: Fields, batch: Fields) -> str | None:
    """The state the server last reported (the earlier tool's oldest records keep it
    in `final_state`)."""
    state = batch.get("state")
    if state:
        return str(state)
    final = data.get("final_state")
    return final if isinstance(final, str) and final else None


def queued_of(data: Fields, batch_name: str | None, state: str | None) -> bool:
    """In the local queue: recorded, not created yet, and not cancelled."""
    return bool(data.get("queued_at")) and not batch_name and not states.is_terminal(state)


def effective_state_of(data: Fields, batch: Fields, batch_name: str | None) -> str | None:
    """The state to act on and show: missing (the server answered 404) and queued
    (in the local queue) come before what the server last said."""
    if missing_of(data):
        return states.MISSING
    state = state_of(data, batch)
    if queued_of(data, batch_name, state):
        return states.QUEUED_HERE
    return state


def request_count_of(data: Fields) -> int | None:
    """How many requests the job holds: the server's total, else what submit counted."""
    stats = data.get("stats")
    total = count(stats.get("total")) if isinstance(stats, dict) else None
    return total if total is not None else count(data.get("count"))


def results_wanted_of(data: Fields, batch: Fields, effective_state: str | None) -> bool:
    """Results belong on disk: the job succeeded, or the server gave it an output (a
    failed or cancelled job's partial output is paid work too)."""
    if data.get("results_with_earlier_tool"):
        return False  # finished and fetched under the earlier tool; the server forgot it
    return succeeded(effective_state) or bool(batch.get("dest"))


def succeeded(effective_state: str | None) -> bool:
    return states.info(effective_state).kind is states.Kind.SUCCEEDED
