"""Shared fixtures: a real simulator on 127.0.0.1 and helpers to put jobs on it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from textual.pilot import Pilot

from gembatch.cli.demo import seed_jobs
from gembatch.engine.events import Event
from gembatch.engine.loop import Engine, EngineOptions
from gembatch.engine.run import PollRun
from gembatch.gemini.client import GeminiClient, RetryPolicy
from gembatch.jobfile.file import JobFile
from gembatch.simulator import JobPlan, Scenario, SimulatorServer
from gembatch.tui.app import GembatchApp

API_KEY = "test-key-7f3a9c"


@pytest.fixture(autouse=True, scope="session")
def _travel_in_time() -> Iterator[None]:
    """`GEMBATCH_TEST_YEARS_AHEAD=5 pytest` runs the suite with the machine's clock moved
    ahead (this process only), to show that no test depends on the day it runs."""
    years = float(os.environ.get("GEMBATCH_TEST_YEARS_AHEAD") or 0)
    if not years:
        yield
        return
    with time_machine.travel(time.time() + years * 365.25 * 86400, tick=True):
        yield


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


async def wait_for(
    pilot: Pilot, condition: Callable[[], object], what: str, timeout_s: float = 10.0
) -> None:
    """Let the app run until `condition()` holds; a hang fails with `what`, not a CI timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"waited {timeout_s:.0f}s for {what}")
        await pilot.pause(0.01)


def wait_until(condition: Callable[[], object], what: str, timeout_s: float = 60.0) -> None:
    """Look again until another process's progress shows (there is nothing to await)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s:.0f}s for {what}")
        time.sleep(0.01)


def started_cli(sim: SimulatorServer, cwd: Path, *args: str) -> subprocess.Popen[bytes]:
    """`gembatch ARGS` started in the background against `sim`, its output let go: for
    a test that kills it at some instant."""
    return subprocess.Popen(
        [*GEMBATCH, *args],
        cwd=cwd,
        env=cli_env(sim),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def killed_while_held(
    sim: SimulatorServer, cwd: Path, args: list[str], call: str, after_acting: bool
) -> None:
    """`gembatch ARGS`, killed with SIGKILL while the simulator holds its call matching
    `call` (after the server acted on it, or before it saw the body); the call is let go
    afterwards (a power cut runs no clean-up)."""
    gate = sim.sim.hold(call, after_acting=after_acting)
    process = started_cli(sim, cwd, *args)
    try:
        wait_until(lambda: sim.sim.held == 1, f"{call} to be held")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
        gate.set()


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


TREE = Path(__file__).resolve().parent.parent  # the checkout whose tests these are
# Every `python -m gembatch` a test starts runs this tree, whatever an editable install
# elsewhere points at: set once here, inherited by each child's environment.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TREE), os.environ.get("PYTHONPATH")]))


def cli_env(server: SimulatorServer) -> dict[str, str]:
    """Environment for a `gembatch` subprocess talking to the simulator."""
    env = {k: v for k, v in os.environ.items() if k not in ("GOOGLE_API_KEY",)}
    env.update(GEMINI_API_KEY=API_KEY, GOOGLE_GEMINI_BASE_URL=server.base_url, PYTHONUNBUFFERED="1")
    return env


def unprivileged() -> list[str]:
    """A command prefix that makes a child obey file permissions, even when we are root.

    Root ignores permission bits through CAP_DAC_OVERRIDE; `setpriv` (util-linux, on
    every Debian) starts the child without it, so a permission test can fail in CI.
    Where that is impossible the test is skipped, saying why.
    """
    if os.geteuid() != 0:
        return []
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    try:
        subprocess.run([*prefix, "true"], check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE with setpriv")
    return prefix


def seed(sim: SimulatorServer, folder: Path, jobs: list[tuple[str, int]]) -> JobFile:
    """Inputs under `folder/batch/`, submitted to `sim`, recorded in the job file."""

    async def go() -> JobFile:
        client = make_client(sim)
        try:
            return await seed_jobs(client, folder, jobs)
        finally:
            await client.close()

    return asyncio.run(go())


def engine_for(
    sim: SimulatorServer, job_file: JobFile, **options: object
) -> tuple[Engine, list[Event]]:
    """An engine on `job_file` that polls `sim` fast, and the events it emits."""
    events: list[Event] = []
    opts = EngineOptions(interval_s=0.01, **options)  # type: ignore[arg-type]
    return Engine(job_file, make_client(sim), opts, emit=events.append), events


def monitor_app(
    job_file: JobFile,
    client: GeminiClient,
    options: EngineOptions | None = None,
    *,
    autostart: bool = False,
    once: bool = False,
    stop_when_done: bool = False,
    title: str | None = None,
) -> GembatchApp:
    """The full-screen monitor on one poll run, as `gembatch poll` builds it."""
    run = PollRun(job_file, client, options, once=once, stop_when_done=stop_when_done)
    return GembatchApp(run, title=title, autostart=autostart)


GEMBATCH = [sys.executable, "-m", "gembatch"]


def run_cli(
    *args: str,
    cwd: Path,
    sim: SimulatorServer,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`gembatch ARGS` in a subprocess, talking to `sim` with the test key (`env`: more
    variables for it)."""
    return subprocess.run(
        [*GEMBATCH, *args],
        cwd=cwd,
        env={**cli_env(sim), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def as_inline(requests: list[dict[str, Any]]) -> list[Any]:
    """Inline requests as the SDK's own type (its `create` is typed for those; the JSON
    sent is the same as for the dicts)."""
    from google.genai import types

    return [types.InlinedRequest.model_validate(request) for request in requests]
