"""One rule for "this job is gone from the server", for `poll`, `cleanup` and `cancel`.

- Which answers say so: a 404 for the job, or a 403 about that one job (the real
  service's answer for a missing file, shared/gemini-batch-api.md §0.1; whether a
  deleted batch answers 403 or 404 is unknown). A 403 for every job checked is about
  the key, not the jobs (`gemini.errors` and the engine's `_settle_forbidden`).
- How many: `NOT_FOUND_CONFIRMATIONS` answers in a row, in separate rounds (poll
  cycles): one can be a brand-new job the server has not finished registering, or a
  passing fault. Two records of one job (a hand-copied line) cannot confirm each other.
- What it means depends on the record (`meaning`): a finished job whose results are
  safely on disk was cleaned up (by an earlier run that could not write it down);
  otherwise the job is missing, its record kept. A one-shot command (`cleanup`,
  `cancel`) sees one round only, so it never calls a job gone: it leaves that to poll.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from gembatch.jobfile import lifecycle
from gembatch.jobfile.file import JobRecord

NOT_FOUND_CONFIRMATIONS = 2


class Gone(Enum):
    CLEANED = "cleaned"  # finished, results saved: what is left of it may go
    EARLIER_TOOL = "earlier tool"  # the earlier tool saw it finish and cleaned it up
    MISSING = "missing"  # gone before we had what we needed from it


class GoneTally:
    """Not-found answers per job, counted once per round."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, int]] = {}  # key -> (answers in a row, round)

    def answer(self, key: str, round_number: int) -> bool:
        """Count a not-found answer; True once the job is confirmed gone."""
        count, last = self._counts.get(key, (0, -1))
        if last != round_number:
            count += 1
        self._counts[key] = (count, round_number)
        return count >= NOT_FOUND_CONFIRMATIONS

    def found(self, key: str) -> None:
        """The server knows the job: the count starts again."""
        self._counts.pop(key, None)


def meaning(record: JobRecord, base: Path) -> Gone:
    """What a confirmed-gone job means for its record."""
    if lifecycle.awaits_cleanup(record, base):
        return Gone.CLEANED
    if record.legacy_finished:
        return Gone.EARLIER_TOOL
    return Gone.MISSING


def expected(record: JobRecord, base: Path) -> bool:
    """A not-found answer that is no news: a finished job with its results on disk,
    which an earlier run deleted and was stopped before it could write that down."""
    return meaning(record, base) is Gone.CLEANED
