"""One place that turns what went wrong into a one-line message and an exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from gembatch import exit_codes
from gembatch.problems import CommandError, error

__all__ = ["CommandError", "error", "run"]


def run(command: Callable[[], int]) -> int:
    """Run a command; map every expected failure to its documented exit code."""
    from gembatch.errors import GembatchError
    from gembatch.gemini.client import GeminiError

    try:
        return int(command())
    except CommandError as problem:
        error(str(problem))
        return problem.code
    except GeminiError as problem:
        if problem.exit_code == exit_codes.EXIT_SOME_FAILED:  # (not the key: that is said as is)
            error(f"{problem}; what was done so far is recorded, run the command again to go on")
        else:
            error(str(problem))
        return problem.exit_code
    except GembatchError as problem:  # the library's errors: each carries its exit code
        error(str(problem))
        return problem.exit_code
    except KeyboardInterrupt:
        error("interrupted; the job file is consistent, run the command again to resume")
        return exit_codes.EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader stopped (`| head`): say nothing more, and let no flush at exit fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return exit_codes.EXIT_PIPE_CLOSED
    except OSError as problem:
        where = f"{problem.filename}: " if problem.filename else ""
        error(f"{where}{(problem.strerror or str(problem)).lower()}")
        return exit_codes.EXIT_BAD_INPUT
