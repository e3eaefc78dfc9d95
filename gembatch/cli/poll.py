"""`gembatch poll`: the job file, the mode, the config; the run itself is `cli.run_poll`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gembatch.cli.run_poll import PollSettings, Screen, refuse, run_poll
from gembatch.cli.settings import load_config, pick, price_overrides
from gembatch.cli.status import load_existing, named_existing
from gembatch.config import storage_bytes
from gembatch.engine.loop import EngineOptions
from gembatch.jobfile.file import JobFile

# From this size the full screen reads the job file after its first frame (a year of
# history is hundreds of MB: seconds of a blank terminal otherwise).
READ_AFTER_FIRST_FRAME_BYTES = 4 * 1024 * 1024


def cmd_poll(args: argparse.Namespace) -> int:
    config = load_config()
    screen = None
    if not (args.plain or not sys.stdout.isatty()):
        screen = Screen(title=None, theme=config.theme, bell=config.bell)
    job_file = _job_file(args, read_now=screen is None)
    settings = PollSettings(
        options=EngineOptions(
            concurrency=max(1, pick(args.concurrency, config.concurrency)),
            interval_s=max(1.0, pick(args.interval, config.interval)),
            keep_remote=pick(args.keep_remote, config.keep_remote),
            results_folder=config.results_folder,
            stuck_after_s=config.stuck_after_hours * 3600,
            files_storage_bytes=storage_bytes(config.files_storage_gb),
        ),
        once=args.once,
        stop_when_done=args.stop_when_done,
        watch=args.watch,
        on_complete=args.on_complete or config.on_complete,
        on_all_done=args.on_all_done or config.on_all_done,
        desktop_notifications=config.desktop_notifications,
        prices=price_overrides(config.prices),
        client_options={
            "timeout_s": config.request_timeout,
            "create_grace_s": config.create_grace,
        },
    )
    return run_poll(job_file, settings, screen)


def _job_file(args: argparse.Namespace, read_now: bool) -> JobFile:
    """The job file to poll, read now, or (a big one, for the full screen) checked from
    its first bytes and read by the monitor after its first frame."""
    path = Path(args.job_info)
    big = not read_now and path.is_file() and path.stat().st_size >= READ_AFTER_FIRST_FRAME_BYTES
    if big:
        job_file = JobFile(path)
        job_file.check_readable()
        return job_file
    if read_now:  # plain: read by the work list's first pass (`run_poll.nothing_to_poll`)
        return named_existing(args)
    job_file = load_existing(args)
    problem = job_file.nothing_to_poll()
    if problem:
        refuse(job_file, problem)
    return job_file
