"""What can go wrong, named after what happened: one family of exceptions that the
library raises and the command line maps to its exit codes (`cli/errors.run`, the one
place), each carrying its code.

Every message is one line that names the file or job and says what to do; none holds
the API key. The library never raises `SystemExit`.
"""

from __future__ import annotations

from typing import ClassVar

from gembatch import exit_codes


class GembatchError(Exception):
    """Anything gembatch cannot go on with; `str()` says why and what to do."""

    exit_code: ClassVar[int] = exit_codes.EXIT_BAD_INPUT


class BadInput(GembatchError):
    """A request, an input file, the job file or the config cannot be used as given."""


class InputsChanged(BadInput):
    """The job file already holds a run of this name made from other inputs."""


class BudgetExceeded(GembatchError):
    """The work would cost more than the budget (`max_cost`) allows."""


class KeyRejected(GembatchError):
    """The API key is missing, invalid, or lacks permission."""

    exit_code = exit_codes.EXIT_AUTH


class PollerBusy(GembatchError):
    """Another process is polling this job file: one poller per file."""

    exit_code = exit_codes.EXIT_LOCKED


class JobFailed(GembatchError):
    """Jobs of a run ended without succeeding (failed, cancelled, expired, gone).

    Nothing is lost with it: `answers` holds every answer in input order, those of the
    failed jobs with their `error` (rows a job finished before it failed keep theirs),
    and `jobs` names each failed job with its reason."""

    exit_code = exit_codes.EXIT_SOME_FAILED

    def __init__(self, message: str, answers: list | None = None, jobs: list | None = None):
        super().__init__(message)
        self.answers = answers or []
        self.jobs = jobs or []
