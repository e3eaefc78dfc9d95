"""What a poll cycle does after its checks, each step a collaborator of the engine:
save results (and warn about old jobs and outputs), merge finished groups, clean up
the remote, and run the local queue. The order is the engine's (`loop`); each step only
acts on what the checks recorded, and reports through the engine's `CycleBook`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

from gembatch import formatting
from gembatch.engine.cleanup import delete_remote, record_cleaned, remote_names
from gembatch.engine.events import (
    DownloadProgressed,
    JobChecked,
    JobChecking,
    JobStuck,
    JobUpdated,
    OutputExpiring,
    RemoteDeleted,
    ResultsMerged,
    ResultsSaved,
)
from gembatch.engine.queue import queue_places
from gembatch.formatting import plural
from gembatch.gemini.client import AuthError, GeminiError, RemoteJob
from gembatch.inputs import InputError
from gembatch.intake import creates
from gembatch.intake.owners import owner_alive
from gembatch.jobfile import lifecycle
from gembatch.jobfile.file import JobFileError, JobRecord
from gembatch.jobfile.lifecycle import OUTPUT_LIFETIME_S
from gembatch.jobfile.view import JobView
from gembatch.results import merge
from gembatch.results.files import ResultsPath, display_path

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from gembatch.clock import Clock
    from gembatch.engine.book import CycleBook
    from gembatch.engine.events import Event
    from gembatch.engine.options import EngineOptions
    from gembatch.engine.queue import Launcher
    from gembatch.engine.worklist import WorkList
    from gembatch.gemini.client import GeminiClient
    from gembatch.jobfile.file import JobFile
    from gembatch.results.downloads import ResultsSaver, SaveOutcome
    from gembatch.results.merge import MergeOutcome


class Engine(Protocol):
    """What the steps use of the engine that holds them (`loop.Engine`)."""

    job_file: JobFile
    base: Path
    clock: Clock
    client: GeminiClient
    options: EngineOptions
    emit: Callable[[Event], None]
    worklist: WorkList
    saver: ResultsSaver
    launcher: Launcher
    book: CycleBook
    confirmed: set[str]  # jobs this run saw the server call finished
    check_slots: asyncio.Semaphore
    local_problem: str


class Step:
    """One part of the cycle's work, held by the engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.book = engine.book
        # What the engine holds for its whole life, named here for short.
        self.job_file, self.base, self.clock = engine.job_file, engine.base, engine.clock
        self.client, self.options, self.emit = engine.client, engine.options, engine.emit
        self.worklist, self.saver, self.launcher = engine.worklist, engine.saver, engine.launcher


class ResultsStep(Step):
    """Saves finished jobs' results; warns about jobs stuck or outputs near deletion."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.download_slots = asyncio.Semaphore(self.options.downloads)
        self.warned: set[str] = set()  # jobs warned about, once per run

    async def save(self, record: JobRecord, remote: RemoteJob) -> None:
        """Save a finished job's results next to its input, and record them (or adopt
        those a run killed before recording them left); a job with no output to
        download is recorded as such."""
        if not remote.output_file and remote.inlined_responses is None:
            self._no_output(record)
            return
        dest = self.saver.destination(record, self.job_file.records)
        outcome = await self._download(record, remote, dest)
        if isinstance(outcome.error, AuthError):
            raise outcome.error
        if outcome.saved is not None:
            self.engine.local_problem = ""  # (the folder is writable again)
            self.book.changed(record, emit=False)  # ResultsSaved carries the new view
            summary = outcome.saved
            self.emit(
                ResultsSaved(JobView.of(record), outcome.path, summary.lines, summary.failed_rows)
            )
        elif record.touched:
            self.book.changed(record)
        self._report_problem(record, outcome)

    def _no_output(self, record: JobRecord) -> None:
        """A finished job with no output: a succeeded one's is not there yet (asked for
        again next cycle); a failed, cancelled or expired one has nothing to save."""
        if lifecycle.succeeded(record):
            self.book.fail(
                f"{record.display_name}: succeeded, but its output is not available "
                "yet; will try again next cycle",
                record,
            )
        elif record.batch.get("dest"):  # failed, cancelled or expired: nothing to save
            record.ensure_batch().pop("dest", None)
            self.book.changed(record)

    async def _download(
        self, record: JobRecord, remote: RemoteJob, dest: ResultsPath
    ) -> SaveOutcome:
        """Stream, verify and record the output, one of `downloads` at a time; the row is
        shown busy meanwhile, with the bytes written so far."""

        def progress(written: int) -> None:
            self.emit(DownloadProgressed(record.key, written))

        async with self.download_slots:
            self.emit(JobChecking(record.key))
            try:
                return await self.saver.save(record, remote, dest, progress)
            finally:
                self.emit(JobChecked(record.key))

    def _report_problem(self, record: JobRecord, outcome: SaveOutcome) -> None:
        """Why the results were not saved (or saved short), if they were not; a problem
        only the user can mend (a blocked results folder) is said once, not every cycle."""
        if outcome.blocked:
            if outcome.problem != self.engine.local_problem:
                self.engine.local_problem = outcome.problem
                self.book.fail(outcome.problem, transient=False)
            return
        if outcome.problem:
            self.book.fail(
                f"{record.display_name}: {outcome.problem}",
                record,
                transient=outcome.transient,
                error=outcome.error,
            )

    def warn_about_age(self) -> None:
        """Stuck jobs, and outputs close to deletion: once per job per run."""
        now = self.clock.now()
        for record in self.worklist.records():
            if not record.batch_name or record.key in self.warned:
                continue
            batch = record.batch
            if not record.is_terminal:
                started = formatting.parse_time(batch.get("create_time"))
                if started is not None and now - started > self.options.stuck_after_s:
                    self.warned.add(record.key)
                    self.emit(JobStuck(JobView.of(record), (now - started) / 3600))
            elif lifecycle.results_due(record, self.base):
                ended = formatting.parse_time(batch.get("end_time"))
                expires = lifecycle.output_expires(record)
                warn_from = expires - (OUTPUT_LIFETIME_S - self.options.output_warning_after_s)
                if ended is not None and now > warn_from:
                    self.warned.add(record.key)
                    self.emit(OutputExpiring(JobView.of(record), (now - ended) / 3600))


class MergeStep(Step):
    """Merges inputs whose parts and retries have all finished."""

    async def run(self) -> None:
        """Merge inputs whose parts and retries have all finished (off the event loop)."""
        for source, group, stamp in list(merge.groups_to_merge(self.worklist.records(), self.base)):
            lone = merge.in_server_order(group)
            try:
                outcome = await asyncio.to_thread(
                    merge.merge_group,
                    source,
                    group,
                    self.base,
                    self.options.results_folder,
                )
            except (OSError, InputError) as error:
                if lone:  # no input to order by (moved, or another tool's): kept as it came
                    group[0].raw.pop(merge.SERVER_ORDER, None)
                    self.book.dirty = True
                    continue
                self.book.fail(
                    f"could not merge the results of {source}: {error}; the part "
                    "results are kept and the merge will be tried again",
                    transient=False,
                )
                continue
            if lone:  # the job's own results, now in input order: nothing more to say
                group[0].raw.pop(merge.SERVER_ORDER, None)
                group[0].raw["merged_signature"] = stamp
                self.book.dirty = True
                continue
            self._record_merged(source, group, stamp, outcome)

    def _record_merged(
        self, source: str, group: list[JobRecord], stamp: str, outcome: MergeOutcome
    ) -> None:
        """Each part and retry of a merged input points at the merged results."""
        path = display_path(outcome.results_file, self.base)
        errors = display_path(outcome.errors_file, self.base) if outcome.failed else None
        for record in group:
            record.raw.update(
                merged_signature=stamp,
                merged_results_file=path,
                merged_failed_rows=outcome.failed,
            )
            if record.results_file:  # its failed rows that no retry has answered since
                left = outcome.failed_by_file.get(str(record.results_file), 0)
                record.raw["failed_rows_left"] = left
        self.book.dirty = True
        self.emit(ResultsMerged(source, path, outcome.succeeded, outcome.failed, errors))


class Cleaner(Step):
    """Deletes remote jobs and files this run saw finished, their results on disk."""

    async def run(self) -> None:
        cleanups = [
            r
            for r in self.worklist.records()
            if lifecycle.may_delete(r, self.base, r.key in self.engine.confirmed)
        ]
        done = await asyncio.gather(*(self.clean(r) for r in cleanups), return_exceptions=True)
        auth_error = next((o for o in done if isinstance(o, AuthError)), None)
        if auth_error is not None:
            self.book.save_if_dirty()
            raise auth_error

    async def clean(self, record: JobRecord) -> None:
        if not lifecycle.may_delete(record, self.base, record.key in self.engine.confirmed):
            return  # re-checked right before deleting: the disk may have changed
        async with self.engine.check_slots:
            self.emit(JobChecking(record.key))
            try:
                names = remote_names(record, others=self.worklist.records())
                cleaned = await delete_remote(self.client, names)
            except AuthError:
                raise
            except GeminiError as error:
                self.book.fail(
                    f"{record.display_name}: could not clean up: {error}",
                    record,
                    transient=error.retryable,
                    error=error,
                )
                return
            finally:
                self.emit(JobChecked(record.key))
        record_cleaned(record, cleaned, self.clock)
        self.book.changed(record, emit=False)
        self.emit(
            RemoteDeleted(JobView.of(record), tuple(cleaned.deleted), tuple(cleaned.left_to_expire))
        )


class QueueRunner(Step):
    """Creates queued parts the limits allow; says why nothing can move when stuck."""

    async def run(self) -> None:
        """Create queued parts the limits now allow (jobs that finished freed them)."""
        try:
            await self.launcher.launch_due(retry_pause_s=max(1.0, self.options.interval_s))
        except AuthError:
            raise
        except GeminiError as error:
            self.book.fail(f"the queue waits: {error}", transient=error.retryable, error=error)
        except JobFileError as error:
            self.book.fail(f"the queue waits: {error}", transient=False)
        places = queue_places(self.worklist.records())
        for record in self.worklist.records():
            if places.get(record.key) != self.book.places.get(record.key) and record.queued:
                self.book.places[record.key] = places[record.key]
                self.emit(JobUpdated(self.book.view(record), record.effective_state))
        self.book.places = places

    def stalled(self) -> str:
        """Why nothing can happen without the user: everything is handled but parts the
        budget holds back, or parts an interrupted submit left uncreated ("" when
        something can still move)."""
        if self.engine.local_problem:  # (said once already, as a problem line)
            return "no results can be saved until that is fixed"
        keep = self.options.keep_remote
        records = self.worklist.records()
        if any(r.batch_name and not lifecycle.handled(r, keep) for r in records):
            return ""
        intents = [r for r in records if r.intent and not r.queued]
        if intents:
            return self._left_uncreated(intents)
        if any(r.intent for r in records):
            return ""
        if self.launcher.held_by_problem:
            return self.launcher.held_by_problem
        if not self.launcher.held_by_budget:
            return ""
        waiting = sum(1 for r in records if r.queued)
        return (
            f"{plural(waiting, 'part')} wait for budget; raise it with "
            "`gembatch submit --max-cost USD` and poll again"
        )

    def _left_uncreated(self, intents: list[JobRecord]) -> str:
        """Parts an interrupted submit left: named once no process is creating them and
        no create of theirs may still land (the poller never creates them itself)."""
        grace = self.client.create_grace_s
        if any(
            owner_alive(self.job_file, r) or creates.may_still_land(r, self.clock, grace)
            for r in intents
        ):
            return ""
        names = ", ".join(r.display_name for r in intents[:3])
        more = f" and {len(intents) - 3} more" if len(intents) > 3 else ""
        return (
            f"{names}{more}: an interrupted submit left {plural(len(intents), 'part')} "
            "uncreated; run `gembatch submit` with the same files to finish"
        )
