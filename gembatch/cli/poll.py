"""`gembatch poll`: hold the poller lock and run the engine, plain or full screen."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from gembatch import summary
from gembatch.cli.errors import CommandError, error
from gembatch.cli.settings import load_config, pick, price_overrides
from gembatch.cli.status import load_existing, problems_of
from gembatch.jobfile import JobFile


def cmd_poll(args: argparse.Namespace) -> int:
    job_file = load_existing(args)
    if not any(r.batch_name or r.submit_id for r in job_file.records):
        for problem in problems_of(job_file):
            error(problem)
        raise CommandError(f"{job_file.path} holds no job that can be read; nothing to poll")
    plain = args.plain or not sys.stdout.isatty()
    return run_poller(job_file, args, plain=plain)


def run_poller(
    job_file: JobFile,
    args: argparse.Namespace,
    plain: bool,
    base_url: str | None = None,
    api_key: str | None = None,
    title: str | None = None,
) -> int:
    """Poll `job_file` until the mode says stop; the exit code tells the outcome."""
    from gembatch.engine import EngineOptions
    from gembatch.gemini import GeminiClient

    config = load_config()
    options = EngineOptions(
        concurrency=max(1, pick(args.concurrency, config.concurrency)),
        interval_s=max(1.0, pick(args.interval, config.interval)),
        keep_remote=pick(args.keep_remote, config.keep_remote),
        results_folder=config.results_folder,
        stuck_after_s=config.stuck_after_hours * 3600,
    )
    problems = problems_of(job_file)
    with job_file.poller_lock():
        client = GeminiClient(api_key=api_key, base_url=base_url)
        observers = _observers(job_file, client, config, args)
        try:
            if plain:
                code = asyncio.run(_poll_plain(job_file, client, options, args, observers))
            else:
                code = _poll_full_screen(job_file, client, options, args, observers, config, title)
        finally:
            for observer in observers:
                if hasattr(observer, "close"):
                    observer.close()
    # Lines that do not parse are kept and polled around, but the run is not clean.
    if problems and code in (summary.EXIT_OK, summary.EXIT_SOME_FAILED):
        return summary.EXIT_BAD_INPUT
    return code


def _poll_full_screen(
    job_file: JobFile,
    client: Any,
    options: Any,
    args: argparse.Namespace,
    observers: list,
    config: Any,
    title: str | None,
) -> int:
    from gembatch.app import GembatchApp

    app = GembatchApp(
        job_file,
        client,
        options,
        once=args.once,
        stop_when_done=args.stop_when_done,
        title=title,
        observers=observers,
        theme=config.theme,
        bell=config.bell,
        prices=price_overrides(config.prices),
    )
    app.run()
    return app.return_code if app.return_code is not None else summary.EXIT_OK


def _observers(job_file: JobFile, client: Any, config: Any, args: argparse.Namespace) -> list:
    """The log file, hooks and desktop notices that listen beside the screen or printer."""
    from gembatch.gemini import api_key_from_env
    from gembatch.observers import DesktopNotifier, EventLog, HookRunner, log_path

    secrets = [s for s in (getattr(client, "_key", None), api_key_from_env()) if s]
    event_log = EventLog(log_path(), job_file.path.resolve(), secrets, job_file.clock)
    if event_log.problem:
        error(event_log.problem)
    hooks = HookRunner(
        getattr(args, "on_complete", None) or config.on_complete,
        getattr(args, "on_all_done", None) or config.on_all_done,
    )
    return [event_log, hooks, DesktopNotifier(config.desktop_notifications)]


async def _poll_plain(
    job_file: JobFile, client: Any, options: Any, args: argparse.Namespace, observers: list
) -> int:
    from gembatch.engine import Engine
    from gembatch.observers import Fanout
    from gembatch.plain import PlainPrinter

    printer = PlainPrinter(clock=job_file.clock)
    fanout = Fanout([printer, *observers])
    engine = Engine(job_file, client, options, emit=fanout)
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    engine.announce()
    # Plain mode ends by itself when all is done, as the earlier tool's poll did;
    # --watch keeps it for jobs submitted later (service mode).
    stop_when_done = args.stop_when_done or not getattr(args, "watch", False)
    try:
        await engine.run(once=args.once, stop_when_done=stop_when_done)
    except asyncio.CancelledError:
        raise CommandError(
            "stopped; the job file is consistent, run `gembatch poll` again to resume",
            summary.EXIT_INTERRUPTED,
        ) from None
    finally:
        await fanout.drain()
        await client.close()
    printer.summary(engine.views())
    if engine.unrecorded:
        error(f"{engine.save_problem}; results already on disk are adopted by the next run")
        return summary.EXIT_BAD_INPUT
    return summary.Totals.of(engine.views()).exit_code()
