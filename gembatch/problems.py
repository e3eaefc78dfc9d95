"""How a problem reaches the person at the terminal: one line on stderr, one prefix."""

from __future__ import annotations

import sys

from gembatch import exit_codes
from gembatch.formatting import plural


class CommandError(Exception):
    """A command cannot go on: `str()` says why and what to do; `code` is the exit code."""

    def __init__(self, message: str, code: int = exit_codes.EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def error(message: str) -> None:
    """Every message about a problem goes to stderr with the same prefix, on one line."""
    print(f"gembatch: {' '.join(message.split())}", file=sys.stderr, flush=True)


def strays_problem(path: object, strays: int) -> str | None:
    """Records with neither a batch name nor a submit id (keyed by their input): kept,
    never guessed at; the file needs a look."""
    if not strays:
        return None
    return (
        f"{path}: {plural(strays, 'line')} with neither a batch name nor a submit id; "
        "kept as is, fix or remove by hand"
    )
