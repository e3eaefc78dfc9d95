"""One poll run: the engine, its client and listeners, how the run stops and what it
reports. The full screen (app, monitor screen) and plain mode both drive one; it knows
nothing of either."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from gembatch import exit_codes
from gembatch.engine.events import CycleFinished, Event, JobUpdated, PollingStopped
from gembatch.engine.loop import Engine, EngineOptions
from gembatch.engine.observers import Fanout
from gembatch.gemini.client import AuthError, GeminiClient, GeminiError
from gembatch.jobfile.file import JobFile
from gembatch.jobfile.view import JobView


class PollRun:
    """Owns the engine, its client and its listeners for one run, and their closing."""

    def __init__(
        self,
        job_file: JobFile,
        client: GeminiClient,
        options: EngineOptions | None = None,
        observers: Iterable[Callable[[Event], None]] = (),
        *,
        once: bool = False,
        stop_when_done: bool = False,
        prices: dict | None = None,
    ) -> None:
        self.fanout = Fanout(observers)
        self.engine = Engine(job_file, client, options, emit=self.fanout)
        self.client = client
        self.once = once
        self.stop_when_done = stop_when_done
        self.prices = prices or {}  # price overrides: one cost figure everywhere
        self.engine.set_prices(self.prices)  # the budget is held at these prices
        self.key_problem: str | None = None  # set when the server refused the key
        self.file_problem: str | None = None  # the job file, read late, holds nothing to poll
        self._prepared = False

    def listen_first(self, listener: Callable[[Event], None]) -> None:
        """A listener that must see each event before the others (the screen)."""
        self.fanout.listeners.insert(0, listener)

    async def cycle(self) -> CycleFinished | None:
        """One engine cycle; a rejected key stops polling and says so as an event."""
        if not self._prepared:  # the SDK's import off the event loop: the screen keeps drawing
            self._prepared = True
            await asyncio.to_thread(self.client.prepare)
        try:
            return await self.engine.run_cycle()
        except AuthError as problem:
            self.key_problem = str(problem)
            self.fanout(PollingStopped(str(problem)))
            return None

    async def cancel(self, key: str) -> str | None:
        """Ask the server to cancel a job; the reason it could not, or None."""
        try:
            await self.engine.cancel(key)
        except GeminiError as problem:
            return str(problem)
        return None

    async def retry(self, key: str, say: Callable[[str], None]) -> list[JobUpdated]:
        """`gembatch retry` for the input of one job, through this run's client and job
        file; the new jobs as events for the screen."""
        from gembatch import prices
        from gembatch.engine.actions import retry_failed
        from gembatch.intake.submit import DEFAULT_MODEL, Submitter, options_under
        from gembatch.report.limits import Limits
        from gembatch.results.merge import group_key

        job_file = self.engine.job_file
        record = next((r for r in job_file.records if r.key == key), None)
        if record is None:
            return []
        before = {r.key for r in job_file.records}
        model = str(record.batch.get("model") or DEFAULT_MODEL).removeprefix("models/")
        options = options_under(Limits.of(job_file), model, prices.price_for(model, self.prices))
        submitter = Submitter(job_file, self.client, options, say=say)
        try:
            await retry_failed(job_file, self.client, submitter, say, only=group_key(record))
        except GeminiError as problem:
            say(f"retry stopped: {problem}")
        finally:
            submitter.close()
        return [JobUpdated(JobView.of(r)) for r in job_file.records if r.key not in before]

    def ends_after(self, finished: CycleFinished) -> bool:
        return self.once or ((finished.all_done or bool(finished.stalled)) and self.stop_when_done)

    def outcome(self) -> int:
        """The exit code: the key, then an unwritable job file, then the jobs' states."""
        if self.key_problem is not None:
            return exit_codes.EXIT_AUTH
        if self.engine.unrecorded or self.engine.local_problem or self.engine.limits_problem:
            return exit_codes.EXIT_BAD_INPUT
        return self.engine.report().exit_code()

    async def close(self) -> None:
        self.engine.close()
        await self.fanout.drain()
        await self.client.close()
        for listener in self.fanout.listeners:
            close = getattr(listener, "close", None)
            if close is not None and not asyncio.iscoroutinefunction(close):
                close()
