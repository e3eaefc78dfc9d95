"""The Textual app: wires the engine to the monitor screen; one factory for CLI and tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import ClassVar

from textual.app import App
from textual.binding import Binding
from textual.worker import WorkerCancelled, WorkerFailed

from gembatch.commands import JumpToJob
from gembatch.engine import Engine, EngineOptions
from gembatch.events import Event
from gembatch.gemini import AuthError, GeminiClient
from gembatch.jobfile import JobFile
from gembatch.observers import Fanout
from gembatch.screens.monitor import EngineEvent, MonitorScreen
from gembatch.summary import EXIT_AUTH, EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, Totals

DEFAULT_THEME = "tokyo-night"  # yellow warnings, orange accents: running vs cancelled


class GembatchApp(App[int]):
    """Full-screen monitor of one job file."""

    CSS_PATH = "gembatch.tcss"
    TITLE = "gembatch"
    COMMANDS: ClassVar = App.COMMANDS | {JumpToJob}
    BINDINGS: ClassVar = [Binding("ctrl+c", "interrupt", "Quit", show=False, priority=True)]

    def __init__(
        self,
        job_file: JobFile,
        client: GeminiClient,
        options: EngineOptions | None = None,
        *,
        once: bool = False,
        stop_when_done: bool = False,
        title: str | None = None,
        autostart: bool = True,
        observers: Sequence[Callable[[Event], None]] = (),
        theme: str = DEFAULT_THEME,
        bell: bool = True,
        prices: dict | None = None,
    ) -> None:
        super().__init__()
        self.fanout = Fanout([self._emit, *observers])
        self.engine = Engine(job_file, client, options, emit=self.fanout)
        self.chosen_theme = theme
        self.bell_enabled = bell
        self.client = client
        self.once = once
        self.stop_when_done = stop_when_done
        self.clock = job_file.clock
        self.prices = prices or {}  # price overrides, for the cost the screens show
        self.auth_error: AuthError | None = None  # polling stopped on the key: exit 5
        self.autostart = autostart
        self.monitor = MonitorScreen(self.clock)
        self._pending: list[Event] = []
        self.sub_title = title or str(job_file.path)

    def on_mount(self) -> None:
        try:
            self.theme = self.chosen_theme
        except Exception:  # an unknown theme name in the config: keep a readable default
            self.theme = DEFAULT_THEME
            self.notify(
                f"unknown theme {self.chosen_theme!r}; using {DEFAULT_THEME}",
                severity="warning",
                markup=False,
            )
        self.push_screen(self.monitor)

    def ring(self) -> None:
        """The terminal bell, unless the user turned it off."""
        if self.bell_enabled:
            self.bell()

    def _emit(self, event: Event) -> None:
        # Events come in bursts (a cycle touches every job); one message per loop turn
        # carries them all, instead of one message each.
        self._pending.append(event)
        if len(self._pending) == 1:
            asyncio.get_running_loop().call_soon(self._post_pending)

    def _post_pending(self) -> None:
        events, self._pending = self._pending, []
        self.monitor.post_message(EngineEvent(events))

    def finish(self) -> None:
        """Leave with the exit code `status` would give."""
        self.engine.close()
        self._leave(self._outcome())

    def _leave(self, code: int) -> None:
        # `exit(result)` alone leaves the process's return code at 0: set both.
        self.exit(code, return_code=code)

    def _outcome(self) -> int:
        if self.auth_error is not None:
            return EXIT_AUTH
        if self.engine.unrecorded:
            return EXIT_BAD_INPUT
        return Totals.of(self.engine.views()).exit_code()

    async def _stop_polling(self) -> None:
        # Stop the cycle first: a cancelled download removes its temp file, and the
        # job file is only ever replaced whole, so what is on disk stays consistent.
        self.workers.cancel_group(self.monitor, "poll")
        with contextlib.suppress(WorkerCancelled, WorkerFailed):
            await self.workers.wait_for_complete()
        self.engine.close()

    async def action_quit(self) -> None:
        await self._stop_polling()
        self._leave(self._outcome() if self.once or self.auth_error else EXIT_OK)

    async def action_interrupt(self) -> None:
        """Ctrl+C: the same clean stop as q, reported as an interruption (130)."""
        await self._stop_polling()
        self._leave(EXIT_INTERRUPTED)

    async def on_unmount(self) -> None:
        await self.fanout.drain()
        await self.client.close()
