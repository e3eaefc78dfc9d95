"""Running `gembatch poll` (or the demo): the lock, the client, the listeners, then plain
mode or the full screen. It imports nothing of the command line."""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from gembatch import exit_codes
from gembatch.engine.loop import Engine, EngineOptions
from gembatch.engine.run import PollRun
from gembatch.gemini.client import GeminiClient
from gembatch.jobfile.file import JobFile
from gembatch.problems import CommandError, error


@dataclass
class Screen:
    """How the full-screen monitor should look; None runs plain mode."""

    title: str | None
    theme: str
    bell: bool


@dataclass
class PollSettings:
    """What one `gembatch poll` (or the demo) asked for, flags over the config file."""

    options: EngineOptions
    once: bool = False
    stop_when_done: bool = False  # the full screen exits when all is done
    watch: bool = False  # plain mode keeps running when all is done
    on_complete: str | None = None
    on_all_done: str | None = None
    desktop_notifications: bool = False
    log_file: Path | None = None  # default: the user's event log
    prices: dict = field(default_factory=dict)
    client_options: dict = field(default_factory=dict)  # the API timeout and create grace


def run_poll(
    job_file: JobFile,
    settings: PollSettings,
    screen: Screen | None,
    base_url: str | None = None,
    api_key: str | None = None,
) -> int:
    """Hold the poller lock and poll `job_file` until the mode says stop."""
    client = GeminiClient(api_key=api_key, base_url=base_url, **settings.client_options)
    run = PollRun(
        job_file,
        client,
        settings.options,
        _observers(job_file, client, settings),
        once=settings.once,
        # Plain mode ends by itself when all is done, as the earlier tool's poll did;
        # --watch keeps it for jobs submitted later (service mode).
        stop_when_done=settings.stop_when_done or (screen is None and not settings.watch),
        prices=settings.prices,
    )
    if screen is None:  # (read before the lock, as a file read by the command line is)
        try:
            nothing_to_poll(run.engine)
        except CommandError:
            asyncio.run(run.close())
            raise
    with job_file.poller_lock():
        code = asyncio.run(_poll_plain(run)) if screen is None else _poll_full_screen(run, screen)
    # Lines that do not parse (or are not jobs) are kept and polled around, but the file
    # needs the user: 4, whatever the jobs' state, as `status` says (`with_problems`).
    return exit_codes.with_problems(code, run.engine.file_problems)


def _observers(job_file: JobFile, client: GeminiClient, settings: PollSettings) -> list:
    """The log file, hooks and desktop notices that listen beside the screen or printer."""
    from gembatch.engine.observers import DesktopNotifier, EventLog, HookRunner, log_path
    from gembatch.gemini.client import api_key_from_env

    secrets = [s for s in (getattr(client, "_key", None), api_key_from_env()) if s]
    path = settings.log_file or log_path()
    event_log = EventLog(path, job_file.path.resolve(), secrets, job_file.clock)
    if event_log.problem:
        error(event_log.problem)
    hooks = HookRunner(settings.on_complete, settings.on_all_done)
    return [event_log, hooks, DesktopNotifier(settings.desktop_notifications)]


def _poll_full_screen(run: PollRun, screen: Screen) -> int:
    from gembatch.engine.plain import summary_lines
    from gembatch.tui.app import GembatchApp

    app = GembatchApp(run, title=screen.title, theme=screen.theme, bell=screen.bell)
    app.run()
    if run.file_problem is not None:  # (a big file, read after the first frame)
        refuse(run.engine.job_file, run.file_problem)
    code = app.return_code if app.return_code is not None else exit_codes.EXIT_OK
    # Back in the shell: a paragraph that stays in the scrollback after the screen goes.
    for line in summary_lines(run.engine.report()):
        print(line)
    if run.key_problem is not None:
        error(run.key_problem)
    return code


def nothing_to_poll(engine: Engine) -> None:
    """The job file read (by the work list's first pass, if it was only named); a
    `CommandError` if it holds nothing to poll, after the lines that do not parse."""
    engine.worklist.records()
    problem = engine.job_file.nothing_to_poll()
    if problem:
        refuse(engine.job_file, problem)


def refuse(job_file: JobFile, problem: str) -> NoReturn:
    """Nothing to poll: the lines that do not parse, then why, as the command's error."""
    for line in job_file.bad_line_messages():
        error(line)
    raise CommandError(problem)


async def _poll_plain(run: PollRun) -> int:
    from gembatch.engine.plain import PlainPrinter

    printer = PlainPrinter(sys.stdout, run.engine.clock)
    run.listen_first(printer)
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    run.engine.announce()
    try:
        while True:
            finished = await run.cycle()
            if finished is None:  # the key was refused: said, and nothing more to do
                raise CommandError(str(run.key_problem), exit_codes.EXIT_AUTH)
            if run.ends_after(finished):
                break
            await asyncio.sleep(finished.next_poll_in or run.engine.options.interval_s)
    except asyncio.CancelledError:
        raise CommandError(
            "stopped; the job file is consistent, run `gembatch poll` again to resume",
            exit_codes.EXIT_INTERRUPTED,
        ) from None
    finally:
        await run.close()
    printer.summary(run.engine.report())
    if run.engine.unrecorded:
        problem = run.engine.book.save_problem
        error(f"{problem}; results already on disk are adopted by the next run")
    return run.outcome()
