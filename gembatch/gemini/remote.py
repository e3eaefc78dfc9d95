"""What the server says, as the rest of gembatch sees it: one-line errors, and batch jobs
with their per-request counts. No SDK here; `gemini.py` turns the wire into these."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from gembatch import exit_codes, states
from gembatch.errors import GembatchError, KeyRejected
from gembatch.formatting import same_moment


# --- errors ---------------------------------------------------------------------------
class GeminiError(GembatchError):
    """An API call failed; `str()` is one line that says what to do, never the key."""

    retryable = False
    code: int | None = None
    exit_code = exit_codes.EXIT_SOME_FAILED  # what was done is recorded: run again

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class AuthError(GeminiError, KeyRejected):
    """The key is missing, invalid or lacks permission: polling cannot go on."""

    exit_code = exit_codes.EXIT_AUTH


class NotFoundError(GeminiError):
    """The server does not know the job or file (404)."""


class TransientError(GeminiError):
    """Rate limits, server errors, timeouts and network trouble: worth retrying later.

    `reached_server` is False only when the request surely never arrived (the
    connection was refused): then even a create may be sent again at once."""

    retryable = True

    def __init__(
        self,
        message: str,
        code: int | None = None,
        retry_after: float | None = None,
        reached_server: bool = True,
        daily_quota: str | None = None,
    ):
        super().__init__(message, code)
        self.retry_after = retry_after
        self.reached_server = reached_server
        # A 429 for a quota counted per day (its QuotaFailure id ends `PerDay`,
        # python-genai#2044): no use trying again before the day's reset.
        self.daily_quota = daily_quota


class CreateUnconfirmed(TransientError):
    """A create was sent and its reply never came (a timeout, a lost connection, a 5xx):
    the server may have acted, now or later (shared/gemini-batch-api.md §0.3). The part
    stays an intent; nothing may create it again until its marker is looked for over
    the grace window (`creates`)."""


class RequestError(GeminiError):
    """The server refused the request itself (400 and the like)."""


class UnmanageableFile(RequestError):
    """The Files API will not get or delete this file: its id is over 40 characters, as
    every batch output's `files/batch-<36>` is (§0.11, python-genai#1759). It can still
    be downloaded, and the service deletes it on its own about 48 h after the job ended."""


# --- what the rest of the program sees --------------------------------------------------
@dataclass(frozen=True)
class BatchStats:
    """Per-request counts the server reports; None where it said nothing."""

    total: int | None = None
    succeeded: int = 0
    failed: int = 0
    pending: int = 0

    @classmethod
    def from_wire(cls, raw: Any) -> BatchStats | None:
        if not isinstance(raw, dict) or not raw:
            return None

        def count(key: str) -> int:
            try:
                return int(raw.get(key, 0))
            except (TypeError, ValueError):
                return 0

        total = count("requestCount") if "requestCount" in raw else None
        return cls(
            total,
            count("successfulRequestCount"),
            count("failedRequestCount"),
            count("pendingRequestCount"),
        )

    def as_record(self) -> dict[str, int]:
        record = {"succeeded": self.succeeded, "failed": self.failed, "pending": self.pending}
        if self.total is not None:
            record["total"] = self.total
        return record


@dataclass(frozen=True)
class RemoteJob:
    """A batch job as the server describes it now."""

    name: str
    state: str
    display_name: str = ""
    model: str = ""
    create_time: str | None = None
    update_time: str | None = None
    end_time: str | None = None
    output_file: str | None = None
    inlined_responses: list[dict[str, Any]] | None = None
    stats: BatchStats | None = None
    error_message: str | None = None

    @classmethod
    def from_operation(cls, operation: dict[str, Any]) -> RemoteJob:
        metadata = operation.get("metadata") or {}
        output = metadata.get("output") or {}
        inlined = output.get("inlinedResponses")
        if isinstance(inlined, dict):
            inlined = inlined.get("inlinedResponses")
        error = operation.get("error")
        return cls(
            name=str(operation.get("name") or metadata.get("name") or ""),
            state=states.sdk_spelling(metadata.get("state")),
            display_name=str(metadata.get("displayName") or ""),
            model=str(metadata.get("model") or ""),
            create_time=iso_time(metadata.get("createTime")),
            update_time=iso_time(metadata.get("updateTime")),
            end_time=iso_time(metadata.get("endTime")),
            output_file=output.get("responsesFile") or None,
            inlined_responses=inlined if isinstance(inlined, list) else None,
            stats=BatchStats.from_wire(metadata.get("batchStats")),
            error_message=_status_message(error) if error else None,
        )

    def batch_record(self) -> dict[str, Any]:
        """The `batch` object of a job-file record, in the earlier tool's field names."""
        record: dict[str, Any] = {
            "name": self.name,
            "display_name": self.display_name,
            "model": self.model,
            "state": self.state,
            "create_time": self.create_time,
            "update_time": self.update_time,
        }
        if self.end_time:
            record["end_time"] = self.end_time
        if self.output_file:
            record["dest"] = {"file_name": self.output_file}
        elif self.inlined_responses is not None:
            record["dest"] = {"inlined_responses": len(self.inlined_responses)}
        return {key: value for key, value in record.items() if value is not None}

    def update(self, batch: dict[str, Any]) -> None:
        """Lay what the server says over a record's `batch` object: never the identity it
        was created with, and never a time the record already spells for the same instant."""
        for key, value in self.batch_record().items():
            if key == "name" and batch.get("name"):
                continue
            if key.endswith("_time") and same_moment(batch.get(key), value):
                continue  # keep the record's own spelling and precision
            batch[key] = value


def iso_time(value: Any) -> str | None:
    """RFC 3339 from the wire (`...123456789Z`) to `2026-01-01T10:00:00+00:00`."""
    if not value or not isinstance(value, str):
        return None
    from datetime import datetime

    text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip()).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text).isoformat(timespec="seconds")
    except ValueError:
        return value


def _status_message(error: Any) -> str:
    if isinstance(error, dict):
        message = error.get("message") or error.get("status") or json.dumps(error)
        code = error.get("code")
        return one_line(f"{message} (code {code})" if code is not None else str(message))
    return one_line(str(error))


def one_line(text: str, limit: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
