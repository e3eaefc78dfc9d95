"""User configuration: a TOML file in the user config folder; flags override it."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from gembatch.errors import BadInput
from gembatch.prices import Price, PriceError, parse_prices

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class ConfigError(BadInput):
    """The configuration file cannot be used; the message names the file and key."""


@dataclass
class Config:
    """Every setting, with its built-in default: the one place each default is written
    (the commented file `config init` writes is made from these)."""

    model: str = "gemini-2.5-flash"
    interval: float = 30.0
    concurrency: int = 16
    keep_remote: bool = False
    results_folder: str = "results"
    theme: str = "tokyo-night"
    request_timeout: float = 60.0
    create_grace: float = 600.0
    stuck_after_hours: float = 24.0
    bell: bool = True
    desktop_notifications: bool = True
    on_complete: str | None = None
    on_all_done: str | None = None
    max_cost: float | None = None
    max_running: int | None = None
    files_storage_gb: float = 20.0
    prices: dict[str, Price] = field(default_factory=dict)
    # where the settings came from, not settings: two configs with equal settings are equal
    path: Path | None = field(default=None, compare=False)
    from_file: frozenset[str] = field(default=frozenset(), compare=False)  # keys the file gives


def storage_bytes(gigabytes: float) -> int:
    """`files_storage_gb` in bytes (the service's GB: 10^9)."""
    return int(gigabytes * 1e9)


def config_path() -> Path:
    """Where the configuration lives (GEMBATCH_CONFIG overrides the platform folder)."""
    override = os.environ.get("GEMBATCH_CONFIG")
    if override:
        return Path(override)
    import platformdirs

    return platformdirs.user_config_path("gembatch") / "config.toml"


def load_config(path: Path | None = None) -> Config:
    """Read the configuration; a missing file gives the defaults."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it ({error.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(
            f"{path}: not valid TOML ({error}); fix it or run "
            "`gembatch config init --force` for a fresh one"
        ) from None
    return _from_table(data, path)


_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "interval": (int, float),
    "concurrency": (int,),
    "keep_remote": (bool,),
    "results_folder": (str,),
    "theme": (str,),
    "request_timeout": (int, float),
    "create_grace": (int, float),
    "stuck_after_hours": (int, float),
    "bell": (bool,),
    "desktop_notifications": (bool,),
    "on_complete": (str,),
    "on_all_done": (str,),
    "max_cost": (int, float),
    "max_running": (int,),
    "files_storage_gb": (int, float),
}
_DESCRIBED = {int: "a whole number", float: "a number", bool: "true or false", str: "a string"}


def _from_table(data: dict[str, Any], path: Path) -> Config:
    config = Config(path=path)
    known = {f.name for f in fields(Config)} - {"path", "from_file"}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{path}: unknown setting {key!r}; known: {', '.join(sorted(known))}")
        if key == "prices":
            try:
                config.prices = parse_prices(value, str(path))
            except PriceError as error:
                raise ConfigError(str(error)) from None
            continue
        allowed = _TYPES[key]
        if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
            wanted = "a number" if float in allowed else _DESCRIBED[allowed[0]]
            raise ConfigError(f"{path}: {key} must be {wanted}, not {value!r}")
        setattr(config, key, value)
    config.from_file = frozenset(data)
    _check_ranges(config, path)
    return config


def _check_ranges(config: Config, path: Path) -> None:
    if config.interval < 1:
        raise ConfigError(f"{path}: interval must be at least 1 second, not {config.interval}")
    if config.concurrency < 1:
        raise ConfigError(f"{path}: concurrency must be at least 1, not {config.concurrency}")
    if (
        not config.results_folder
        or "/" in config.results_folder
        or config.results_folder in (".", "..")
    ):
        raise ConfigError(
            f"{path}: results_folder must be a plain folder name, not {config.results_folder!r}"
        )
    if not 0 < config.request_timeout < 86400:
        raise ConfigError(f"{path}: request_timeout must be more than 0 seconds")
    if not 0 <= config.create_grace < 86400:
        raise ConfigError(f"{path}: create_grace must be 0 or more seconds, under a day")
    if config.stuck_after_hours <= 0:
        raise ConfigError(f"{path}: stuck_after_hours must be more than 0")
    if config.files_storage_gb <= 0:
        raise ConfigError(f"{path}: files_storage_gb must be more than 0")
    from gembatch.limit_rules import LimitError, checked_cost, checked_running

    try:  # the limits' own rules, as for the flags and the job file's limits line
        checked_cost(config.max_cost)
    except LimitError as error:
        raise ConfigError(f"{path}: max_cost: {error}") from None
    try:
        checked_running(config.max_running)
    except LimitError as error:
        raise ConfigError(f"{path}: max_running: {error}") from None


def default_text() -> str:
    """The commented configuration `gembatch config init` writes, from the defaults."""
    defaults = Config()
    return (
        _HEADER
        + _polling_text(defaults)
        + _output_text(defaults)
        + _notices_text(defaults)
        + _COMMENTED_OUT
    )


_HEADER = """\
# gembatch configuration. Command-line flags override these settings.
# Delete a line (or the file) to go back to the built-in default.

"""


def _polling_text(defaults: Config) -> str:
    """The model and how the poll loop talks to the API."""
    return f"""\
# Model for `gembatch submit` when -m is not given.
model = "{defaults.model}"

# Seconds between poll cycles (gembatch poll --interval).
interval = {defaults.interval:g}

# API calls in flight at once (gembatch poll --concurrency).
concurrency = {defaults.concurrency}

# Seconds one API call may take before it is given up (and, for a create, looked for).
request_timeout = {defaults.request_timeout:g}

# Seconds a create that got no reply may still land on the server: no part is created
# again before this has passed with no job carrying its marker.
create_grace = {defaults.create_grace:g}

# Gigabytes of Files API storage the media of running jobs may take (the service gives
# a project 20 GB): a part whose media would pass it waits in the local queue.
files_storage_gb = {defaults.files_storage_gb:g}

"""


def _output_text(defaults: Config) -> str:
    """Where results go and how the monitor looks."""
    return f"""\
# Never delete remote jobs or files after saving results (gembatch poll --keep-remote).
keep_remote = {str(defaults.keep_remote).lower()}

# Folder, next to each input file, that receives its results.
results_folder = "{defaults.results_folder}"

# Textual theme of the monitor (any theme in the command palette's list).
theme = "{defaults.theme}"

"""


def _notices_text(defaults: Config) -> str:
    """How the user is told that a job is stuck, failed or done."""
    return f"""\
# Warn when a job has been pending or running this many hours (the API gives up at 48).
stuck_after_hours = {defaults.stuck_after_hours:g}

# Ring the terminal bell, and send a desktop notification where the system offers one,
# when a job fails and when everything is done.
bell = {str(defaults.bell).lower()}
desktop_notifications = {str(defaults.desktop_notifications).lower()}

"""


# Settings with no default value (or an open-ended table): shown as commented examples.
_COMMENTED_OUT = """\
# Commands to run: on_complete when a job's results are saved (the job record as JSON on
# stdin; GEMBATCH_RESULTS, GEMBATCH_INPUT, GEMBATCH_STATE, GEMBATCH_BATCH in the
# environment), on_all_done when every job is finished.
# on_complete = "notify-send gembatch \\"$GEMBATCH_INPUT is done\\""
# on_all_done = "echo all done >> ~/gembatch.log"

# Limits for `gembatch submit`, kept in the job file so every later run honours them:
# a budget in USD (parts that would pass it wait in the local queue), and how many jobs
# may be pending or running at once (the rest wait their turn).
# max_cost = 25.0
# max_running = 4

# Your own batch prices (USD per million tokens), over the built-in dated table.
# [prices."gemini-2.5-flash"]
# input = 0.15
# output = 1.25
"""


def write_default(path: Path, force: bool = False) -> None:
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; pass --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(default_text(), encoding="utf-8")
