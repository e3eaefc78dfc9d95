"""One library run's work on its input: submit it (or find it submitted), then poll
until every job of it is handled, exactly as `gembatch submit` and `gembatch poll` do,
through the same `Submitter` and `PollRun`.

When another process polls the job file (the monitor in tmux, say), this run follows
the file instead, and takes over polling if that process stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gembatch import prices
from gembatch.engine.events import Event
from gembatch.engine.loop import EngineOptions
from gembatch.engine.run import PollRun
from gembatch.errors import BadInput, BudgetExceeded, KeyRejected
from gembatch.gemini.client import GeminiClient
from gembatch.intake.submit import SubmitReport, Submitter, options_under
from gembatch.jobfile import lifecycle
from gembatch.jobfile.file import JobFile, JobRecord, PollerBusyError
from gembatch.jobfile.view import JobView
from gembatch.report.limits import Limits, save_limits
from gembatch.results import merge

log = logging.getLogger("gembatch")


@dataclass
class Settings:
    """How a run submits and polls (the `Run`'s arguments)."""

    model: str
    max_cost: float | None = None
    max_running: int | None = None
    api_key: str | None = None
    base_url: str | None = None
    interval_s: float = 30.0
    keep_remote: bool = False
    follow_other_poller: bool = True
    inline: bool | None = None  # None: small batches inline, others through a file
    prices: dict = field(default_factory=dict)
    client_options: dict = field(default_factory=dict)


def group_of(job_file: JobFile, source: str) -> list[JobRecord]:
    """Every job of one input: its parts and its retries."""
    return merge.groups(job_file.records).get(source, [])


def settled(group: list[JobRecord], keep_remote: bool) -> bool:
    """Nothing left to do for these jobs: results on disk, remote cleaned up."""
    return bool(group) and all(lifecycle.handled(r, keep_remote) and not r.intent for r in group)


class Said:
    """What the submitter says goes to the log; its errors are kept to be raised."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def __call__(self, line: str) -> None:
        log.info(line)
        if line.startswith("error: "):
            self.errors.append(line.removeprefix("error: "))


class Work:
    """Submitting one input and seeing it through, reporting each event to `emit`."""

    def __init__(self, path: Path, settings: Settings, emit: Callable[[Event], None]) -> None:
        self.path = path
        self.settings = settings
        self.emit = emit
        self.job_file: JobFile | None = None  # (read by the listener, in this thread)
        self.following = False  # another process polls; this run reads the file

    async def run(self, source: Path, embeddings: bool = False) -> JobFile:
        """Submit `source` unless the job file has it already, then see it through."""
        job_file = self.job_file = JobFile.load(self.path)
        limits = Limits(self.settings.max_cost, self.settings.max_running)
        save_limits(job_file, limits)
        client = GeminiClient(self.settings.api_key, self.settings.base_url, **self._client())
        try:
            await self._submit(job_file, client, source, embeddings)
            relative = self._relative(source)
            while True:
                try:
                    with job_file.poller_lock():
                        self.following = False
                        await self._poll(job_file, client, source, embeddings)
                        return job_file
                except PollerBusyError:
                    if not self.settings.follow_other_poller:
                        raise
                if await self._follow(job_file, relative):
                    return job_file
        finally:
            await client.close()

    def _client(self) -> dict:
        return dict(self.settings.client_options)

    def _relative(self, source: Path) -> str:
        try:
            return str(source.resolve().relative_to(self.path.parent.resolve()))
        except ValueError:
            return str(source.resolve())

    async def _submit(
        self, job_file: JobFile, client: GeminiClient, source: Path, embeddings: bool
    ) -> SubmitReport:
        """`gembatch submit` for one input: skipped when submitted already, and any
        interrupted create of it found (adopted) or, after its grace, made."""
        limits = Limits.of(job_file)
        if limits.problem:
            raise BadInput(limits.problem)
        model = self.settings.model
        price = prices.price_for(model, self.settings.prices)
        options = options_under(
            limits, model, price, inline=self.settings.inline, embeddings=embeddings
        )
        said = Said()
        report = await Submitter(job_file, client, options, say=said).submit([source])
        if report.bad_inputs:
            raise BadInput(said.errors[0] if said.errors else f"{source}: cannot be submitted")
        if report.refused_for_budget:
            raise BudgetExceeded(said.errors[0] if said.errors else f"{source}: over budget")
        return report

    async def _poll(
        self, job_file: JobFile, client: GeminiClient, source: Path, embeddings: bool
    ) -> None:
        options = EngineOptions(
            interval_s=self.settings.interval_s, keep_remote=self.settings.keep_remote
        )
        run = PollRun(job_file, client, options, [self.emit], prices=self.settings.prices)
        relative = self._relative(source)
        try:
            run.engine.announce()
            while True:
                finished = await run.cycle()
                if finished is None:
                    raise KeyRejected(str(run.key_problem))
                group = group_of(job_file, relative)
                if settled(group, self.settings.keep_remote):
                    return
                if finished.stalled:
                    raise BudgetExceeded(finished.stalled)
                if any(r.intent and not r.queued for r in group):
                    # A create that got no reply: found, or made after its grace.
                    await self._submit(job_file, client, source, embeddings)
                await asyncio.sleep(finished.next_poll_in or self.settings.interval_s)
        finally:
            run.engine.close()
            await run.fanout.drain()

    async def _follow(self, job_file: JobFile, relative: str) -> bool:
        """Another process polls: read the file it keeps for one interval; True when
        this input is done."""
        if not self.following:
            log.info("%s is polled by another process; following it", self.path)
        self.following = True
        await asyncio.sleep(self.settings.interval_s)
        job_file.refresh()
        for record in group_of(job_file, relative):
            self.emit_view(record)
        return settled(group_of(job_file, relative), self.settings.keep_remote)

    def emit_view(self, record: JobRecord) -> None:
        from gembatch.engine.events import JobUpdated

        self.emit(JobUpdated(JobView.of(record)))
