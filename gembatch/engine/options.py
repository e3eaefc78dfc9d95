"""How hard and how often the engine polls (defaults are the config's, written once)."""

from __future__ import annotations

from dataclasses import dataclass

from gembatch.config import Config, storage_bytes

# The API deletes batch outputs about 48 h after the job ends (or when the output
# file's expirationTime says); warn 8 h before.
OUTPUT_WARNING_AFTER_S = 40 * 3600


@dataclass
class EngineOptions:
    """How hard and how often to poll."""

    concurrency: int = Config.concurrency  # (the defaults are the config's, written once)
    downloads: int = 4
    interval_s: float = Config.interval
    keep_remote: bool = Config.keep_remote
    results_folder: str = Config.results_folder
    stuck_after_s: float = Config.stuck_after_hours * 3600
    output_warning_after_s: float = OUTPUT_WARNING_AFTER_S
    # Media of running jobs at most this much at once (the queue holds parts back).
    files_storage_bytes: int = storage_bytes(Config.files_storage_gb)
