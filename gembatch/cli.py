"""Command-line entry point: argument parsing, the commands, exit codes.

Heavy imports (the SDK, Textual) happen inside the commands that need them, so
`gembatch --help` and `gembatch status` start fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gembatch import summary

if TYPE_CHECKING:
    from gembatch.jobfile import JobFile

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

    submit = commands.add_parser(
        "submit", help="validate, split, upload and create batch jobs for JSONL inputs"
    )
    submit.add_argument("inputs", nargs="+", type=Path, metavar="FILE")
    submit.add_argument(
        "-m", "--model", default=None, help="model for the jobs (default: gemini-2.5-flash)"
    )
    submit.add_argument(
        "--max-requests",
        type=int,
        default=None,
        metavar="N",
        help="split inputs into parts of at most N requests",
    )
    submit.add_argument(
        "--max-bytes",
        type=int,
        default=None,
        metavar="B",
        help="split inputs into parts of at most B bytes (default 1.9 GB)",
    )
    submit.add_argument(
        "--force", action="store_true", help="submit inputs again even if the job file has them"
    )

    cancel = commands.add_parser("cancel", help="cancel pending or running jobs")
    cancel.add_argument(
        "jobs",
        nargs="+",
        metavar="JOB",
        help="batch name (batches/...), input file or split source file",
    )

    cleanup = commands.add_parser(
        "cleanup", help="delete finished remote jobs and files this job file knows"
    )
    cleanup.add_argument("-y", "--yes", action="store_true", help="do not ask first")

    commands.add_parser("retry", help="resubmit the rows that failed inside finished jobs")

    config = commands.add_parser("config", help="the configuration file")
    config.add_argument(
        "action",
        choices=["path", "init"],
        help="path: print where it is; init: write a commented default",
    )
    config.add_argument("--force", action="store_true", help="with init: replace an existing one")

    logs = commands.add_parser("logs", help="the event log every poll writes")
    logs.add_argument("--tail", type=int, metavar="N", help="print its last N lines")

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
        default=None,
        metavar="SECONDS",
        help="seconds between cycles (default: 30, or the config file's)",
    )
    poll.add_argument(
        "--concurrency",
        type=int,
        default=None,
        metavar="N",
        help="API calls in flight at once (default: 16, or the config file's)",
    )
    poll.add_argument(
        "--keep-remote",
        action="store_true",
        default=None,
        help="never delete remote jobs or files",
    )
    poll.add_argument(
        "--on-complete",
        metavar="CMD",
        help="run CMD when a job's results are saved (record as JSON on stdin; "
        "GEMBATCH_RESULTS, GEMBATCH_INPUT, GEMBATCH_STATE, GEMBATCH_BATCH set)",
    )
    poll.add_argument("--on-all-done", metavar="CMD", help="run CMD when every job is done")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 0
    handler = {
        "poll": cmd_poll,
        "status": cmd_status,
        "demo": cmd_demo,
        "submit": cmd_submit,
        "cancel": cmd_cancel,
        "cleanup": cmd_cleanup,
        "retry": cmd_retry,
        "config": cmd_config,
        "logs": cmd_logs,
    }[args.command]
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
def _load_existing(args: argparse.Namespace) -> JobFile | int:
    """The job file, or the exit code after saying why it cannot be used."""
    from gembatch.jobfile import JobFile, JobFileError

    path = Path(args.job_info)
    try:
        job_file = JobFile.load(path)
    except JobFileError as problem:
        error(str(problem))
        return summary.EXIT_BAD_INPUT
    if not job_file.exists:
        error(f"no job file at {path}; submit jobs first, or pass --job-info FILE")
        return summary.EXIT_BAD_INPUT
    return job_file


def cmd_status(args: argparse.Namespace) -> int:
    from gembatch.events import JobView
    from gembatch.plain import progress_text

    job_file = _load_existing(args)
    if isinstance(job_file, int):
        return job_file
    path = job_file.path
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
            if group == "succeeded" and totals.unsaved:
                note += f"  ({totals.unsaved} with results not saved yet: run `gembatch poll`)"
            if group == "succeeded" and totals.failed_rows:
                note += (
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
        cost_line = _cost_line(job_file)
        if cost_line:
            print(cost_line)
        for message in problems:
            error(message)
    if problems:
        return summary.EXIT_BAD_INPUT
    return totals.exit_code()


def _usage_and_cost(record: Any, overrides: dict) -> tuple[dict[str, int], float | None]:
    from gembatch import prices

    usage = record.data.get("usage") if isinstance(record.data.get("usage"), dict) else {}
    return usage, prices.estimate(usage, prices.price_for(record.batch.get("model"), overrides))


def _configured(name: str, default: Any) -> Any:
    config = _config_or_none()
    return default if config is None else getattr(config, name)


def _price_overrides() -> dict:
    """The config file's prices, then a GEMBATCH_PRICES file's, over the built-in table."""
    import os

    from gembatch import prices

    overrides = dict(_configured("prices", {}))
    path = os.environ.get("GEMBATCH_PRICES")
    if path:
        try:
            overrides.update(prices.load_overrides(Path(path)))
        except prices.PriceError as problem:
            error(f"{problem}; using the built-in price table")
    return overrides


def _cost_line(job_file: JobFile) -> str:
    from gembatch import prices

    overrides = _price_overrides()
    prompt = output = 0
    cost = 0.0
    priced = unpriced = 0
    for record in job_file.records:
        usage, estimate = _usage_and_cost(record, overrides)
        if not usage:
            continue
        prompt += usage.get("promptTokenCount", 0)
        output += usage.get("candidatesTokenCount", 0) + usage.get("thoughtsTokenCount", 0)
        if estimate is None:
            unpriced += 1
        else:
            cost += estimate
            priced += 1
    if not priced and not unpriced:
        return ""
    note = f", {unpriced} jobs of unknown models not counted" if unpriced else ""
    return (
        f"tokens: {prompt:,} in, {output:,} out; estimated cost {prices.dollars(cost)} at "
        f"batch prices (table of {prices.PRICES_AS_OF}{note})"
    )


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
                "usage": job.raw.get("usage"),
            }
            for job in jobs
        ],
    }


# --- poll ---------------------------------------------------------------------------------
def cmd_poll(args: argparse.Namespace) -> int:
    job_file = _load_existing(args)
    if isinstance(job_file, int):
        return job_file
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
    import asyncio

    from gembatch.engine import EngineOptions
    from gembatch.gemini import AuthError, GeminiClient
    from gembatch.jobfile import JobFileError, PollerBusyError

    config = _config_or_none()
    if config is None:
        return summary.EXIT_BAD_INPUT
    options = EngineOptions(
        concurrency=max(1, _pick(args.concurrency, config.concurrency)),
        interval_s=max(1.0, _pick(args.interval, config.interval)),
        keep_remote=_pick(args.keep_remote, config.keep_remote),
        results_folder=config.results_folder,
        stuck_after_s=config.stuck_after_hours * 3600,
    )
    try:
        with job_file.poller_lock():
            try:
                client = GeminiClient(api_key=api_key, base_url=base_url)
            except AuthError as problem:
                error(str(problem))
                return summary.EXIT_AUTH
            observers = _observers(job_file, client, config, args)
            if plain:
                return asyncio.run(_poll_plain(job_file, client, options, args, observers))
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
            )
            app.run()
            return app.return_code if app.return_code is not None else 0
    except PollerBusyError as busy:
        error(str(busy))
        return summary.EXIT_LOCKED
    except JobFileError as problem:
        error(str(problem))
        return summary.EXIT_BAD_INPUT


def _pick(flag: Any, configured: Any) -> Any:
    """A flag given on the command line wins over the config file."""
    return configured if flag is None else flag


def _config_or_none() -> Any:
    from gembatch.config import ConfigError, load_config

    try:
        return load_config()
    except ConfigError as problem:
        error(str(problem))
        return None


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
    import asyncio
    import signal

    from gembatch.engine import Engine
    from gembatch.gemini import AuthError
    from gembatch.observers import Fanout
    from gembatch.plain import PlainPrinter

    fanout = Fanout([PlainPrinter(clock=job_file.clock), *observers])
    engine = Engine(job_file, client, options, emit=fanout)
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
        await fanout.drain()
        await client.close()
    return summary.Totals.of(engine.views()).exit_code()


# --- submit, cancel, cleanup, retry --------------------------------------------------------
def _load_for_writing(args: argparse.Namespace) -> JobFile | int:
    from gembatch.jobfile import JobFile, JobFileError

    try:
        return JobFile.load(Path(args.job_info))
    except JobFileError as problem:
        error(str(problem))
        return summary.EXIT_BAD_INPUT


def _client_or_exit() -> Any:
    from gembatch.gemini import AuthError, GeminiClient

    try:
        return GeminiClient()
    except AuthError as problem:
        error(str(problem))
        return None


def _run_with_client(job: Any) -> int:
    """Run `job(client)` with a client, turning auth errors into exit code 5."""
    import asyncio

    from gembatch.gemini import AuthError, GeminiError
    from gembatch.jobfile import JobFileError

    client = _client_or_exit()
    if client is None:
        return summary.EXIT_AUTH

    async def go() -> int:
        try:
            return int(await job(client))
        finally:
            await client.close()

    try:
        return asyncio.run(go())
    except AuthError as problem:
        error(str(problem))
        return summary.EXIT_AUTH
    except GeminiError as problem:
        error(f"{problem}; what was done so far is recorded, run the command again to go on")
        return 1
    except JobFileError as problem:
        error(str(problem))
        return summary.EXIT_BAD_INPUT


def _submitter(job_file: JobFile, client: Any, args: argparse.Namespace) -> Any:
    from gembatch.inputs import DEFAULT_MAX_BYTES
    from gembatch.submit import DEFAULT_MODEL, SubmitOptions, Submitter

    options = SubmitOptions(
        model=getattr(args, "model", None) or _configured("model", DEFAULT_MODEL),
        max_requests=getattr(args, "max_requests", None),
        max_bytes=getattr(args, "max_bytes", None) or DEFAULT_MAX_BYTES,
        force=getattr(args, "force", False),
    )
    return Submitter(job_file, client, options, say=lambda line: print(line, flush=True))


def cmd_submit(args: argparse.Namespace) -> int:
    job_file = _load_for_writing(args)
    if isinstance(job_file, int):
        return job_file

    async def job(client: Any) -> int:
        report = await _submitter(job_file, client, args).submit(list(args.inputs))
        print(
            f"{len(report.created)} jobs created, {len(report.adopted)} recovered, "
            f"{len(report.skipped)} inputs skipped, {len(report.bad_inputs)} inputs refused"
        )
        return summary.EXIT_BAD_INPUT if report.bad_inputs else 0

    return _run_with_client(job)


def cmd_cancel(args: argparse.Namespace) -> int:
    from gembatch.manage import cancel_jobs

    job_file = _load_for_writing(args)
    if isinstance(job_file, int):
        return job_file
    return _run_with_client(lambda client: cancel_jobs(job_file, client, args.jobs, print))


def cmd_cleanup(args: argparse.Namespace) -> int:
    from gembatch.jobfile import PollerBusyError
    from gembatch.manage import plan_cleanup, run_cleanup

    job_file = _load_for_writing(args)
    if isinstance(job_file, int):
        return job_file

    async def job(client: Any) -> int:
        plan = await plan_cleanup(job_file, client, print)
        if not plan:
            job_file.save()
            print("nothing to delete")
            return 0
        print("will delete:")
        for item in plan:
            print(f"  {item.record.display_name}: {', '.join(item.names)}")
        if not args.yes:
            if not sys.stdin.isatty():
                error("not deleting without confirmation; pass -y to delete without asking")
                return 1
            if input(
                f"delete these {len(plan)} jobs and their files? [y/N] "
            ).strip().lower() not in ("y", "yes"):
                print("nothing deleted")
                return 0
        return await run_cleanup(job_file, client, plan, print)

    try:
        with job_file.poller_lock():
            return _run_with_client(job)
    except PollerBusyError as busy:
        error(f"{busy} (a running poller cleans up finished jobs by itself)")
        return summary.EXIT_LOCKED


def cmd_retry(args: argparse.Namespace) -> int:
    from gembatch.manage import retry_failed

    job_file = _load_for_writing(args)
    if isinstance(job_file, int):
        return job_file
    return _run_with_client(
        lambda client: retry_failed(job_file, client, _submitter(job_file, client, args), print)
    )


# --- config and logs ----------------------------------------------------------------------
def cmd_config(args: argparse.Namespace) -> int:
    from gembatch.config import ConfigError, config_path, load_config, write_default

    path = config_path()
    if args.action == "path":
        print(path)
        try:
            load_config(path)
        except ConfigError as problem:
            error(str(problem))
            return summary.EXIT_BAD_INPUT
        return 0
    try:
        write_default(path, force=args.force)
    except ConfigError as problem:
        error(str(problem))
        return 1
    print(f"wrote {path}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from collections import deque

    from gembatch.observers import log_path

    path = log_path()
    if args.tail is None:
        print(path)
        return 0
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in deque(handle, maxlen=max(0, args.tail)):
                print(line, end="")
    except FileNotFoundError:
        error(f"no log yet at {path}; `gembatch poll` writes it")
        return 1
    return 0


# --- demo ---------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from gembatch.demo import run_demo

    return run_demo(args)


def console_main() -> None:
    """The `gembatch` console script."""
    sys.exit(main())
