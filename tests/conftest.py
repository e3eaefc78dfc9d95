"""Shared fixtures: a real simulator on 127.0.0.1 and helpers to put jobs on it."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gembatch.gemini import GeminiClient, RetryPolicy
from gembatch.simulator import JobPlan, Scenario, SimulatorServer

API_KEY = "test-key-7f3a9c"


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any connection to a non-loopback address fails the test at once."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else str(address)
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(str(host)):
            raise AssertionError(f"test tried to reach the network: {address}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL", "GEMBATCH_PRICES"):
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture(autouse=True)
def _private_config_and_logs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Never read the developer's config or write into their log folder."""
    home = tmp_path_factory.mktemp("gembatch-home")
    monkeypatch.setenv("GEMBATCH_CONFIG", str(home / "config.toml"))
    monkeypatch.setenv("GEMBATCH_LOG_DIR", str(home / "logs"))
    return home


def _is_loopback(host: str) -> bool:
    return host.startswith("127.") or host in ("::1", "localhost")


def fast_scenario(**overrides: object) -> Scenario:
    plan = JobPlan(pending_s=0.0, running_s=0.0)
    scenario = Scenario(seed=1, default_plan=plan)
    for key, value in overrides.items():
        setattr(scenario, key, value)
    return scenario


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    """A simulator whose jobs finish at once unless a test says otherwise."""
    server = SimulatorServer(fast_scenario())
    server.start()
    yield server
    server.stop()


def make_client(server: SimulatorServer, **kwargs: object) -> GeminiClient:
    kwargs.setdefault("retry", RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05))
    return GeminiClient(api_key=API_KEY, base_url=server.base_url, **kwargs)  # type: ignore[arg-type]


def cli_env(server: SimulatorServer) -> dict[str, str]:
    """Environment for a `gembatch` subprocess talking to the simulator."""
    env = {k: v for k, v in os.environ.items() if k not in ("GOOGLE_API_KEY",)}
    env.update(GEMINI_API_KEY=API_KEY, GOOGLE_GEMINI_BASE_URL=server.base_url, PYTHONUNBUFFERED="1")
    return env


GEMBATCH = [sys.executable, "-m", "gembatch"]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
