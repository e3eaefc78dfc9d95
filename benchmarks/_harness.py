"""Shared pieces for the benchmarks: a simulator in its own process, job files, tables.

The simulator runs in a separate process so its CPU time never counts against the
code being measured; both sides of every ratio talk to the same server over loopback.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import multiprocessing
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gembatch.simulator import Faults, JobPlan, Scenario, SimulatorServer

API_KEY = "benchmark-key"


@dataclass(frozen=True)
class SimSpec:
    """What the simulator process should hold."""

    running_jobs: int = 0
    unrelated_jobs: int = 0  # other jobs of the project, not in the job file
    latency_s: float = 0.0
    result_rows: int = 0  # one succeeded file job with this many rows
    response_bytes: int = 0
    download_bytes_per_s: float | None = None
    age_s: float = 0.0  # the running jobs were created this long ago
    # Running jobs hold this many requests and report them done evenly over running_s
    # (their batchStats move, so each cycle records progress and rewrites the file).
    requests_per_job: int = 1
    running_s: float = 10**9


def _serve(spec: SimSpec, out: Any) -> None:
    import asyncio

    scenario = Scenario(
        seed=1,
        faults=Faults(latency_s=spec.latency_s),
        default_plan=JobPlan(0, spec.running_s, outcome="RUNNING"),
        download_bytes_per_s=spec.download_bytes_per_s,
    )
    server = SimulatorServer(scenario)
    names = []
    for n in range(spec.unrelated_jobs):  # created first: a list pages through them too
        server.store.create_batch(
            "models/gemini-2.5-flash", f"other/{n}.jsonl", None, [{"request": {"contents": []}}]
        )
    requests = [{"request": {"contents": []}}] * spec.requests_per_job
    for n in range(spec.running_jobs):
        job = server.store.create_batch(
            "models/gemini-2.5-flash", f"batch/{n}.jsonl", None, requests
        )
        job.created -= spec.age_s
        names.append(job.name)
    if spec.result_rows:
        scenario.plans = [("results", JobPlan(0, 0, response_bytes=spec.response_bytes))]
        lines = b"".join(
            json.dumps(
                {"key": f"{n:08d}", "request": {"contents": [{"parts": [{"text": f"q{n}"}]}]}}
            ).encode()
            + b"\n"
            for n in range(spec.result_rows)
        )
        source = server.store.add_file("input", "jsonl", lines)
        job = server.store.create_batch("models/gemini-2.5-flash", "results", source.name, None)
        names.append(job.name)
        if not spec.download_bytes_per_s:  # written once, sent with sendfile
            spool = Path(tempfile.mkdtemp(prefix="bench-spool-"))
            server.store.spool(f"files/batch-{job.name.split('/')[1]}", spool)

    async def run() -> None:
        url = await server.start_async()
        out.put((url, names))
        await asyncio.Event().wait()

    asyncio.run(run())


class SimulatorProcess:
    """`with SimulatorProcess(spec) as (url, names):` serves until the block ends."""

    def __init__(self, spec: SimSpec) -> None:
        self.spec = spec
        context = multiprocessing.get_context("spawn")
        self.queue = context.Queue()
        self.process = context.Process(target=_serve, args=(spec, self.queue), daemon=True)

    def __enter__(self) -> tuple[str, list[str]]:
        self.process.start()
        return self.queue.get(timeout=600)

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.join(10)


def gembatch_env(url: str) -> dict[str, str]:
    """What a `gembatch` child needs to talk to the simulator at `url` with the bench
    key, ignoring any config file of the machine's user."""
    return {
        "GEMINI_API_KEY": API_KEY,
        "GOOGLE_GEMINI_BASE_URL": url,
        "GEMBATCH_CONFIG": "/nonexistent/config.toml",
    }


def bench_folder(prefix: str) -> Path:
    """A temp folder removed when the benchmark exits (they held hundreds of MB)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def write_job_file(
    folder: Path,
    names: Sequence[str],
    state: str = "JOB_STATE_RUNNING",
    extra: dict[str, Any] | None = None,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "job-info.jsonl"
    with path.open("w") as handle:
        for n, name in enumerate(names):
            record = {
                "input_file": f"batch/{n}.jsonl",
                "count": 1,
                "batch": {"name": name, "state": state},
                **(extra or {}),
            }
            handle.write(json.dumps(record) + "\n")
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakRss:
    """`with PeakRss() as peak:` the most the process's RSS grew inside the block, from
    /proc samples every 5 ms (a step's peak, which the RSS after it does not show)."""

    def __enter__(self) -> PeakRss:
        import threading

        self.before = self.most = current_rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            self.most = max(self.most, current_rss_mb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.most = max(self.most, current_rss_mb())

    @property
    def growth_mb(self) -> float:
        return self.most - self.before


def current_rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**2


def machine() -> str:
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def table(title: str, rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


@contextlib.contextmanager
def simulator_process(*options: str) -> Iterator[str]:
    """`python -m gembatch.simulator` in a process of its own (its CPU time is not the
    measured side's); yields its URL, and stops it afterwards."""
    server = subprocess.Popen(
        [sys.executable, "-m", "gembatch.simulator", "--port", "0", *options],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        yield server.stdout.readline().rsplit(" ", 1)[-1].strip()
    finally:
        server.terminate()
        server.wait(10)
