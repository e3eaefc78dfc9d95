"""The configuration file, the event log, the demo; and reading settings for others."""

from __future__ import annotations

import argparse
from collections import deque
from typing import Any

from gembatch.cli.errors import CommandError, error


def pick(flag: Any, configured_value: Any) -> Any:
    """A flag given on the command line wins over the config file."""
    return configured_value if flag is None else flag


_read: tuple[tuple[object, ...], Any] | None = None  # (the file's stamp, its settings)


def load_config() -> Any:
    """The config file's settings, read once per command (every command checks it at its
    start, then asks for settings one by one): read again only if the file changed.
    A bad setting raises ConfigError: one line, exit 4."""
    from gembatch.config import config_path
    from gembatch.config import load_config as load

    global _read
    path = config_path()
    try:
        status = path.stat()
    except OSError:  # none (the defaults), or unreadable: `load` says which, every time
        return load(path)
    stamp = (path, status.st_mtime_ns, status.st_size, status.st_ino)
    if _read is None or _read[0] != stamp:
        _read = (stamp, load(path))
    return _read[1]


def configured(name: str) -> Any:
    """A setting from the config file (or its default). A config file with a bad setting
    is never passed over: its ConfigError is one line and exit 4, from every command."""
    return getattr(load_config(), name)


def client_options() -> dict[str, Any]:
    """The API client's timeout and create grace window, from the config file."""
    return {
        "timeout_s": float(configured("request_timeout")),
        "create_grace_s": float(configured("create_grace")),
    }


def price_overrides(configured_prices: dict) -> dict:
    from gembatch.report import summary

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
    if args.action == "show":
        for line in settings_lines(load_config(path), path, args.job_info):
            print(line)
        return 0
    try:
        write_default(path, force=args.force)
    except ConfigError as problem:
        raise CommandError(str(problem), code=1) from None
    print(f"wrote {path}")
    return 0


def settings_lines(config: Any, path: Any, job_info: str) -> list[str]:
    """Every setting, its value and where it comes from; the API key only as set or not."""
    rows = [*_config_rows(config, path), *_environment_rows(), *_limits_rows(job_info)]
    width = max(len(name) for name, _, _ in rows)
    value_width = min(40, max(len(value) for _, value, _ in rows))
    return [f"{name:<{width}}  {value:<{value_width}}  {source}" for name, value, source in rows]


# (setting, value, where the value comes from)
SettingRow = tuple[str, str, str]


def _config_rows(config: Any, path: Any) -> list[SettingRow]:
    """The config file's settings, prices last (the environment may give those)."""
    import os
    from dataclasses import fields

    from gembatch.config import Config

    rows: list[SettingRow] = []
    for item in fields(Config):
        if item.name in ("path", "from_file", "prices"):
            continue
        value = getattr(config, item.name)
        source = f"config file {path}" if item.name in config.from_file else "default"
        rows.append((item.name, "not set" if value is None else str(value), source))
    price_source = "GEMBATCH_PRICES" if os.environ.get("GEMBATCH_PRICES") else None
    in_file = f"config file {path}" if "prices" in config.from_file else "default"
    prices_from = f"environment ({price_source})" if price_source else in_file
    rows.append(
        (
            "prices",
            f"{len(config.prices)} of your own" if config.prices else "built-in table",
            prices_from,
        )
    )
    return rows


def _environment_rows() -> list[SettingRow]:
    """The API key (only whether it is set) and the server, from the environment."""
    import os

    from gembatch.gemini.client import DEFAULT_BASE_URL, api_key_from_env

    key_from = next((n for n in ("GOOGLE_API_KEY", "GEMINI_API_KEY") if os.environ.get(n)), None)
    server = os.environ.get("GOOGLE_GEMINI_BASE_URL")
    return [
        (
            "api key",
            "set (never shown)" if api_key_from_env() else "not set",
            f"environment ({key_from})" if key_from else "-",
        ),
        (
            "server",
            server or DEFAULT_BASE_URL,
            "environment (GOOGLE_GEMINI_BASE_URL)" if server else "default",
        ),
    ]


def _limits_rows(job_info: str) -> list[SettingRow]:
    """The job file's limits, when there is a job file."""
    from pathlib import Path

    from gembatch.jobfile.file import JobFile
    from gembatch.report.limits import Limits

    if not JobFile(Path(job_info)).exists:
        return []
    limits = Limits.of(JobFile.load(Path(job_info)))
    shown = limits.problem or f"max_cost {limits.max_cost_usd}, max_running {limits.max_running}"
    return [("limits in effect", shown, f"job file {job_info}")]


def cmd_logs(args: argparse.Namespace) -> int:
    from gembatch.engine.observers import log_path

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
    from gembatch.cli.demo import run_demo

    return run_demo(args)
