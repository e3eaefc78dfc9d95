"""The poll loop: check jobs, then the steps after them (`steps`). Order per job
(design: "the order that keeps data safe"; the rules themselves in `lifecycle`):
1. results streamed to a temp file, verified, renamed into place (`downloads`);
2. the new state and the results path written to the job file (one rewrite per cycle);
3. only then, and only for jobs this run saw the server call finished, the remote
   batch job and its files deleted; that is recorded at the next rewrite (a crash
   before it just makes the next run see a 404, which is fine).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from gembatch import states
from gembatch.engine.book import CycleBook
from gembatch.engine.events import (
    CycleFinished,
    CycleStarted,
    Event,
    JobChecked,
    JobChecking,
    JobsLoaded,
    JobUpdated,
)
from gembatch.engine.options import EngineOptions
from gembatch.engine.queue import Launcher, cancel_queued, queue_places
from gembatch.engine.steps import Cleaner, MergeStep, QueueRunner, ResultsStep
from gembatch.engine.survey import survey
from gembatch.engine.worklist import WorkList
from gembatch.formatting import plural
from gembatch.gemini.client import (
    AuthError,
    GeminiClient,
    GeminiError,
    NotFoundError,
    RemoteJob,
)
from gembatch.intake import creates
from gembatch.intake.submit import SubmitOptions, Submitter
from gembatch.jobfile import gone, lifecycle
from gembatch.jobfile.file import JobFile, JobRecord
from gembatch.jobfile.gone import Gone, GoneTally
from gembatch.jobfile.view import JobView
from gembatch.problems import strays_problem
from gembatch.report.history import History, RunReport
from gembatch.report.limits import Limits
from gembatch.results.downloads import ResultsSaver

MAX_BACKOFF_S = 600.0


__all__ = ["Engine", "EngineOptions"]


class Engine:
    """Drives every job in one job file towards saved results and a clean remote."""

    def __init__(
        self,
        job_file: JobFile,
        client: GeminiClient,
        options: EngineOptions | None = None,
        emit: Callable[[Event], None] | None = None,
    ) -> None:
        self.job_file = job_file
        self.clock = job_file.clock
        self.client = client
        self.options = options or EngineOptions()
        self.emit: Callable[[Event], None] = emit or (lambda event: None)
        self.base = job_file.path.parent
        self.saver = ResultsSaver(self.base, client, self.options.results_folder, self.clock)
        # What cycles scan: the records less the groups with nothing left to do.
        self.worklist = WorkList(job_file, self.base, self.options.keep_remote)
        self._live_keys: tuple[int, list[str]] = (-1, [])  # (work list version, keys)
        self.check_slots = asyncio.Semaphore(self.options.concurrency)
        self._not_found = GoneTally()  # the one rule for "gone" (`gone`)
        # Jobs this run has seen the server call finished: the only ones it may delete.
        self.confirmed: set[str] = set()
        self._forbidden: list[JobRecord] = []
        self.book = CycleBook(job_file, self.emit)  # changes, failures, the queue's news
        # A problem on our own disk that no retry can mend (a file where the results
        # folder should be): said once, and plain mode stops on it (exit 4).
        self.local_problem = ""
        self.backoff = 1.0
        self.cycles = 0
        self.launcher = self._queue_launcher()
        # The steps after the checks, in the order `run_cycle` takes them.
        self.results = ResultsStep(self)
        self.merges = MergeStep(self)
        self.cleaner = Cleaner(self)
        self.queue = QueueRunner(self)

    def _queue_launcher(self) -> Launcher:
        """The local queue: parts created as the job file's limits allow."""
        options = SubmitOptions(files_storage_bytes=self.options.files_storage_bytes)
        submitter = Submitter(self.job_file, self.client, options, say=self.book.note)
        return Launcher(
            self.job_file,
            submitter,
            worklist=self.worklist,
            say=lambda message, key: self.book.note(message, key),
            on_change=self.book.queue_moved,
        )

    # --- views ------------------------------------------------------------------------
    def set_prices(self, overrides: dict) -> None:
        """Price overrides: one cost figure everywhere, the budget's included."""
        self.launcher.overrides = overrides
        self.worklist.set_prices(overrides)

    def views(self) -> list[JobView]:
        """The jobs this run can still change (the work list's), in file order; the
        settled rest is counted in `history`, not viewed."""
        records = self.worklist.records()
        self.book.places = queue_places(records)
        return [self.book.view(record) for record in records]

    def live_keys(self) -> list[str]:
        """The keys of the jobs this run can still change (the rest is in `history`);
        asked after every burst of updates, so worked out only when the list changes
        (a record's key never does)."""
        records = self.worklist.records()
        if self._live_keys[0] != self.worklist.version:
            self._live_keys = (self.worklist.version, [record.key for record in records])
        return self._live_keys[1]

    @property
    def history(self) -> History:
        return self.worklist.history

    def report(self) -> RunReport:
        """What the run's end says: the live jobs, those settled in this run, the rest."""
        live = self.views()
        return RunReport(live, list(self.worklist.settled_now), self.history, self.base)

    @property
    def file_problems(self) -> list[str]:
        """What in the job file needs the user: lines that do not parse, records that are
        no job (counted by the work list's one pass)."""
        strays = strays_problem(self.job_file.path, self.worklist.strays)
        return [*self.job_file.bad_line_messages(), *([strays] if strays else [])]

    def announce(self) -> None:
        """Tell listeners what the job file holds, problems included."""
        records = self.worklist.records()  # (a file only named is read now, in its pass)
        problems = self.file_problems
        orphans = [r for r in records if r.intent and not r.queued]
        if orphans:
            problems.append(
                f"{self.job_file.path}: {plural(len(orphans), 'record')} without a batch name (an "
                "interrupted submit?); run `gembatch submit` again to reconcile them"
            )
        limits = Limits.of(self.job_file)
        if limits.problem:
            problems.append(limits.problem)
        live = tuple(self.views())
        earlier = tuple(self.history.totals.counts.items())
        self.emit(JobsLoaded(live, tuple(problems), limits.max_cost_usd, earlier))

    @property
    def limits_problem(self) -> str:
        """Why the job file's limits line cannot be read ("" when it can, or has none)."""
        return Limits.of(self.job_file).problem

    def all_done(self) -> bool:
        """Every job handled, and no part being created (a `submit` still at work, or a
        create that may still land): those are waited for, not called done."""
        keep = self.options.keep_remote
        return all(
            lifecycle.handled(r, keep) and not r.intent
            for r in self.worklist.records()
            if r.batch_name or r.queued or r.intent
        )

    def _intents_to_settle(self) -> bool:
        """Parts being created (or whose create may still land), and parts created after
        an unanswered create, whose first may still turn up as a duplicate."""
        grace = self.client.create_grace_s
        return any(
            r.intent or creates.watches_duplicates(r, self.clock, grace)
            for r in self.worklist.records()
        )

    def next_interval(self) -> float:
        backoff = min(
            max(self.options.interval_s, MAX_BACKOFF_S), self.options.interval_s * self.backoff
        )
        return max(backoff, self.book.server_wait)

    # --- one cycle --------------------------------------------------------------------
    async def run_cycle(self) -> CycleFinished:
        """Check every job that needs it once, save what finished, then clean up."""
        self.emit(CycleStarted(self.clock.now()))
        self.cycles += 1
        changed = self.job_file.refresh()
        if changed:
            self.saver.forget_claims()
        for record in changed:
            self.emit(JobUpdated(JobView.of(record)))
        visits = [r for r in self.worklist.records() if self._needs_visit(r)]
        auth_error = await self._check(visits)
        saved = self.book.save_if_dirty()
        if auth_error is not None:
            raise auth_error
        if saved:  # the steps that rely on what the checks found being written down
            await self._after_saving()
        self.backoff = min(self.backoff * 2, 64.0) if self.book.rate_limited else 1.0
        self.results.warn_about_age()
        self.worklist.settle()
        finished = self._finished(checked=len(visits))
        self.emit(finished)
        return finished

    async def _check(self, visits: list[JobRecord]) -> AuthError | None:
        """Ask the server about each job to visit (through the survey when there are
        many); the key's refusal is returned, to be raised once the changes are saved."""
        listed = await survey(self.client, self.book, visits)
        outcomes = await asyncio.gather(
            *(self._visit(r, listed.get(str(r.batch_name))) for r in visits),
            return_exceptions=True,
        )
        auth_error = next((o for o in outcomes if isinstance(o, AuthError)), None)
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, GeminiError):
                raise outcome
        return auth_error or self._settle_forbidden(len(visits))

    async def _after_saving(self) -> None:
        """Merges, then deletions (only of what is recorded as saved), then the queue."""
        await self.merges.run()
        if not self.options.keep_remote:
            await self.cleaner.run()
            # Written now, not at the next cycle's end: a kill during the next cycle's
            # downloads must not lose a deletion already made (and logged).
            self.book.save_if_dirty()
        if self.launcher.pending or self._intents_to_settle():
            await self.queue.run()

    def _finished(self, checked: int) -> CycleFinished:
        """What the cycle comes to: done, stalled on the queue, or when to poll next."""
        all_done = self.all_done()
        return CycleFinished(
            finished_at=self.clock.now(),
            checked=checked,
            errors=self.book.cycle_errors,
            next_poll_in=None if all_done else self.next_interval(),
            all_done=all_done,
            rewrites=self.job_file.rewrites,
            stalled="" if all_done else self.queue.stalled(),
        )

    def close(self) -> None:
        """Write down anything not yet recorded (deletions from the last cycle)."""
        self.book.save_if_dirty()

    @property
    def unrecorded(self) -> bool:
        """Changes the job file could not take (a full disk, a read-only folder)."""
        return self.book.dirty

    def _needs_visit(self, record: JobRecord) -> bool:
        if lifecycle.needs_visit(record, self.base, self.clock):
            return True
        return (
            not self.options.keep_remote
            and record.key not in self.confirmed
            and lifecycle.awaits_cleanup(record, self.base)
        )

    # --- checking -----------------------------------------------------------------------
    async def _visit(self, record: JobRecord, listed: RemoteJob | None = None) -> None:
        name = str(record.batch_name)
        if listed is not None and not states.is_terminal(listed.state):
            self._not_found.found(record.key)
            self._apply_remote(record, listed)
            return
        async with self.check_slots:
            self.emit(JobChecking(record.key))
            try:
                remote = await self.client.get_batch(name)
            except NotFoundError as gone:
                if gone.code == 403:
                    self._forbidden.append(record)  # settled when the cycle's gets are in
                else:
                    self._on_not_found(record)
                return
            except AuthError:
                raise
            except GeminiError as error:
                self.book.fail(str(error), record, transient=error.retryable, error=error)
                return
            finally:
                self.emit(JobChecked(record.key))
        self._not_found.found(record.key)
        self._apply_remote(record, remote)
        if states.is_terminal(remote.state) and lifecycle.results_due(record, self.base):
            await self.results.save(record, remote)

    def _settle_forbidden(self, visited: int) -> AuthError | None:
        """A 403 for one job is about that job; for every job checked, about the key."""
        forbidden, self._forbidden = self._forbidden, []
        if not forbidden:
            return None
        if len(forbidden) == visited and visited > 1:
            return AuthError(
                f"the server refuses every job in {self.job_file.path} (403); check that "
                "GEMINI_API_KEY belongs to the project that created them"
            )
        for record in forbidden:
            self._on_not_found(record, "refused (403)")
        return None

    def _on_not_found(self, record: JobRecord, how: str = "not found (404)") -> None:
        if not self._not_found.answer(record.key, self.cycles):
            if not gone.expected(record, self.base):  # (a deletion an earlier run made)
                self.book.fail(
                    f"{record.display_name}: the server answered {record.batch_name} {how}; "
                    "will check once more",
                    record,
                )
            return
        if lifecycle.results_due(record, self.base) and self.saver.adopt(
            record, self.job_file.records
        ):
            self.book.changed(record)  # results an earlier run saved but did not record
        verdict = gone.meaning(record, self.base)
        if verdict is Gone.CLEANED:
            # Finished, nothing left to save, and the job gone: an earlier run deleted it
            # and was stopped before it could write that down (or before its files went).
            # Gone is the server's word that it is finished: what is left of it may go.
            self.confirmed.add(record.key)
            return
        if verdict is Gone.EARLIER_TOOL:
            record.raw["remote_deleted_at"] = self.clock.iso()
            record.raw["results_with_earlier_tool"] = True
            self.book.changed(record)
            return
        record.raw["missing_since"] = self.clock.iso()
        record.raw["last_error"] = f"{record.batch_name} {how} on the server"
        self.book.changed(record, previous=record.state)
        self.book.fail(
            f"{record.display_name}: {record.batch_name} is gone from the server; marked "
            "missing (its record is kept)",
            record,
            transient=False,
        )

    def _apply_remote(self, record: JobRecord, remote: RemoteJob) -> None:
        if states.is_terminal(remote.state):
            self.confirmed.add(record.key)
        else:
            self.confirmed.discard(record.key)
        previous = record.state
        before = (record.state, record.data.get("stats"), record.batch.get("dest"))
        remote.update(record.ensure_batch())
        if remote.stats is not None:
            record.raw["stats"] = remote.stats.as_record()
        if remote.error_message:
            record.raw["last_error"] = remote.error_message
        if before != (record.state, record.data.get("stats"), record.batch.get("dest")):
            self.book.changed(record, previous)

    # --- user actions -------------------------------------------------------------------
    async def cancel(self, key: str) -> None:
        """Ask the server to cancel one job; the next check records the outcome."""
        record = next((r for r in self.job_file.records if r.key == key), None)
        if record is not None and record.queued:
            self.book.note(cancel_queued(self.job_file, record), key)
            self.emit(JobUpdated(self.book.view(record), states.QUEUED_HERE))
            return
        if record is None or not record.batch_name:
            raise GeminiError(f"no job {key} in {self.job_file.path}")
        if not lifecycle.cancellable(record):
            raise GeminiError(f"{record.display_name} is already {states.info(record.state).label}")
        await self.client.cancel_batch(record.batch_name)
