"""gembatch: run large jobs through the Gemini Batch API without losing a result.

    import gembatch
    run = gembatch.Run("job-info.jsonl", max_cost=10)
    answers = run.map(["Summarise ...", ...])

The names below are the public library (docs/library.md). They are imported when
first used, so the command line starts without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gembatch.version import __version__

__all__ = [
    "Answer",
    "BadInput",
    "BudgetExceeded",
    "Embedding",
    "GembatchError",
    "InputsChanged",
    "JobFailed",
    "KeyRejected",
    "PollerBusy",
    "Run",
    "Stats",
    "__version__",
]

_HOMES = {
    "Run": "gembatch.library.run",
    "Answer": "gembatch.library.answers",
    "Embedding": "gembatch.library.answers",
    "Stats": "gembatch.library.progress",
    "GembatchError": "gembatch.errors",
    "BadInput": "gembatch.errors",
    "BudgetExceeded": "gembatch.errors",
    "InputsChanged": "gembatch.errors",
    "JobFailed": "gembatch.errors",
    "KeyRejected": "gembatch.errors",
    "PollerBusy": "gembatch.errors",
}

if TYPE_CHECKING:
    from gembatch.errors import (
        BadInput,
        BudgetExceeded,
        GembatchError,
        InputsChanged,
        JobFailed,
        KeyRejected,
        PollerBusy,
    )
    from gembatch.library.answers import Answer, Embedding
    from gembatch.library.progress import Stats
    from gembatch.library.run import Run


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'gembatch' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
