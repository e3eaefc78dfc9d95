"""What `status` counts: one pass over the job file that keeps nothing but counts (and
the views, when they are to be listed), and on a big file two passes at once, one per
half, in two processes (a million records: a core's worth of parsing each)."""

from __future__ import annotations

import dataclasses
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gembatch import states
from gembatch.intake import media_records as media
from gembatch.jobfile import fields
from gembatch.jobfile.file import BadLine, JobFile, LimitsRecord
from gembatch.jobfile.view import JobView
from gembatch.report import summary
from gembatch.report.limits import Limits, Spend

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

# Below this a second process costs more than it saves (about 100,000 records).
SPLIT_FROM_BYTES = 32 * 1024 * 1024


@dataclass
class Counted:
    """What one pass over (part of) the job file found."""

    totals: summary.Totals = field(default_factory=summary.Totals)
    cost: summary.Cost = field(default_factory=summary.Cost)
    spend: Spend = field(default_factory=Spend)
    limits: Limits | None = None  # the first settings line's, as in `JobFile.limits`
    strays: int = 0  # records named by neither a batch nor a submit id
    jobs: list[JobView] = field(default_factory=list)  # kept only to list them
    bad_lines: list[BadLine] = field(default_factory=list)
    queued: int = 0
    next_estimate: float | None = None  # of the part first in the queue
    lines: int = 0
    media: dict[str, int] = field(default_factory=dict)  # uploads not deleted: bytes

    def then(self, later: Counted) -> Counted:
        """These counts followed by those of the lines after ours."""
        for bad in later.bad_lines:
            bad.line_number += self.lines
        self.bad_lines += later.bad_lines
        self.jobs += later.jobs
        for tally, more in (
            (self.totals, later.totals),
            (self.cost, later.cost),
            (self.spend, later.spend),
        ):
            summary.add_up(tally, more)
        if self.limits is None:
            self.limits = later.limits
        if self.next_estimate is None and not self.queued:
            self.next_estimate = later.next_estimate
        self.strays += later.strays
        self.queued += later.queued
        self.lines += later.lines
        self.media.update(later.media)
        return self


def count_jobs(
    job_file: JobFile, overrides: dict, keep: bool, split_from: int = SPLIT_FROM_BYTES
) -> Counted:
    """Every line read and parsed once, as it streams by; a file of `split_from` bytes
    or more in two halves, by two processes."""
    middle = None if keep else _middle(job_file, split_from)
    if middle is None:
        return count_part(job_file, overrides, keep)
    try:
        return _count_halves(job_file, overrides, middle)
    except (OSError, RuntimeError):  # no second process to be had: one pass, then
        return count_part(job_file, overrides, keep)


def count_part(
    job_file: JobFile, overrides: dict, keep: bool, start: int = 0, end: int | None = None
) -> Counted:
    """The lines from byte `start` to `end`, counted."""
    seen = Counted()
    for entry, obj in job_file.scan(start, end):
        seen.lines += 1
        if isinstance(entry, BadLine):
            if not entry.is_blank:
                seen.bad_lines.append(entry)
            continue
        entry.raw = obj  # parsed already: the view reads it without a second parse
        if isinstance(entry, LimitsRecord):
            if seen.limits is None:
                seen.limits = Limits.from_values(
                    entry.data.get(LimitsRecord.FIELD), str(job_file.path)
                )
            continue
        if obj.get(media.MEDIA):
            media.tally(obj[media.MEDIA], seen.media)
        job = JobView.of(entry, whole=False)
        if job.state == states.QUEUED_HERE:
            seen.queued += 1
            job = dataclasses.replace(job, queue_place=seen.queued)
            if seen.queued == 1:
                seen.next_estimate = job.estimate_usd
        seen.totals.add(job)
        seen.spend.add_priced(job, seen.cost.add(job, overrides))
        if fields.keyed_by_input(job.key):
            seen.strays += 1
        if keep:
            seen.jobs.append(job)
    return seen


def _middle(job_file: JobFile, split_from: int) -> int | None:
    """Where the second half's first line starts, when the file is worth splitting."""
    if (os.cpu_count() or 1) < 2:
        return None
    try:
        if job_file.path.stat().st_size < split_from:  # (no open: a FIFO would hang)
            return None
        with job_file.path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(size // 2)
            middle = size // 2 + len(handle.readline())
    except OSError:
        return None  # the one pass says what is wrong
    return middle if middle < size else None


def _count_halves(job_file: JobFile, overrides: dict, middle: int) -> Counted:
    import multiprocessing  # (here: a small file's status need not pay for it)

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(
        target=_count_second_half,
        args=(str(job_file.path), middle, overrides, sender),
        daemon=True,
    )
    worker.start()
    sender.close()  # (ours: so a worker that dies shows as the end of the pipe)
    try:
        first = count_part(job_file, overrides, False, 0, middle)
        try:
            scanned, later = receiver.recv()
        except EOFError:  # the worker died (a fault, a kill): one pass, then
            return count_part(job_file, overrides, False)
    finally:  # done, or interrupted (Ctrl+C): the worker goes with us
        worker.terminate()
        worker.join()
        receiver.close()
    if scanned != job_file.scanned:  # replaced between the two opens: count it again
        return count_part(job_file, overrides, False)
    return first.then(later)


def _count_second_half(path: str, middle: int, overrides: dict, sender: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to answer
    job_file = JobFile(Path(path))
    try:
        seen = count_part(job_file, overrides, False, middle)
    except Exception:  # no traceback from here: the parent's one pass says what is wrong
        return
    sender.send((job_file.scanned, seen))
