"""What a poll cycle does after its checks: save results, warn, merge, clean up, and
create queued parts; the `Engine` is made of this and its checking loop (`engine`).

The order is the engine's (see its docstring); each step here only acts on what the
checks recorded. The bookkeeping both halves report through (`_changed`, `_fail`,
`_save_if_dirty`, `_view`) lives here too.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gembatch import formatting
from gembatch.clock import Clock
from gembatch.config import Config
from gembatch.engine.cleanup import delete_remote, record_cleaned, remote_names
from gembatch.engine.events import (
    DownloadProgressed,
    Event,
    JobChecked,
    JobChecking,
    JobStuck,
    JobUpdated,
    OutputExpiring,
    PollFailed,
    QueueNote,
    RemoteDeleted,
    ResultsMerged,
    ResultsSaved,
)
from gembatch.engine.queue import Launcher, queue_places
from gembatch.engine.worklist import WorkList
from gembatch.formatting import plural
from gembatch.gemini.client import AuthError, GeminiClient, GeminiError, RemoteJob, TransientError
from gembatch.inputs import InputError
from gembatch.intake import creates
from gembatch.intake.owners import owner_alive
from gembatch.jobfile import lifecycle
from gembatch.jobfile.file import JobFile, JobFileError, JobRecord
from gembatch.jobfile.lifecycle import OUTPUT_LIFETIME_S
from gembatch.jobfile.view import JobView
from gembatch.results import merge
from gembatch.results.downloads import ResultsSaver
from gembatch.results.files import display_path

# The API deletes batch outputs about 48 h after the job ends (or when the output
# file's expirationTime says); warn 8 h before.
OUTPUT_WARNING_AFTER_S = 40 * 3600


@dataclass
class EngineOptions:
    """How hard and how often to poll."""

    concurrency: int = Config.concurrency  # (the defaults are the config's, written once)
    downloads: int = 4
    interval_s: float = Config.interval
    keep_remote: bool = Config.keep_remote
    results_folder: str = Config.results_folder
    stuck_after_s: float = Config.stuck_after_hours * 3600
    output_warning_after_s: float = OUTPUT_WARNING_AFTER_S


class Chores:
    """The engine's steps after checking (a part of `Engine`, not used alone)."""

    job_file: JobFile
    client: GeminiClient
    options: EngineOptions
    emit: Callable[[Event], None]
    base: Path
    clock: Clock
    saver: ResultsSaver
    worklist: WorkList
    launcher: Launcher
    _confirmed: set[str]
    _warned: set[str]
    _places: dict[str, int]
    _noted: set[str]
    _download_slots: asyncio.Semaphore
    _check_slots: asyncio.Semaphore
    _dirty: bool
    save_problem: str
    _cycle_errors: int
    _rate_limited: bool
    _server_wait: float
    local_problem: str

    def _view(self, record: JobRecord) -> JobView:
        view = JobView.of(record)
        place = self._places.get(record.key) if record.queued else None
        return dataclasses.replace(view, queue_place=place) if place else view

    def _save_if_dirty(self) -> bool:
        if not self._dirty:
            return True
        try:
            self.job_file.save()
        except (JobFileError, OSError) as error:
            self.save_problem = str(error)
            self._fail(
                f"could not rewrite {self.job_file.path}: {error}; nothing was deleted, "
                "will try again next cycle",
                transient=False,
            )
            return False
        self._dirty = False
        self.save_problem = ""
        return True

    # --- bookkeeping ------------------------------------------------------------------
    def _changed(self, record: JobRecord, previous: str | None = None, emit: bool = True) -> None:
        self._dirty = True
        if emit:
            self.emit(JobUpdated(JobView.of(record), previous))

    def _fail(
        self,
        message: str,
        record: JobRecord | None = None,
        transient: bool = True,
        error: GeminiError | None = None,
    ) -> None:
        self._cycle_errors += 1
        if error is not None and error.code == 429:
            self._rate_limited = True
        if isinstance(error, TransientError) and error.retry_after:
            self._server_wait = max(self._server_wait, error.retry_after)
        self.emit(PollFailed(message, record.key if record else None, transient))

    # --- results ------------------------------------------------------------------------
    async def _save_results(self, record: JobRecord, remote: RemoteJob) -> None:
        if not remote.output_file and remote.inlined_responses is None:
            if lifecycle.succeeded(record):
                self._fail(
                    f"{record.display_name}: succeeded, but its output is not available "
                    "yet; will try again next cycle",
                    record,
                )
            elif record.batch.get("dest"):  # failed, cancelled or expired: nothing to save
                record.ensure_batch().pop("dest", None)
                self._changed(record)
            return
        dest = self.saver.destination(record, self.job_file.records)
        adopted = self.saver.adopt_complete(record, remote, dest)  # a kill before recording
        if adopted is not None:
            self._changed(record, emit=False)
            path = display_path(dest, self.base)
            self.emit(ResultsSaved(JobView.of(record), path, adopted.lines, adopted.failed_rows))
            return

        def progress(written: int) -> None:
            self.emit(DownloadProgressed(record.key, written))

        async with self._download_slots:
            self.emit(JobChecking(record.key))
            try:
                outcome = await self.saver.save(record, remote, dest, progress)
            finally:
                self.emit(JobChecked(record.key))
        if isinstance(outcome.error, AuthError):
            raise outcome.error
        if outcome.saved is not None:
            self.local_problem = ""  # (the folder is writable again)
            self._changed(record, emit=False)  # ResultsSaved carries the new view
            summary = outcome.saved
            self.emit(
                ResultsSaved(JobView.of(record), outcome.path, summary.lines, summary.failed_rows)
            )
            self._check_failed_count(record, remote, summary.failed_rows)
        else:
            await self.saver.note_expiry(record, remote)
            if record.touched:
                self._changed(record)
        if outcome.blocked:
            if outcome.problem != self.local_problem:  # said once, not every cycle
                self.local_problem = outcome.problem
                self._fail(outcome.problem, transient=False)
            return
        if outcome.problem:
            self._fail(
                f"{record.display_name}: {outcome.problem}",
                record,
                transient=outcome.transient,
                error=outcome.error,
            )

    def _check_failed_count(self, record: JobRecord, remote: RemoteJob, failed: int) -> None:
        """Rows without a response, against what the server counted (§0.4)."""
        reported = remote.stats.failed if remote.stats else None
        if reported is not None and remote.stats and remote.stats.total and reported != failed:
            self._fail(
                f"{record.display_name}: the results have {failed:,} failed rows, the "
                f"server counted {reported:,}; the results file is what was saved",
                record,
                transient=False,
            )

    # --- warnings ---------------------------------------------------------------------
    def _warn_about_age(self) -> None:
        """Stuck jobs, and outputs close to deletion: once per job per run."""
        now = self.clock.now()
        for record in self.worklist.records():
            if not record.batch_name or record.key in self._warned:
                continue
            batch = record.batch
            if not record.is_terminal:
                started = formatting.parse_time(batch.get("create_time"))
                if started is not None and now - started > self.options.stuck_after_s:
                    self._warned.add(record.key)
                    self.emit(JobStuck(JobView.of(record), (now - started) / 3600))
            elif lifecycle.results_due(record, self.base):
                ended = formatting.parse_time(batch.get("end_time"))
                expires = lifecycle.output_expires(record)
                warn_from = expires - (OUTPUT_LIFETIME_S - self.options.output_warning_after_s)
                if ended is not None and now > warn_from:
                    self._warned.add(record.key)
                    self.emit(OutputExpiring(JobView.of(record), (now - ended) / 3600))

    # --- merged results -----------------------------------------------------------------
    async def _merge_finished_groups(self) -> None:
        """Merge inputs whose parts and retries have all finished (off the event loop)."""
        for source, group, stamp in list(merge.groups_to_merge(self.worklist.records(), self.base)):
            lone = merge.in_server_order(group)
            try:
                outcome = await asyncio.to_thread(
                    merge.merge_group, source, group, self.base, self.options.results_folder
                )
            except (OSError, InputError) as error:
                if lone:  # no input to order by (moved, or another tool's): kept as it came
                    group[0].raw.pop(merge.SERVER_ORDER, None)
                    self._dirty = True
                    continue
                self._fail(
                    f"could not merge the results of {source}: {error}; the part "
                    "results are kept and the merge will be tried again",
                    transient=False,
                )
                continue
            if lone:  # the job's own results, now in input order: nothing more to say
                group[0].raw.pop(merge.SERVER_ORDER, None)
                group[0].raw["merged_signature"] = stamp
                self._dirty = True
                continue
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
            self._dirty = True
            self.emit(ResultsMerged(source, path, outcome.succeeded, outcome.failed, errors))

    # --- cleanup ------------------------------------------------------------------------
    async def _clean_confirmed(self) -> None:
        cleanups = [
            r
            for r in self.worklist.records()
            if lifecycle.may_delete(r, self.base, r.key in self._confirmed)
        ]
        done = await asyncio.gather(*(self._clean(r) for r in cleanups), return_exceptions=True)
        auth_error = next((o for o in done if isinstance(o, AuthError)), None)
        if auth_error is not None:
            self._save_if_dirty()
            raise auth_error

    async def _clean(self, record: JobRecord) -> None:
        if not lifecycle.may_delete(record, self.base, record.key in self._confirmed):
            return  # re-checked right before deleting: the disk may have changed
        async with self._check_slots:
            self.emit(JobChecking(record.key))
            try:
                cleaned = await delete_remote(self.client, remote_names(record))
            except AuthError:
                raise
            except GeminiError as error:
                self._fail(
                    f"{record.display_name}: could not clean up: {error}",
                    record,
                    transient=error.retryable,
                    error=error,
                )
                return
            finally:
                self.emit(JobChecked(record.key))
        record_cleaned(record, cleaned, self.clock)
        self._changed(record, emit=False)
        self.emit(
            RemoteDeleted(JobView.of(record), tuple(cleaned.deleted), tuple(cleaned.left_to_expire))
        )

    # --- the local queue ----------------------------------------------------------------
    async def _run_queue(self) -> None:
        """Create queued parts the limits now allow (jobs that finished freed them)."""
        try:
            await self.launcher.launch_due(retry_pause_s=max(1.0, self.options.interval_s))
        except AuthError:
            raise
        except GeminiError as error:
            self._fail(f"the queue waits: {error}", transient=error.retryable, error=error)
        except JobFileError as error:
            self._fail(f"the queue waits: {error}", transient=False)
        places = queue_places(self.worklist.records())
        for record in self.worklist.records():
            if places.get(record.key) != self._places.get(record.key) and record.queued:
                self._places[record.key] = places[record.key]
                self.emit(JobUpdated(self._view(record), record.effective_state))
        self._places = places

    def _stalled(self) -> str:
        """Why nothing can happen without the user: everything is handled but parts the
        budget holds back, or parts an interrupted submit left uncreated ("" when
        something can still move)."""
        if self.local_problem:  # (said once already, as a problem line)
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

    def _queue_moved(self, record: JobRecord, previous: str | None) -> None:
        self.emit(JobUpdated(self._view(record), previous))

    def _note(self, message: str, key: str | None = None) -> None:
        """The queue's news, each line once per run (a wait is not news every cycle)."""
        if message not in self._noted:
            self._noted.add(message)
            self.emit(QueueNote(message.removeprefix("error: "), key))
