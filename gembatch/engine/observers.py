"""What else listens to the engine: a rotating log file, user hooks, desktop notices.

Each is handed every event next to the screen or the plain printer. None of them can
stop polling: a failing hook or an unwritable log is reported and polling goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import logging.handlers
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from gembatch import states
from gembatch.clock import SYSTEM_CLOCK, Clock
from gembatch.engine.events import CycleFinished, Event, JobUpdated, PollFailed, ResultsSaved
from gembatch.engine.plain import describe

Emit = Callable[[Event], None]
LOG_BYTES = 5 * 1024 * 1024
LOG_BACKUPS = 5
HOOK_TIMEOUT_S = 300.0


def log_path() -> Path:
    """The event log (GEMBATCH_LOG_DIR overrides the platform's user log folder)."""
    override = os.environ.get("GEMBATCH_LOG_DIR")
    if override:
        return Path(override) / "gembatch.log"
    import platformdirs

    return platformdirs.user_log_path("gembatch") / "gembatch.log"


class Fanout:
    """Hands each event to every listener, in order; hooks report their failures back."""

    def __init__(self, listeners: Iterable[Emit]) -> None:
        self.listeners = list(listeners)
        for listener in self.listeners:
            if isinstance(listener, HookRunner):
                listener.report = self  # a failing hook is shown and logged like any event

    def __call__(self, event: Event) -> None:
        for listener in self.listeners:
            listener(event)

    async def drain(self) -> None:
        """Let running hooks finish before the program exits."""
        for listener in self.listeners:
            if isinstance(listener, HookRunner):
                await listener.drain()


class _Redact(logging.Filter):
    """Keeps secrets out of the log, whatever a message says."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for secret in self.secrets:
            message = message.replace(secret, "***")
        record.msg, record.args = message, None
        return True


class EventLog:
    """Every event also goes to a rotating file, so a full-screen night leaves a record."""

    def __init__(
        self,
        path: Path,
        job_file: Path,
        secrets: Iterable[str] = (),
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.path = path
        self.clock = clock
        self.logger = logging.getLogger(f"gembatch.engine.events.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)
        self.problem: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(
                path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
            )
        except OSError as error:
            self.problem = f"cannot write the log {path}: {error.strerror}; logging is off"
            return
        handler.setFormatter(logging.Formatter("%(message)s"))  # stamped from our clock
        handler.addFilter(_Redact(secrets))
        self.logger.addHandler(handler)
        self.prefix = f"[{job_file}] "

    def __call__(self, event: Event) -> None:
        if self.problem is not None:
            return
        for line in describe(event):
            self.logger.info("%s  %s%s", self.clock.stamp(), self.prefix, line)

    def close(self) -> None:
        for handler in list(self.logger.handlers):
            handler.close()
            self.logger.removeHandler(handler)


class HookRunner:
    """Runs the user's commands when results are saved and when everything is done."""

    def __init__(
        self, on_complete: str | None, on_all_done: str | None, report: Emit | None = None
    ) -> None:
        self.on_complete = on_complete
        self.on_all_done = on_all_done
        self.report: Emit = report or (lambda event: None)  # a Fanout sets this
        self.tasks: set[asyncio.Task[None]] = set()
        self._all_done_ran = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, ResultsSaved) and self.on_complete:
            job = event.job
            env = {
                "GEMBATCH_RESULTS": event.path,
                "GEMBATCH_INPUT": job.input_file,
                "GEMBATCH_STATE": str(job.state or ""),
                "GEMBATCH_BATCH": str(job.batch_name or ""),
            }
            payload = json.dumps(job.raw, ensure_ascii=False).encode()
            self._start(self.on_complete, env, payload, f"on-complete hook for {job.label}")
        elif (
            isinstance(event, CycleFinished)
            and event.all_done
            and self.on_all_done
            and not self._all_done_ran
        ):
            self._all_done_ran = True
            self._start(self.on_all_done, {}, b"", "on-all-done hook")

    def _start(self, command: str, env: dict[str, str], stdin: bytes, what: str) -> None:
        task = asyncio.get_running_loop().create_task(self._run(command, env, stdin, what))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, command: str, env: dict[str, str], stdin: bytes, what: str) -> None:
        try:
            process = await asyncio.create_subprocess_shell(
                command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env={**os.environ, **env},
            )
            _, err = await asyncio.wait_for(process.communicate(stdin), HOOK_TIMEOUT_S)
        except asyncio.TimeoutError:
            process.kill()
            self.report(
                PollFailed(
                    f"{what} ran over {HOOK_TIMEOUT_S:.0f}s and was stopped; polling goes on",
                    transient=False,
                )
            )
            return
        except OSError as error:
            self.report(
                PollFailed(f"{what} could not start: {error}; polling goes on", transient=False)
            )
            return
        if process.returncode:
            tail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
            self.report(
                PollFailed(
                    f"{what} failed (exit {process.returncode}): {tail[0]}; polling goes on",
                    transient=False,
                )
            )

    async def drain(self) -> None:
        """Let running hooks finish before the program exits."""
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)


class DesktopNotifier:
    """A desktop notification on failure and when all is done, where `notify-send` exists."""

    def __init__(self, enabled: bool) -> None:
        self.command = shutil.which("notify-send") if enabled else None
        self._all_done_sent = False

    def __call__(self, event: Event) -> None:
        if self.command is None:
            return
        if isinstance(event, JobUpdated):
            changed = states.changed(event.previous_state, event.job.state)
            if changed and states.alarming(event.job.state):
                self._send(f"{event.job.label}: {event.job.state_info.label}")
        elif isinstance(event, CycleFinished) and event.all_done and not self._all_done_sent:
            self._all_done_sent = True
            self._send("all batch jobs are done")

    def _send(self, message: str) -> None:
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to notify from
            asyncio.get_running_loop().create_task(self._run(message))

    async def _run(self, message: str) -> None:
        try:
            process = await asyncio.create_subprocess_exec(
                str(self.command),
                "gembatch",
                message,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            await asyncio.wait_for(process.wait(), 10)
        except (OSError, asyncio.TimeoutError):
            pass  # a desktop without notifications is not a problem worth reporting
