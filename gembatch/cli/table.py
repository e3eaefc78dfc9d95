"""Jobs as aligned plain-text rows, for `status --list` and the plain summary."""

from __future__ import annotations

from collections.abc import Iterable

from gembatch import formatting
from gembatch.engine.plain import progress_text
from gembatch.jobfile.view import JobView
from gembatch.report import progress


def job_rows(jobs: Iterable[JobView], now: float) -> list[str]:
    """Name, state, progress, duration, then the results path or why it failed."""
    rows = []
    for job in jobs:
        took = formatting.duration(formatting.job_duration(job.create_time, job.end_time, now))
        eta = progress.eta_text(progress.job_eta(job, now))
        if eta:  # a running job with progress: when it should end at its rate so far
            took += f" (ETA {eta})"
        outcome = job.results_file or (job.last_error and f"! {job.last_error}") or ""
        rows.append(
            [
                formatting.printable(job.label),
                job.state_label,
                progress_text(job)
                + (f" ({job.failed_count:,} failed)" if job.failed_count else ""),
                took,
                formatting.printable(outcome),
            ]
        )
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return [
        (
            "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True))
            + "  "
            + row[4]
        ).rstrip()
        for row in rows
    ]
