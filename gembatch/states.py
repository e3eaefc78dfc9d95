"""Batch job states: both spellings, the terminal set, display names and colours.

The SDK reports `JOB_STATE_*`; the wire says `BATCH_STATE_*`. Both are folded to
one short name. Anything unknown is kept as written and is never terminal, so
nothing destructive can happen to a job whose state we do not understand.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import lru_cache


class Kind(str, Enum):
    """The broad outcome a state belongs to; drives colour, icon and totals."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    MISSING = "missing"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class StateInfo:
    """What the program knows about one short state name."""

    label: str
    kind: Kind
    terminal: bool
    icon: str


_KNOWN: dict[str, StateInfo] = {
    "PENDING": StateInfo("pending", Kind.PENDING, False, "◌"),
    "QUEUED": StateInfo("queued", Kind.PENDING, False, "◌"),
    "RUNNING": StateInfo("running", Kind.RUNNING, False, "▶"),
    "SUCCEEDED": StateInfo("succeeded", Kind.SUCCEEDED, True, "✔"),
    "PARTIALLY_SUCCEEDED": StateInfo("partly succeeded", Kind.SUCCEEDED, True, "✔"),
    "FAILED": StateInfo("failed", Kind.FAILED, True, "✘"),
    "CANCELLED": StateInfo("cancelled", Kind.CANCELLED, True, "⊘"),
    "EXPIRED": StateInfo("expired", Kind.EXPIRED, True, "∅"),
    # Ours, not the API's: the server answered 404 for the job.
    # ("!", not "?": a "?" means "not reported yet" in progress cells, issue 25.)
    "MISSING": StateInfo("missing", Kind.MISSING, True, "!"),
    # Ours: in the local queue (`--max-running`, `--max-cost`), not created yet.
    "QUEUED_HERE": StateInfo("queued", Kind.PENDING, False, "⧗"),
}

_PREFIXES = ("JOB_STATE_", "BATCH_STATE_")

# Theme variables, so the palette follows the user's Textual theme.
KIND_STYLE: dict[Kind, str] = {
    Kind.PENDING: "$text-muted",
    Kind.RUNNING: "$warning",
    Kind.SUCCEEDED: "$success",
    Kind.FAILED: "$error",
    # Cancelled (someone stopped it) in the accent colour; expired (the service gave up
    # after 48 h) grey, as the design says: nothing more can be done for it.
    Kind.CANCELLED: "$accent",
    Kind.EXPIRED: "$text-disabled",
    Kind.MISSING: "$error",
    Kind.UNKNOWN: "$secondary",
}


@lru_cache(maxsize=1024)
def short_name(state: str | None) -> str:
    """`JOB_STATE_RUNNING` and `BATCH_STATE_RUNNING` both become `RUNNING`."""
    if not state:
        return "UNSPECIFIED"
    text = str(state).strip()
    if text.startswith("JobState."):  # str() of the SDK enum on some versions
        text = text[len("JobState.") :]
    upper = text.upper()
    for prefix in _PREFIXES:
        if upper.startswith(prefix):
            return upper[len(prefix) :]
    return upper


@lru_cache(maxsize=1024)
def info(state: str | None) -> StateInfo:
    """Describe any state string; unknown ones are shown as written and not terminal."""
    name = short_name(state)
    known = _KNOWN.get(name)
    if known is not None:
        return known
    if name == "UNSPECIFIED":
        return StateInfo("unspecified", Kind.UNKNOWN, False, "·")
    # Shown as the server spells it (less the common prefix), never guessed at.
    return StateInfo(name, Kind.UNKNOWN, False, "·")


# Kinds of a job that ended without its results: summaries list them with their reason,
# the log gives the reason, and `R` (or `gembatch retry`) runs them again whole.
DID_NOT_SUCCEED = frozenset({Kind.FAILED, Kind.EXPIRED, Kind.CANCELLED, Kind.MISSING})


def alarming(state: str | None) -> bool:
    """Ended without its results, and not by a cancel (the user's own doing): worth a
    toast, the bell and a desktop notice."""
    kind = info(state).kind
    return kind in DID_NOT_SUCCEED and kind is not Kind.CANCELLED


def is_terminal(state: str | None) -> bool:
    """True only for states after which the server will never change the job."""
    return info(state).terminal


def sdk_spelling(state: str | None) -> str:
    """The `JOB_STATE_*` spelling the earlier tool wrote into job files."""
    name = short_name(state)
    if name in _KNOWN and name not in (MISSING, QUEUED_HERE):
        return f"JOB_STATE_{name}"
    return str(state) if state else "JOB_STATE_UNSPECIFIED"


def legend() -> list[tuple[str, str]]:
    """Each state icon once, with what it stands for (for the help screen): the states
    of one icon, and a word on the ones whose name alone could be read two ways."""
    seen: dict[str, list[str]] = {}
    for state in (*_KNOWN.values(), NOT_CHECKED, NOT_SUBMITTED):
        labels = seen.setdefault(state.icon, [])
        if state.label not in labels:
            labels.append(state.label)
    seen[_KNOWN["QUEUED"].icon] = ["pending or queued on the server"]
    seen[_KNOWN[QUEUED_HERE].icon] = [
        "queued here: waiting for --max-running or --max-cost, nothing created yet"
    ]
    seen[_KNOWN[MISSING].icon] = [
        "missing: the server no longer knows the job (its record is kept)"
    ]
    seen[NOT_SUBMITTED.icon] = ["not submitted: no job created for it (yet)"]
    seen["·"] = ["a state gembatch does not know, shown as the server spells it"]
    return [(icon, ", ".join(labels)) for icon, labels in seen.items()]


MISSING = "MISSING"
QUEUED_HERE = "QUEUED_HERE"
# ("◇", not "…": a "…" marks a name shortened to fit, issue 25.)
NOT_CHECKED = StateInfo("not checked yet", Kind.PENDING, False, "◇")
NOT_SUBMITTED = StateInfo("not submitted", Kind.UNKNOWN, False, "○")


def changed(before: str | None, after: str | None) -> bool:
    """A real change of state, whichever spelling (JOB_STATE_ or BATCH_STATE_) each uses."""
    return short_name(before) != short_name(after)
