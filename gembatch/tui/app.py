"""The Textual app: puts one poll run on the monitor screen and leaves with its outcome."""

from __future__ import annotations

import asyncio
import contextlib
from typing import ClassVar

from textual.app import App
from textual.binding import Binding
from textual.worker import WorkerCancelled, WorkerFailed

from gembatch.engine.events import Event
from gembatch.engine.run import PollRun
from gembatch.exit_codes import EXIT_INTERRUPTED, EXIT_OK
from gembatch.tui.commands import JumpToJob, MonitorCommands
from gembatch.tui.screens.monitor import EngineEvent, MonitorScreen

DEFAULT_THEME = "tokyo-night"  # yellow warnings, orange accents: running vs cancelled


class GembatchApp(App[int]):
    """Full-screen monitor of one job file."""

    CSS_PATH = "gembatch.tcss"
    TITLE = "gembatch"
    COMMANDS: ClassVar = App.COMMANDS | {MonitorCommands, JumpToJob}
    BINDINGS: ClassVar = [Binding("ctrl+c", "interrupt", "Quit", show=False, priority=True)]

    def __init__(
        self,
        poll_run: PollRun,
        *,
        title: str | None = None,
        autostart: bool = True,
        theme: str = DEFAULT_THEME,
        bell: bool = True,
    ) -> None:
        super().__init__()
        self.poll_run = poll_run
        poll_run.listen_first(self._emit)  # the screen sees each event before the log
        self.chosen_theme = theme
        self.monitor = MonitorScreen(poll_run, autostart=autostart, bell=bell)
        self._pending: list[Event] = []
        self.sub_title = title or str(poll_run.engine.job_file.path)

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

    def _emit(self, event: Event) -> None:
        # Events come in bursts (a cycle touches every job); one message per loop turn
        # carries them all, instead of one message each.
        self._pending.append(event)
        if len(self._pending) == 1:
            asyncio.get_running_loop().call_soon(self._post_pending)

    def _post_pending(self) -> None:
        events, self._pending = self._pending, []
        self.monitor.post_message(EngineEvent(events))

    def on_monitor_screen_finished(self, _message: MonitorScreen.Finished) -> None:
        self.finish()

    def finish(self) -> None:
        """Leave with the exit code `status` would give."""
        self.poll_run.engine.close()
        self._leave(self.poll_run.outcome())

    def _leave(self, code: int) -> None:
        # `exit(result)` alone leaves the process's return code at 0: set both.
        self.exit(code, return_code=code)

    async def _stop_polling(self) -> None:
        # Stop the cycle first: a cancelled download removes its temp file, and the
        # job file is only ever replaced whole, so what is on disk stays consistent.
        self.workers.cancel_group(self.monitor, "poll")
        with contextlib.suppress(WorkerCancelled, WorkerFailed):
            await self.workers.wait_for_complete()
        self.poll_run.engine.close()

    async def action_quit(self) -> None:
        await self._stop_polling()
        run = self.poll_run
        self._leave(run.outcome() if run.once or run.key_problem else EXIT_OK)

    async def action_interrupt(self) -> None:
        """Ctrl+C: the same clean stop as q, reported as an interruption (130)."""
        await self._stop_polling()
        self._leave(EXIT_INTERRUPTED)

    async def on_unmount(self) -> None:
        await self.poll_run.close()
