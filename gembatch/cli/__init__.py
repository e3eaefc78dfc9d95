"""Command-line entry point: parse, run the command, map what went wrong to an exit code.

Heavy imports (the SDK, Textual) happen inside the commands that need them, so
`gembatch --help` and `gembatch status` start fast. One module per command group:
`parser` (the command line), `status`, `poll`, `jobs` (submit, cancel, cleanup, retry),
`settings` (config, logs, demo); `errors` maps failures to exit codes, in one place.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from gembatch.cli.errors import run
from gembatch.cli.parser import build_parser
from gembatch.cli.settings import pick

__all__ = ["console_main", "main", "pick"]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 0
    handler = _handler(args.command)
    return run(lambda: handler(args))


def _handler(command: str) -> Callable[[argparse.Namespace], int]:
    from gembatch.cli import jobs, poll, settings, status

    return {
        "poll": poll.cmd_poll,
        "status": status.cmd_status,
        "demo": settings.cmd_demo,
        "submit": jobs.cmd_submit,
        "cancel": jobs.cmd_cancel,
        "cleanup": jobs.cmd_cleanup,
        "retry": jobs.cmd_retry,
        "config": settings.cmd_config,
        "logs": settings.cmd_logs,
    }[command]


def console_main() -> None:
    """The `gembatch` console script."""
    sys.exit(main())
