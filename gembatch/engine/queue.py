"""The local queue: create queued parts while the job file's limits allow.

Parts submitted under limits wait in the job file as queued records (no owner, no
batch). Whoever launches one, a `submit` or the poller, first takes it under the job
file's write lock, after re-reading the file: the count of jobs running and the spend
are checked against the limits and the record gets its owner in one locked step, so
two processes cannot both start the last free slot. From then on it is an ordinary
intent (see `submit`): a crash leaves it to `reconcile`, which lists the server's jobs
and adopts the one created, or puts the part back in the queue when there is none.

A `429 RESOURCE_EXHAUSTED` on create (the per-model enqueued-token limit, or a quota)
is the server refusing, not a lost reply: the part goes back to its place with a
growing pause, instead of failing the submit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from gembatch import prices
from gembatch.engine.worklist import WorkList
from gembatch.formatting import clock_time, parse_time, plural
from gembatch.gemini.client import GeminiError, TransientError
from gembatch.gemini.quotas import next_daily_reset
from gembatch.inputs import InputError
from gembatch.intake import creates
from gembatch.intake.media import LOCAL_MEDIA, StorageFull
from gembatch.intake.submit import Submitter
from gembatch.jobfile import fields
from gembatch.jobfile.file import JobFile, JobRecord
from gembatch.jobfile.view import JobView
from gembatch.report.limits import Limits, Spend, over_budget, spend_of

REFUSED_PAUSE_S = 60.0  # after the first 429; doubled for each one after
REFUSED_PAUSE_MAX_S = 1800.0


@dataclass
class LaunchReport:
    """What one pass over the queue did, and why it stopped."""

    launched: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    waiting: int = 0  # still queued after the pass
    held_by: str = ""  # why the next one waits ("" when the queue is empty)


def active(records: list[JobRecord]) -> int:
    """Jobs counted against `--max-running`: created and not finished by the file's
    word (conservative: a job finished on the server counts until recorded), plus
    parts someone is creating right now."""
    return sum(1 for r in records if (r.batch_name and not r.is_terminal) or r.intent)


def queue_places(records: list[JobRecord]) -> dict[str, int]:
    """Each queued part's place in line: 1 is created next."""
    return {r.key: place for place, r in enumerate((r for r in records if r.queued), 1)}


def cancel_queued(job_file: JobFile, record: JobRecord) -> str:
    """Take a part out of the queue for good (nothing remote exists to cancel); what
    happened, in a line. Under the write lock, so no launcher takes it meanwhile."""
    with job_file.write_lock:
        job_file.refresh()  # (another process may have taken or cancelled it)
        if not record.queued:
            return f"{record.display_name}: no longer queued; nothing cancelled"
        if record.intent:
            return (
                f"{record.display_name}: being created right now; cancel it once it shows "
                "as pending"
            )
        batch = record.ensure_batch()
        batch["state"] = "JOB_STATE_CANCELLED"
        batch["end_time"] = job_file.clock.iso()
        record.raw["last_error"] = "cancelled while queued; never created"
        job_file.save()
    return f"{record.display_name}: cancelled while queued; nothing was created"


class Launcher:
    """Creates queued parts, oldest first, while the limits allow."""

    def __init__(
        self,
        job_file: JobFile,
        submitter: Submitter,
        worklist: WorkList | None = None,
        overrides: dict | None = None,
        say: Callable[[str, str | None], None] | None = None,
        on_change: Callable[[JobRecord, str | None], None] | None = None,
    ) -> None:
        self.job_file = job_file
        self.submitter = submitter
        # The records that may be queued or running: the poller's work list, if any.
        self.worklist = worklist
        self.records = worklist.records if worklist is not None else (lambda: job_file.records)
        self.overrides = overrides or {}
        self.say = say or (lambda message, key: None)
        self.on_change = on_change or (lambda record, previous: None)
        self.clock = job_file.clock
        self._last_hold = ""
        self.held_by_budget = False  # the last pass stopped at the budget
        # The last pass stopped at what only the user can mend (a damaged limits line,
        # a part's missing file): a plain poll stops on it.
        self.held_by_problem = ""

    @property
    def pending(self) -> bool:
        """Whether the queue has parts (waiting, or taken by someone who may have died)."""
        return any(r.queued for r in self.records())

    async def launch_due(self, retry_pause_s: float = REFUSED_PAUSE_S) -> LaunchReport:
        report = LaunchReport()
        try:
            records = self.records()
            if any(r.intent for r in records):
                await self.submitter.reconcile(poller=True)
            grace = self.submitter.client.create_grace_s
            if any(creates.watches_duplicates(r, self.clock, grace) for r in records):
                await self.submitter.sweep_duplicates()
            while True:
                record, why = self._take_next()
                if record is None:
                    report.held_by = why
                    break
                if not await self._launch(record, report, retry_pause_s):
                    break
        finally:
            self.submitter.close()  # our intents are recorded; a crash leaves them to others
        report.waiting = sum(1 for r in self.records() if r.queued)
        if report.held_by and report.held_by != self._last_hold:
            self.say(report.held_by, None)  # said once, not every cycle
        self._last_hold = report.held_by
        return report

    # --- taking the next part, under the write lock ------------------------------------
    def _take_next(self) -> tuple[JobRecord | None, str]:
        with self.job_file.write_lock:
            for record in self.job_file.refresh():
                self.on_change(record, None)
            records = self.records()
            head = next((r for r in records if r.queued), None)
            if head is None:
                return None, ""
            why = self._held(head, records)
            if why:
                return None, why
            self.submitter.take(head)
            self.job_file.save()
            return head, ""

    def _missing_input(self, part: JobRecord) -> str:
        """Why a queued part has no file to upload ("" when it has one)."""
        if not part.input_file:  # a hand-edited line
            return (
                f"{part.display_name} names no input file: fix its line in "
                f"{self.job_file.path}, or take it out with `gembatch cancel`"
            )
        if not (self.submitter.base / part.input_file).is_file():
            return (
                f"{part.input_file} is missing; restore it, or take the part out with "
                "`gembatch cancel`"
            )
        return ""

    def _held(self, head: JobRecord, records: list[JobRecord]) -> str:
        """Why the head of the queue may not be created now ("" if it may)."""
        self.held_by_budget = False
        self.held_by_problem = ""
        waiting = sum(1 for r in records if r.queued)
        queue = f"{plural(waiting, 'part')} queued"
        if head.intent:
            return f"{queue}; {head.display_name} is being created by another process"
        missing = self._missing_input(head)
        if missing:  # nothing to upload: held as it is, nothing written
            self.held_by_problem = missing
            return f"{queue}; {missing}"
        if head.data.get(LOCAL_MEDIA):  # its media wait for storage: held, nothing written
            storage = self.submitter.media.storage_hold(head, self.submitter.base / head.input_file)
            if storage:
                return f"{queue}; {head.display_name}: {storage}"
        retry_at = parse_time(head.data.get("queue_retry_at"))
        if retry_at is not None and self.clock.now() < retry_at:
            why = str(head.data.get("last_error") or "the API refused it")
            refused = "a daily quota is used up" if "daily quota" in why else why
            return f"{queue}; {head.display_name}: {refused}, next try at {clock_time(retry_at)}"
        return self._held_by_limits(head, records, queue)

    def _held_by_limits(self, head: JobRecord, records: list[JobRecord], queue: str) -> str:
        """Why the job file's limits hold the head back ("" if they let it go); `queue`
        begins the line (how many parts are queued)."""
        limits = Limits.of(self.job_file)
        if limits.problem:  # fail closed: a damaged limits line never lifts the limits
            self.held_by_problem = limits.problem
            return f"{queue}; {limits.problem}"
        if limits.max_running is not None:
            running = active(records)
            if running >= limits.max_running:
                return (
                    f"{queue}: {plural(running, 'job')} pending or running, the limit is "
                    f"{limits.max_running}"
                )
        if limits.max_cost_usd is not None:
            spend = self._spend(records)
            cost = JobView.of(head, whole=False).estimate_usd or 0.0
            if over_budget(spend, cost, limits.max_cost_usd):
                self.held_by_budget = True
                return (
                    f"{queue}; {head.display_name} (≈ {prices.dollars(cost)}) would take the "
                    f"spend to {prices.dollars(spend.total + cost, limits.max_cost_usd)}, over "
                    f"the {prices.dollars(limits.max_cost_usd, spend.total + cost)} budget; "
                    "raise it with "
                    "`gembatch submit --max-cost`, or cancel queued parts"
                )
        return ""

    def _spend(self, records: list[JobRecord]) -> Spend:
        """The job file's spend. With the poller's work list, the settled jobs' part (their
        billed usage, which no longer changes) is the work list's history, counted once
        as they settled: a budget-held queue must not cost a pass over a million records
        each time it is looked at."""
        if self.worklist is None:
            return spend_of((JobView.of(r, whole=False) for r in records), self.overrides)
        spend = dataclasses.replace(self.worklist.history.spend)
        for record in records:
            spend.add(JobView.of(record, whole=False), self.overrides)
        return spend

    # --- creating it ------------------------------------------------------------------
    async def _launch(self, record: JobRecord, report: LaunchReport, pause_s: float) -> bool:
        """Upload and create one taken part; False when the queue should stop for now."""
        previous = record.effective_state
        try:
            await self.submitter.upload(record, self.submitter.base / record.input_file)
        except StorageFull as error:  # tried again each cycle: media are deleted any time
            self._put_back(record, str(error), 0.0)
            return False
        except GeminiError as error:  # nothing was created: back to its place
            self._put_back(record, str(error), pause_s if error.retryable else pause_s * 10)
            return False
        except (OSError, ValueError, InputError) as error:  # its file: gone, unreadable
            self._put_back(record, _unreadable(record, error), REFUSED_PAUSE_MAX_S)
            return False
        try:
            await self.submitter.create(record, wait_when_refused=False)
        except InputError as error:  # an inline part's lines, read before anything is sent
            self._put_back(record, _unreadable(record, error), REFUSED_PAUSE_MAX_S)
            return False
        except TransientError as error:
            if error.daily_quota:  # no use before the day's reset: every part waits for it
                reset = next_daily_reset(self.clock.now())
                why = f"{error}; creating resumes when it resets at {clock_time(reset)}"
                self._put_back(record, why, 0.0, until=reset)
                report.refused.append(record.input_file)
                return False
            if error.code != 429:
                # The reply may have been lost after the server acted: the part stays an
                # intent, and the next pass lists the jobs before creating it again.
                self.say(f"{record.display_name}: {error}; will check the server", record.key)
                return False
            self._put_back(record, str(error), max(pause_s, error.retry_after or 0.0))
            report.refused.append(record.input_file)
            return False
        except GeminiError as error:  # refused for good (400...): it waits until cancelled
            self._put_back(record, str(error), REFUSED_PAUSE_MAX_S)
            return False
        report.launched.append(str(record.batch_name))
        self.on_change(record, previous)  # (the submitter said "created ...")
        return True

    def _put_back(
        self, record: JobRecord, why: str, pause_s: float, until: float | None = None
    ) -> None:
        """Into the queue again, where it was, to be tried after a pause that grows (or
        not before `until`: a daily quota's reset)."""
        refusals = (fields.count(record.data.get("queue_refusals")) or 0) + 1  # (any value)
        pause = min(REFUSED_PAUSE_MAX_S, pause_s * 2 ** (refusals - 1))
        if until is not None:
            pause = max(0.0, until - self.clock.now())
        raw = record.raw
        raw.pop("owner", None)
        raw["queue_refusals"] = refusals
        raw["queue_retry_at"] = self.clock.iso(later_s=pause)
        raw["last_error"] = why
        self.job_file.save()
        self.on_change(record, None)
        wait = f"until {clock_time(until)}" if until is not None else f"for {pause:.0f}s"
        wait = wait if pause or until is not None else "for the next cycle"
        self.say(f"{record.display_name}: {why}; back in the queue {wait}", record.key)


def _unreadable(record: JobRecord, error: Exception) -> str:
    """Why a queued part cannot be sent: its input is gone, unreadable or has a bad line
    (an input whose keys are made at upload is read again then)."""
    if isinstance(error, InputError):
        return f"{error}; fix it, or take the part out with `gembatch cancel`"
    reason = getattr(error, "strerror", None) or str(error)
    return (
        f"cannot read {record.input_file} ({reason}); restore it, or take the part "
        "out with `gembatch cancel`"
    )
