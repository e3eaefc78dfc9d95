"""`gembatch demo`: the monitor against the embedded simulator, no key, no network.

`seed_jobs` is also what tests and benchmarks use to put real jobs on a simulator
and write the job file the way the earlier gembatch tool did.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from gembatch.gemini.client import GeminiClient
from gembatch.jobfile.file import JobFile, JobRecord
from gembatch.simulator import Faults, JobPlan, Scenario, SimulatorServer

DEMO_KEY = "demo-key-not-secret"
MODEL = "gemini-2.5-flash"


@dataclass(frozen=True)
class DemoJob:
    """One demo input: its name, size and how the simulator will treat it."""

    name: str
    requests: int
    plan: JobPlan


DEMO_JOBS: tuple[DemoJob, ...] = (
    DemoJob("001-greetings.jsonl", 40, JobPlan(2, 8)),
    DemoJob("002-summaries.jsonl", 120, JobPlan(3, 20)),
    DemoJob("003-translations.jsonl", 75, JobPlan(2, 35)),
    DemoJob("004-classify.jsonl", 300, JobPlan(5, 50, response_bytes=2000)),
    DemoJob("005-extract.jsonl", 60, JobPlan(4, 28, outcome="FAILED")),
    DemoJob("006-qa-pairs.jsonl", 200, JobPlan(3, 40, failed_row_rate=0.12)),
    DemoJob("007-long-essays.jsonl", 500, JobPlan(6, 100_000, outcome="RUNNING")),
    DemoJob("008-captions.jsonl", 90, JobPlan(30, 45)),
    DemoJob("009-reviews.jsonl", 150, JobPlan(5, 70)),
    DemoJob("010-stale-queue.jsonl", 30, JobPlan(55, 0, outcome="EXPIRED")),
    DemoJob("011-sentiment.jsonl", 250, JobPlan(4, 90, response_bytes=500)),
    DemoJob("012-[red]not-markup.jsonl", 20, JobPlan(2, 15)),
)


def demo_scenario(jobs: tuple[DemoJob, ...] = DEMO_JOBS, speed: float = 1.0) -> Scenario:
    speed = max(speed, 0.01)
    plans = [
        (
            f"*{Path(job.name).stem}*",  # a split input's parts too
            replace(
                job.plan, pending_s=job.plan.pending_s / speed, running_s=job.plan.running_s / speed
            ),
        )
        for job in jobs
    ]
    return Scenario(seed=7, plans=plans)


def write_input(path: Path, requests: int, prefix: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for n in range(requests):
            line = {
                "key": f"{prefix}{n:06d}",
                "request": {"contents": [{"parts": [{"text": f"Request {n} of {path.name}"}]}]},
            }
            handle.write(json.dumps(line) + "\n")


async def seed_jobs(
    client: GeminiClient,
    folder: Path,
    jobs: list[tuple[str, int]],
    job_file_name: str = "job-info.jsonl",
) -> JobFile:
    """Write inputs under `folder/batch/`, submit them, and write the job file."""
    job_file = JobFile.load(folder / job_file_name)
    for name, requests in jobs:
        relative = f"batch/{name}"
        write_input(folder / relative, requests)
        uploaded = await client.upload_file(folder / relative, display_name=name)
        remote = await client.create_batch(MODEL, uploaded, display_name=relative)
        record = JobRecord(
            raw={
                "input_file": relative,
                "count": requests,
                "uploaded_file_name": uploaded,
                "batch": remote.batch_record(),
            }
        )
        job_file.entries.append(record)
    job_file.save()
    return job_file


def run_demo(args: argparse.Namespace) -> int:
    """Seed a simulator with the demo jobs and poll them; the demo's folder (and its own
    event log) is removed afterwards unless `--dir` named it."""
    keep = args.dir is not None
    folder = args.dir or Path(tempfile.mkdtemp(prefix="gembatch-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    if not keep:
        _remove_on_hangup(folder)
    plain = args.plain or not sys.stdout.isatty()
    # The job that never ends shows a long-running row on screen; a plain run
    # stops when everything is done, so it leaves that one out.
    jobs = tuple(j for j in DEMO_JOBS if not (plain and j.plan.outcome == "RUNNING"))
    server = SimulatorServer(demo_scenario((*jobs, QUEUED), speed=args.speed))
    base_url = server.start()
    try:
        client = GeminiClient(api_key=DEMO_KEY, base_url=base_url)
        job_file = asyncio.run(_seed_and_close(client, folder, jobs))
        # Real calls take a while; so do these from now on, so the row being checked
        # (highlighted while its request is in flight) can be seen.
        server.scenario.faults = Faults(latency_s=0.3)
        print(
            f"demo: {len(jobs)} jobs and {QUEUE_PARTS} queued parts (at most {MAX_RUNNING} "
            f"running) on a simulator at {base_url}; files in {folder}"
            + ("" if keep else " (removed at the end; pass --dir to keep them)"),
            file=sys.stderr,
        )
        return _poll_demo(job_file, folder, base_url, speed=args.speed, plain=plain)
    finally:
        server.stop()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
            print(f"gembatch demo: removed {folder} with its results (pass --dir to keep them)")


def _poll_demo(job_file: JobFile, folder: Path, base_url: str, speed: float, plain: bool) -> int:
    """Poll the seeded jobs, on the monitor or in plain lines, at the demo's speed."""
    from gembatch.cli.run_poll import PollSettings, Screen, run_poll
    from gembatch.config import load_config
    from gembatch.engine.loop import EngineOptions

    config = load_config()
    settings = PollSettings(
        options=EngineOptions(interval_s=max(1.0, 3.0 / max(speed, 0.01))),
        log_file=folder / "gembatch-demo.log",  # never into the user's real log
    )
    screen = None if plain else Screen(f"gembatch demo · {folder}", config.theme, config.bell)
    return run_poll(job_file, settings, screen, base_url=base_url, api_key=DEMO_KEY)


def _remove_on_hangup(folder: Path) -> None:
    """A closed terminal (SIGHUP) or a kill (SIGTERM) ends the process without running
    its `finally`: the demo's temporary folder would stay behind. Nothing in it is worth
    keeping, and the terminal is gone (or the process is told to go): remove it, leave."""
    import os
    import signal

    def leave(signum: int, _frame: object) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        os._exit(128 + signum)

    for signum in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, leave)


# An input submitted under `--max-running`: its parts wait in the local queue (⧗) and
# are created as the jobs above finish.
QUEUED = DemoJob("013-queued.jsonl", 90, JobPlan(2, 12))
QUEUE_PARTS = 3
MAX_RUNNING = 9


async def _seed_and_close(client: GeminiClient, folder: Path, jobs: tuple[DemoJob, ...]) -> JobFile:
    from gembatch.intake.submit import SubmitOptions, Submitter
    from gembatch.report.limits import Limits, save_limits

    try:
        job_file = await seed_jobs(client, folder, [(job.name, job.requests) for job in jobs])
        write_input(folder / "batch" / QUEUED.name, QUEUED.requests)
        save_limits(job_file, Limits(max_running=MAX_RUNNING))
        options = SubmitOptions(
            model=MODEL, max_requests=QUEUED.requests // QUEUE_PARTS, queue=True
        )
        submitter = Submitter(job_file, client, options, say=lambda line: None)
        await submitter.submit([folder / "batch" / QUEUED.name])
        return job_file
    finally:
        await client.close()
