"""The command line: every command, its options, an example, and its exit codes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from gembatch.cli.prepare import add_build_options
from gembatch.config import Config
from gembatch.exit_codes import EXIT_USAGE
from gembatch.version import __version__

DEFAULT_JOB_FILE = "job-info.jsonl"

CODES = {
    0: "done: every job succeeded and its results are on disk",
    1: "finished, but some jobs failed, were cancelled, expired, went missing or lost "
    "their output (or an API call failed midway; what was done is recorded)",
    2: "not finished: jobs still pending or running, or results not on disk yet",
    3: "another gembatch poll holds the job file",
    4: "bad input: a job file, input file or config file that is missing, unreadable or "
    "malformed, or a folder that cannot be written",
    5: "the API key is missing or was rejected",
    64: "usage: a mistyped command or option, or one that needs a terminal or -y",
    130: "interrupted (Ctrl+C or SIGTERM); the job file is consistent",
    141: "the output pipe was closed (as in `| head`)",
}


def _epilog(example: str, codes: tuple[int, ...]) -> str:
    """Every command can also end in a usage error (64)."""
    lines = ["example:", f"  {example}", "", "exit codes:"]
    lines += [f"  {code:>3}  {CODES[code]}" for code in sorted({*codes, 64})]
    return "\n".join(lines)


class UsageParser(argparse.ArgumentParser):
    """argparse, with its own exit code for usage errors: 64 (EX_USAGE in sysexits),
    not 2, which the table gives to "not finished"."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"gembatch: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _command(
    commands: argparse._SubParsersAction,
    name: str,
    summary: str,
    example: str,
    codes: tuple[int, ...],
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog=_epilog(example, codes),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Also after the command (`gembatch status --job-info x.jsonl`); SUPPRESS keeps a
    # value given before the command.
    parser.add_argument(
        "--job-info", default=argparse.SUPPRESS, metavar="FILE", help="the job file"
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = UsageParser(
        prog="gembatch",
        description="Run large jobs through the Gemini Batch API without losing a result.",
        epilog=_epilog("gembatch submit batch/*.jsonl && gembatch poll", tuple(CODES)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gembatch {__version__}")
    parser.add_argument(
        "--job-info",
        default=DEFAULT_JOB_FILE,
        metavar="FILE",
        help=f"the job file (default: {DEFAULT_JOB_FILE})",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    poll = _command(
        commands,
        "poll",
        "watch jobs, save their results, clean up (full screen in a terminal)",
        "gembatch poll --plain >> poll.log   # logs, cron, systemd",
        (0, 1, 2, 3, 4, 5, 130),
    )
    _add_poll_options(poll)

    status = _command(
        commands,
        "status",
        "summarise the job file by state, with tokens and cost (no network, no lock)",
        "gembatch status --list",
        (0, 1, 2, 4, 130, 141),
    )
    status.add_argument("--list", action="store_true", help="list the jobs in each group")
    status.add_argument(
        "--failed",
        action="store_true",
        help="list only the jobs that did not succeed (failed, cancelled, expired, gone)",
    )
    status.add_argument("--json", action="store_true", help="print JSON for scripts")

    submit = _command(
        commands,
        "submit",
        "check, split, upload and create batch jobs for JSONL input files",
        "gembatch submit batch/001.jsonl batch/002.jsonl -m gemini-2.5-flash",
        (0, 1, 4, 5, 130),
    )
    submit.add_argument(
        "inputs",
        nargs="*",
        type=Path,
        metavar="FILE",
        help="JSONL inputs (with --prompt: files or folders to make requests of); none "
        "with --max-cost/--max-running: change the limits and create the queued parts "
        "they now allow",
    )
    submit.add_argument(
        "-m", "--model", default=None, help=f"model for the jobs (default: {Config.model})"
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
    submit.add_argument(
        "--dry-run",
        action="store_true",
        help="validate, plan the parts and estimate tokens and cost; upload nothing",
    )
    submit.add_argument(
        "--expect-output-tokens",
        type=_positive_int,
        metavar="N",
        help="with --dry-run or --max-cost: output tokens you expect per request (priced in "
        "the estimate)",
    )
    submit.add_argument(
        "--sample",
        type=_positive_int,
        default=200,
        metavar="N",
        help="with --dry-run or --max-cost: requests whose tokens the service counts (default 200)",
    )
    submit.add_argument(
        "--max-cost",
        metavar="USD",
        help="a budget for the job file, kept in it: parts whose estimate would take the "
        "spend past it wait in the local queue (config: max_cost)",
    )
    submit.add_argument(
        "--max-running",
        metavar="N",
        help="at most N jobs pending or running at once; the rest wait in the local queue "
        "and `gembatch poll` creates them as others finish (config: max_running)",
    )
    add_build_options(submit)

    prepare = _command(
        commands,
        "prepare",
        "write the request JSONL that `submit --prompt/--lines/--csv` would send",
        'gembatch prepare --prompt "Extract the invoice" invoices/ -o batch/invoices.jsonl',
        (0, 1, 4),
    )
    prepare.add_argument("files", nargs="*", type=Path, metavar="FILE", help="files or folders")
    prepare.add_argument(
        "-o", "--output", type=Path, default=Path("-"), help="where to write (default: stdout)"
    )
    add_build_options(prepare)

    cancel = _command(
        commands,
        "cancel",
        "cancel pending or running jobs",
        "gembatch cancel batch/003.jsonl",
        (0, 1, 4, 5, 130),
    )
    cancel.add_argument(
        "jobs",
        nargs="+",
        metavar="JOB",
        help="batch name (batches/...), input file or split source",
    )

    cleanup = _command(
        commands,
        "cleanup",
        "delete finished remote jobs and files this job file knows (never running ones)",
        "gembatch cleanup -y",
        (0, 1, 3, 4, 5, 130),
    )
    cleanup.add_argument("-y", "--yes", action="store_true", help="do not ask first")

    _command(
        commands,
        "retry",
        "resubmit the rows that failed inside finished jobs",
        "gembatch retry && gembatch poll",
        (0, 1, 4, 5, 130),
    )

    export = _command(
        commands,
        "export",
        "write an input's results as a table: one row per request, in input order",
        "gembatch export batch/questions.jsonl --format csv -o answers.csv",
        (0, 1, 4),
    )
    export.add_argument("input", type=Path, help="the input file, as submitted")
    export.add_argument(
        "--format", choices=["csv", "jsonl", "parquet"], default="csv", help="default: csv"
    )
    export.add_argument(
        "-o", "--output", type=Path, help="where to write (default: stdout; required for parquet)"
    )

    config = _command(
        commands,
        "config",
        "show or create the configuration file",
        "gembatch config init",
        (0, 1, 4),
    )
    config.add_argument(
        "action",
        choices=["path", "init", "show"],
        help="path: print where it is; init: write a default; show: every setting, its "
        "value and where it comes from",
    )
    config.add_argument("--force", action="store_true", help="with init: replace an existing one")

    logs = _command(
        commands, "logs", "show the event log every poll writes", "gembatch logs --tail 50", (0, 1)
    )
    logs.add_argument("--tail", type=int, metavar="N", help="print its last N lines")

    demo = _command(
        commands,
        "demo",
        "try the monitor against a built-in simulator (no key, no network)",
        "gembatch demo --speed 4",
        (0, 1, 130),
    )
    demo.add_argument("--plain", action="store_true", help="print events instead of the screen")
    demo.add_argument(
        "--dir",
        type=Path,
        help="folder for the demo files, kept afterwards (default: a temp folder, removed)",
    )
    demo.add_argument("--speed", type=float, default=1.0, help="make simulated jobs N times faster")
    return parser


def _add_poll_options(poll: argparse.ArgumentParser) -> None:
    poll.add_argument(
        "--plain",
        action="store_true",
        help="one line per change (automatic when stdout is not a terminal); exits when "
        "every job is finished and handled",
    )
    poll.add_argument("--once", action="store_true", help="run one cycle, then exit")
    poll.add_argument(
        "--watch",
        action="store_true",
        help="plain mode: keep running when all is done, for new submissions (service mode)",
    )
    poll.add_argument(
        "--stop-when-done",
        action="store_true",
        help="exit when every job is finished and handled (the full screen stays otherwise)",
    )
    poll.add_argument(
        "--interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"seconds between cycles (default: {Config.interval:g}, or the config file's)",
    )
    poll.add_argument(
        "--concurrency",
        type=int,
        default=None,
        metavar="N",
        help=f"API calls in flight at once (default: {Config.concurrency}, or the config file's)",
    )
    poll.add_argument(
        "--keep-remote", action="store_true", default=None, help="never delete remote jobs or files"
    )
    poll.add_argument(
        "--on-complete",
        metavar="CMD",
        help="run CMD when a job's results are saved (record as JSON on stdin; "
        "GEMBATCH_RESULTS, GEMBATCH_INPUT, GEMBATCH_STATE, GEMBATCH_BATCH set)",
    )
    poll.add_argument("--on-all-done", metavar="CMD", help="run CMD when every job is done")
