"""What each exit code of gembatch means: one table, on the ground floor, for the
commands, the errors that carry a code, and the summary that picks one from the totals."""

from __future__ import annotations

EXIT_OK = 0  # every job succeeded and is handled
EXIT_SOME_FAILED = 1  # all finished, some failed, were cancelled, expired or went missing
EXIT_IN_PROGRESS = 2  # some jobs are still pending or running, or results not yet saved
EXIT_LOCKED = 3  # another poller holds the job file
EXIT_BAD_INPUT = 4  # the job file is missing, unreadable or has lines that do not parse
EXIT_AUTH = 5  # the API key is missing or was rejected
EXIT_USAGE = 64  # a mistyped command or option (sysexits' EX_USAGE)

EXIT_INTERRUPTED = 130  # ctrl+c (128 + SIGINT), as a shell reports it
EXIT_PIPE_CLOSED = 141  # what a shell reports for a program whose reader went away


def with_problems(code: int, problems: list[str]) -> int:
    """A job file with lines to fix exits 4, whatever its jobs' state (status and poll).
    Codes that say something more urgent (the key, the lock, an interruption) stay."""
    urgent = {EXIT_LOCKED, EXIT_AUTH, EXIT_INTERRUPTED}
    return EXIT_BAD_INPUT if problems and code not in urgent else code
