"""What the job table shows of a job: the texts that move with the clock, the progress
cell, and the orders the rows can be sorted in.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from rich.style import Style
from rich.text import Text

from gembatch import formatting, states
from gembatch.jobfile.view import JobView
from gembatch.report import progress

SORTS = ("file order", "state", "duration", "end time", "name")
SORT_KEYS: dict[str, Callable[[float], Callable[[JobView], tuple]]] = {
    # Problems first: what needs a look is at the top.
    "state": lambda now: lambda job: (_STATE_ORDER.get(job.state_info.kind, 9), job.label),
    "duration": lambda now: (
        lambda job: (
            -(formatting.job_duration(job.create_time, job.end_time, now) or 0.0),
            job.label,
        )
    ),
    # Most recently ended first; unfinished jobs after them.
    "end time": lambda now: (
        lambda job: (
            -(formatting.parse_time(job.end_time) or 0.0),
            job.label,
        )
    ),
    "name": lambda now: lambda job: (job.label,),
}
_STATE_ORDER: dict[states.Kind, int] = {
    kind: n
    for n, kind in enumerate(
        (
            states.Kind.FAILED,
            states.Kind.MISSING,
            states.Kind.EXPIRED,
            states.Kind.CANCELLED,
            states.Kind.UNKNOWN,
            states.Kind.RUNNING,
            states.Kind.PENDING,
            states.Kind.SUCCEEDED,
        )
    )
}


def changes_in(job: JobView, now: float) -> float:
    """Seconds until one of the job's ticking texts (duration, ETA) can read differently."""
    took = formatting.job_duration(job.create_time, job.end_time, now)
    duration_in = math.inf if took is None else formatting.duration_changes_in(took, live=True)
    return min(duration_in, progress.eta_changes_in(job, now))


def ticking(job: JobView, now: float) -> tuple[str, str]:
    """The two texts that move with the clock: the duration (whole minutes while the job
    runs; once it has ended, to the second under an hour) and the ETA."""
    took = formatting.job_duration(job.create_time, job.end_time, now)
    minutes = not states.is_terminal(job.state) or (took or 0) >= 3600
    return formatting.duration(took, live=minutes), progress.eta_text(progress.job_eta(job, now))


def progress_text(job: JobView) -> str:
    """`35/40`, `3,000/3,000 (72✘)` (failed rows once the job has ended), `500` for a
    part not created yet, `?/20` while the server has not said."""
    if job.state == states.QUEUED_HERE:  # not created: nothing can be done yet
        return f"{job.request_count:,}" if job.request_count is not None else ""
    counts = formatting.progress(job.done_count, job.request_count)
    failed = job.failed_count or 0
    if failed and states.is_terminal(job.state):
        counts += f" ({failed:,}✘)"
    return counts


def progress_bar(job: JobView, style: Style) -> Text:
    """`━━━━━╸     35/40` in the job's state colour: the bar and the counts in one cell
    (they are one fact); a dim bar while the server has not said how far the job is."""
    fraction = formatting.fraction_done(job.done_count, job.request_count)
    text = Text(no_wrap=True)
    if job.state == states.QUEUED_HERE or fraction is None:
        text.append("━" * formatting.BAR_WIDTH, style="dim")
    else:
        filled, empty = formatting.bar(fraction)
        text.append(filled, style=style)
        text.append(empty, style="dim")
    counts = progress_text(job)
    if counts:
        text.append(f" {counts}")
    return text


def differs(old: Text | None, new: Text) -> bool:
    return old is None or old.plain != new.plain or old.spans != new.spans or old.style != new.style
