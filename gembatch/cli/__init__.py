"""Command-line entry point: parse, run the command, map what went wrong to an exit code.

Heavy imports (the SDK, Textual) happen inside the commands that need them, so
`gembatch --help` and `gembatch status` start fast. One module per command group:
`parser` (the command line), `status`, `poll`, `jobs` (submit, cancel, cleanup, retry),
`settings` (config, logs, demo); `errors` maps failures to exit codes, in one place.
"""

from __future__ import annotations

import argparse
import importlib
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
    return run(lambda: _with_settings_checked(handler, args))


def _with_settings_checked(
    handler: Callable[[argparse.Namespace], int], args: argparse.Namespace
) -> int:
    """A config file with a bad setting stops every command alike, before it does anything
    (one line naming the file and the key, exit 4); only `config init` may replace it."""
    if not (args.command == "config" and args.action == "init"):
        from gembatch.cli.settings import load_config

        load_config()
    return handler(args)


# command -> the module that runs it, imported only when that command runs
COMMANDS = {
    "poll": "poll",
    "status": "status",
    "submit": "jobs",
    "prepare": "prepare",
    "cancel": "jobs",
    "cleanup": "jobs",
    "retry": "jobs",
    "export": "export",
    "config": "settings",
    "logs": "settings",
    "demo": "settings",
}


def _handler(command: str) -> Callable[[argparse.Namespace], int]:
    module = importlib.import_module(f"gembatch.cli.{COMMANDS[command]}")
    handler: Callable[[argparse.Namespace], int] = getattr(module, f"cmd_{command}")
    return handler


def console_main() -> None:
    """The `gembatch` console script."""
    sys.exit(main())
