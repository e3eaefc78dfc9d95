"""Job file: load and rewrite 10,000 and 100,000 records; rewrites per finishing cycle.

Baselines measured in the same run: the physical floor (writing the same bytes with
fsync and rename, no parsing) and the naive rewrite (parse and re-serialise every record).

    python benchmarks/jobfile.py [--sizes 10000 100000] [--finishing 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from _harness import bench_folder, machine, table

from gembatch.cli.demo import seed_jobs
from gembatch.engine.loop import Engine, EngineOptions
from gembatch.gemini.client import GeminiClient
from gembatch.jobfile.file import JobFile, atomic_write
from gembatch.simulator import JobPlan, Scenario, SimulatorServer

RECORD = {
    "input_file": "batch/001.jsonl",
    "count": 120,
    "uploaded_file_name": "files/abc001",
    "batch": {
        "name": "batches/xyz",
        "display_name": "batch/001.jsonl",
        "model": "models/gemini-2.5-flash",
        "state": "JOB_STATE_RUNNING",
        "create_time": "2026-01-01T10:00:00+00:00",
        "update_time": "2026-01-01T10:30:00+00:00",
    },
    "stats": {"total": 120, "succeeded": 30, "failed": 0, "pending": 90},
}


FLOOR = "physical floor: write same bytes, fsync, rename"


def write_records(path: Path, count: int) -> None:
    with path.open("w") as handle:
        for n in range(count):
            record = json.loads(json.dumps(RECORD))
            record["batch"]["name"] = f"batches/job{n:06d}"
            record["input_file"] = f"batch/{n:06d}.jsonl"
            handle.write(json.dumps(record) + "\n")


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def measure_size(count: int, changed: int) -> dict[str, float]:
    """One run at one size: seconds for each step, in a fresh folder."""
    folder = bench_folder("bench-jobfile-")
    path = folder / "job-info.jsonl"
    write_records(path, count)
    data = path.read_bytes()
    floor = timed(lambda: atomic_write(path, data))

    def naive() -> None:
        records = [json.loads(line) for line in path.read_bytes().splitlines()]
        atomic_write(path, b"".join(json.dumps(r).encode() + b"\n" for r in records))

    naive_s = timed(naive)
    job_file: JobFile | None = None

    def load() -> None:
        nonlocal job_file
        job_file = JobFile.load(path)

    load_s = timed(load)
    assert job_file is not None
    for record in job_file.records[:changed]:
        record.ensure_batch()["state"] = "JOB_STATE_SUCCEEDED"
    save_s = timed(job_file.save)
    with path.open("ab") as handle:  # another process appends one record meanwhile
        handle.write(
            json.dumps({"input_file": "new.jsonl", "job_name": "batches/new"}).encode() + b"\n"
        )
    for record in job_file.records[changed : 2 * changed]:
        record.ensure_batch()["state"] = "JOB_STATE_SUCCEEDED"
    append_s = timed(job_file.save)
    return {
        FLOOR: floor,
        "naive rewrite: parse + re-serialise all": naive_s,
        "gembatch load": load_s,
        f"gembatch rewrite, {changed:,} changed": save_s,
        f"gembatch rewrite, {changed:,} changed + 1 appended by another process": append_s,
    }


def summarise(count: int, runs: list[dict[str, float]]) -> list[tuple[str, ...]]:
    """Median (min-max) of each step, and its ratio to the floor's median."""
    floor = statistics.median(
        run["physical floor: write same bytes, fsync, rename"] for run in runs
    )
    rows = []
    for what in runs[0]:
        values = [run[what] for run in runs]
        median = statistics.median(values)
        rows.append(
            (
                f"{count:,}",
                what,
                f"{median:.3f}s ({min(values):.3f}-{max(values):.3f})",
                f"{median / floor:.1f}x",
            )
        )
    return rows


async def rewrites_when_finishing(count: int) -> int:
    server = SimulatorServer(Scenario(default_plan=JobPlan(0, 0)))
    url = server.start()
    folder = bench_folder("bench-finish-")
    client = GeminiClient(api_key="bench", base_url=url)
    job_file = await seed_jobs(client, folder, [(f"{n}.jsonl", 1) for n in range(count)])
    engine = Engine(job_file, client, EngineOptions(concurrency=64))
    before = job_file.rewrites
    finished = await engine.run_cycle()
    await client.close()
    server.stop()
    assert finished.errors == 0
    return job_file.rewrites - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--changed", type=int, default=1000)
    parser.add_argument("--finishing", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}; fsync on {os.statvfs('/tmp').f_bsize}-byte blocks")
    runs: dict[int, list[dict[str, float]]] = {count: [] for count in args.sizes}
    for _ in range(args.runs):  # interleaved by size
        for count in args.sizes:
            runs[count].append(measure_size(count, args.changed))
    rows = [row for count in args.sizes for row in summarise(count, runs[count])]
    table(
        f"job file rewrites (median of {args.runs}, min-max)",
        rows,
        ("records", "what", "time", "vs floor"),
    )
    rewrites = asyncio.run(rewrites_when_finishing(args.finishing))
    table(
        "coalescing",
        # Two, by the safety order: the results recorded (one rewrite for them all), then
        # the remote deletions recorded at once (one more), so a kill during the next
        # cycle cannot lose a deletion already made.
        [(f"{args.finishing:,} jobs finish in one cycle", str(rewrites), "2")],
        ("what", "job file rewrites", "target"),
    )


if __name__ == "__main__":
    main()
