"""The configuration file, the event log, the demo; and reading settings for others."""

from __future__ import annotations

import argparse
from collections import deque
from typing import Any

from gembatch.cli.errors import CommandError, error


def pick(flag: Any, configured_value: Any) -> Any:
    """A flag given on the command line wins over the config file."""
    return configured_value if flag is None else flag


def load_config() -> Any:
    from gembatch.config import load_config as load

    return load()  # a bad setting raises ConfigError: one line, exit 4


def configured(name: str, default: Any) -> Any:
    from gembatch.config import ConfigError

    try:
        return getattr(load_config(), name)
    except ConfigError:
        return default  # the commands that depend on the config report it themselves


def client_options() -> dict[str, Any]:
    """The API client's timeout and create grace window, from the config file."""
    return {
        "timeout_s": float(configured("request_timeout", 60.0)),
        "create_grace_s": float(configured("create_grace", 600.0)),
    }


def price_overrides(configured_prices: dict) -> dict:
    from gembatch import summary

    overrides, problem = summary.price_overrides(configured_prices)
    if problem:
        error(problem)
    return overrides


def cmd_config(args: argparse.Namespace) -> int:
    from gembatch.config import ConfigError, config_path, load_config, write_default

    path = config_path()
    if args.action == "path":
        print(path)
        load_config(path)
        return 0
    try:
        write_default(path, force=args.force)
    except ConfigError as problem:
        raise CommandError(str(problem), code=1) from None
    print(f"wrote {path}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
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
        raise CommandError(f"no log yet at {path}; `gembatch poll` writes it", code=1) from None
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from gembatch.demo import run_demo

    return run_demo(args)
