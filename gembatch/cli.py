"""Command-line entry point: argument parsing, the commands, exit codes.

Heavy imports (the SDK, Textual) happen inside the commands that need them, so
`gembatch --help` and `gembatch status` start fast.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from gembatch import summary
from gembatch.jobfile import JobFile, JobFileError, PollerBusyError

DEFAULT_JOB_FILE = "job-info.jsonl"

EXIT_CODES_HELP = """exit codes:
  0  every job succeeded and was handled
  1  every job finished, some failed, were cancelled, expired or went missing
  2  some jobs are still pending or running
  3  another gembatch poll holds the job file
  4  bad input: the job file is missing, unreadable, or has lines that do not parse
  5  the API key is missing or was rejected
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gembatch",
        description="Run large jobs through the Gemini Batch API without losing a result.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--job-info",
        default=DEFAULT_JOB_FILE,
        metavar="FILE",
        help=f"the job file (default: {DEFAULT_JOB_FILE})",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    poll = commands.add_parser(
        "poll",
        help="watch jobs, save results, clean up (full screen in a terminal)",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_poll_options(poll)

    status = commands.add_parser(
        "status",
        help="summarise the job file by state (no network, no lock)",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status.add_argument("--list", action="store_true", help="list the jobs in each group")
    status.add_argument("--json", action="store_true", help="print JSON for scripts")

    demo = commands.add_parser(
        "demo", help="try the monitor against a built-in simulator (no key, no network)"
    )
    demo.add_argument("--plain", action="store_true", help="print events instead of the screen")
    demo.add_argument(
        "--dir", type=Path, help="folder for the demo files (default: a new temp folder)"
    )
    demo.add_argument("--speed", type=float, default=1.0, help="make simulated jobs N times faster")
    return parser


def _add_poll_options(poll: argparse.ArgumentParser) -> None:
    poll.add_argument(
        "--plain",
        action="store_true",
        help="one line per event (automatic when stdout is not a terminal)",
    )
    poll.add_argument("--once", action="store_true", help="run one cycle, then exit")
    poll.add_argument(
        "--stop-when-done", action="store_true", help="exit when every job is finished and handled"
    )
    poll.add_argument(
        "--interval",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="seconds between cycles (default: 30)",
    )
    poll.add_argument(
        "--concurrency",
        type=int,
        default=16,
        metavar="N",
        help="API calls in flight at once (default: 16)",
    )
    poll.add_argument(
        "--keep-remote", action="store_true", help="never delete remote jobs or files"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 0
    handler = {"poll": cmd_poll, "status": cmd_status, "demo": cmd_demo}[args.command]
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        print(
            "interrupted; the job file is consistent, run the command again to resume",
            file=sys.stderr,
        )
        return summary.EXIT_INTERRUPTED


def error(message: str) -> None:
    print(f"gembatch: {message}", file=sys.stderr)


# --- status -------------------------------------------------------------------------------
def cmd_status(args: argparse.Namespace) -> int:
    from gembatch.events import JobView
    from gembatch.plain import progress_text

    path = Path(args.job_info)
    try:
        job_file = JobFile.load(path)
    except JobFileError as problem:
        error(str(problem))
        return summary.EXIT_BAD_INPUT
    if not job_file.exists:
        error(f"no job file at {path}; submit jobs first, or pass --job-info FILE")
        return summary.EXIT_BAD_INPUT
    jobs = [JobView.of(record) for record in job_file.records]
    totals = summary.Totals.of(jobs)
    problems = job_file.bad_line_messages()
    if args.json:
        print(json.dumps(_status_json(path, jobs, totals, problems), indent=2))
    else:
        print(f"{path}: {totals.total} jobs")
        for group in summary.GROUPS:
            count = totals.counts[group]
            if not count and group == "other":
                continue
            note = ""
            if group == "succeeded" and totals.failed_rows:
                note = (
                    f"  ({totals.failed_rows} failed rows in "
                    f"{totals.jobs_with_failed_rows} jobs; see their results files)"
                )
            print(f"  {group:<18} {count:>6}{note}")
            if args.list:
                for job in (j for j in jobs if summary.group_of(j) == group):
                    where = job.results_file or ""
                    print(
                        f"      {job.label}  {job.state_info.label}  {progress_text(job)}  {where}"
                    )
        for problem in problems:
            error(problem)
    if problems:
        return summary.EXIT_BAD_INPUT
    return totals.exit_code()


def _status_json(path: Path, jobs: list[Any], totals: summary.Totals, problems: list[str]) -> dict:
    return {
        "job_file": str(path),
        "total": totals.total,
        "counts": totals.counts,
        "failed_rows": totals.failed_rows,
        "exit_code": summary.EXIT_BAD_INPUT if problems else totals.exit_code(),
        "problems": problems,
        "jobs": [
            {
                "input_file": job.input_file,
                "batch_name": job.batch_name,
                "state": job.state,
                "group": summary.group_of(job),
                "requests": job.request_count,
                "done": job.done_count,
                "failed_rows": job.failed_count,
                "results_file": job.results_file,
                "remote_deleted": job.remote_deleted,
                "last_error": job.last_error,
            }
            for job in jobs
        ],
    }


# --- poll ---------------------------------------------------------------------------------
def cmd_poll(args: argparse.Namespace) -> int:
    path = Path(args.job_info)
    try:
        job_file = JobFile.load(path)
    except JobFileError as problem:
        error(str(problem))
        return summary.EXIT_BAD_INPUT
    if not job_file.exists:
        error(f"no job file at {path}; submit jobs first, or pass --job-info FILE")
        return summary.EXIT_BAD_INPUT
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
    """Hold the poller lock and run the engine, plain or full screen."""
    from gembatch.engine import EngineOptions
    from gembatch.gemini import AuthError, GeminiClient

    options = EngineOptions(
        concurrency=max(1, args.concurrency),
        interval_s=max(1.0, args.interval),
        keep_remote=args.keep_remote,
    )
    try:
        with job_file.poller_lock():
            try:
                client = GeminiClient(api_key=api_key, base_url=base_url)
            except AuthError as problem:
                error(str(problem))
                return summary.EXIT_AUTH
            if plain:
                return asyncio.run(_poll_plain(job_file, client, options, args))
            from gembatch.app import GembatchApp

            app = GembatchApp(
                job_file,
                client,
                options,
                once=args.once,
                stop_when_done=args.stop_when_done,
                title=title,
            )
            app.run()
            return app.return_code if app.return_code is not None else 0
    except PollerBusyError as busy:
        error(str(busy))
        return summary.EXIT_LOCKED
    except JobFileError as problem:
        error(str(problem))
        return summary.EXIT_BAD_INPUT


async def _poll_plain(
    job_file: JobFile, client: Any, options: Any, args: argparse.Namespace
) -> int:
    from gembatch.engine import Engine
    from gembatch.gemini import AuthError
    from gembatch.plain import PlainPrinter

    engine = Engine(job_file, client, options, emit=PlainPrinter())
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    engine.announce()
    try:
        await engine.run(once=args.once, stop_when_done=args.stop_when_done)
    except AuthError as problem:
        error(str(problem))
        return summary.EXIT_AUTH
    except asyncio.CancelledError:
        error("stopped; the job file is consistent, run `gembatch poll` again to resume")
        return summary.EXIT_INTERRUPTED
    finally:
        await client.close()
    return summary.Totals.of(engine.views()).exit_code()


# --- demo ---------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from gembatch.demo import run_demo

    return run_demo(args)


def console_main() -> None:
    """The `gembatch` console script."""
    sys.exit(main())
