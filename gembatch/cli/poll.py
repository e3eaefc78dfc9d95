"""`gembatch poll`: the job file, the mode, the config; the run itself is `cli.run_poll`."""

from __future__ import annotations

import argparse
import sys

from gembatch.cli.run_poll import PollSettings, Screen, run_poll
from gembatch.cli.settings import load_config, pick, price_overrides
from gembatch.cli.status import load_existing
from gembatch.config import storage_bytes
from gembatch.engine.loop import EngineOptions
from gembatch.problems import CommandError, error


def cmd_poll(args: argparse.Namespace) -> int:
    job_file = load_existing(args)
    if not any(r.batch_name or r.submit_id for r in job_file.records):
        for problem in job_file.bad_line_messages():
            error(problem)
        raise CommandError(f"{job_file.path} holds no job that can be read; nothing to poll")
    config = load_config()
    screen = None
    if not (args.plain or not sys.stdout.isatty()):
        screen = Screen(title=None, theme=config.theme, bell=config.bell)
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
