"""Poll cycle: 1,000 running jobs, 50 ms per call.

gembatch's cycle (async, bounded concurrency) against the earlier tool's serial loop of
`batches.get`, and each of its two paths against its own bound. The jobs progress (500
requests in 5 minutes each, for as long as the runs last: about 3 a job between cycles), so every
cycle records new counts, emits an update per job and rewrites the job file, as a real
cycle does; 2,000 other jobs of the project sit on the server too, so the list survey
pages through them.

    python benchmarks/poll_cycle.py [--jobs 1000] [--latency 0.05] [--concurrency 16 64]
                                    [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import time

from _harness import (
    API_KEY,
    SimSpec,
    SimulatorProcess,
    bench_folder,
    machine,
    table,
    write_job_file,
)

from gembatch.engine import survey as survey_module
from gembatch.engine.events import JobUpdated
from gembatch.engine.loop import Engine, EngineOptions
from gembatch.gemini.client import GeminiClient
from gembatch.jobfile.file import JobFile


def serial_cycle(url: str, names: list[str]) -> float:
    from google import genai

    client = genai.Client(api_key=API_KEY, http_options={"base_url": url})
    start = time.perf_counter()
    for name in names:
        client.batches.get(name=name)
    return time.perf_counter() - start


async def gembatch_cycles(
    url: str, names: list[str], concurrency: int, use_list: bool
) -> tuple[float, float, int]:
    survey_module.LIST_THRESHOLD = 32 if use_list else 10**9
    folder = bench_folder("bench-poll-")
    job_file = JobFile.load(write_job_file(folder, names))
    client = GeminiClient(api_key=API_KEY, base_url=url)
    updates: list[object] = []

    def count(event: object) -> None:
        if isinstance(event, JobUpdated):
            updates.append(event)

    engine = Engine(job_file, client, EngineOptions(concurrency=concurrency), emit=count)
    timings, changed = [], []
    for _ in range(2):  # the first cycle also records stats; the second is steady state
        await asyncio.sleep(2.0)  # long enough for every job's counts to move
        updates.clear()
        rewrites = job_file.rewrites
        start = time.perf_counter()
        finished = await engine.run_cycle()
        timings.append(time.perf_counter() - start)
        assert finished.checked == len(names) and finished.errors == 0, finished
        assert job_file.rewrites == rewrites + 1, "a cycle with progress rewrites the file once"
        changed.append(len(updates))
    await client.close()
    return timings[0], timings[1], min(changed)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}s ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--unrelated", type=int, default=2000, help="other jobs on the server, not tracked"
    )
    args = parser.parse_args()
    print(f"machine: {machine()}")
    spec = SimSpec(
        running_jobs=args.jobs,
        unrelated_jobs=args.unrelated,
        latency_s=args.latency,
        # The same pace (500 requests in 5 minutes) for as long as all the runs take.
        requests_per_job=500 * args.runs,
        running_s=300 * args.runs,
    )
    # The list survey pages through every job of the project, 100 a call, one call
    # after another: its own bound, against which it is judged.
    list_bound = math.ceil((args.jobs + args.unrelated) / 100) * args.latency
    paths = [
        (concurrency, use_list) for concurrency in args.concurrency for use_list in (True, False)
    ]
    serial: list[float] = []
    first: dict[tuple[int, bool], list[float]] = {path: [] for path in paths}
    steady: dict[tuple[int, bool], list[float]] = {path: [] for path in paths}
    changed: dict[tuple[int, bool], int] = {}
    with SimulatorProcess(spec) as (url, names):
        for _ in range(args.runs):  # interleaved: the baseline shares every noisy moment
            serial.append(serial_cycle(url, names))
            for concurrency, use_list in paths:
                one, two, updated = asyncio.run(gembatch_cycles(url, names, concurrency, use_list))
                first[concurrency, use_list].append(one)
                steady[concurrency, use_list].append(two)
                changed[concurrency, use_list] = updated
    base = statistics.median(serial)
    rows = [("serial batches.get (earlier tool)", "1", spread(serial), "1.0x", "", "")]
    for concurrency in args.concurrency:
        get_bound = args.jobs * args.latency / concurrency
        for use_list, how in ((True, "list survey (default)"), (False, "one get per job")):
            bound = list_bound if use_list else get_bound
            for label, times in (("first cycle", first), ("steady", steady)):
                median = statistics.median(times[concurrency, use_list])
                rows.append(
                    (
                        f"gembatch, {how}, {label}",
                        str(concurrency),
                        spread(times[concurrency, use_list]),
                        f"{base / median:.1f}x",
                        f"{median / bound:.2f}x",
                        f"{changed[concurrency, use_list]:,} jobs updated, 1 rewrite"
                        if label == "steady"
                        else "",
                    )
                )
        rows.append(
            (
                "bound for one get per job: jobs x latency / concurrency",
                str(concurrency),
                f"{get_bound:.2f}s",
                f"{base / get_bound:.1f}x",
                "1.00x",
                "",
            )
        )
    rows.append(
        (
            "bound for the list survey: pages of all jobs x latency",
            "-",
            f"{list_bound:.2f}s",
            f"{base / list_bound:.1f}x",
            "1.00x",
            "",
        )
    )
    table(
        f"poll cycle: {args.jobs} running jobs among {args.unrelated} others of the project, "
        f"{args.latency * 1000:.0f} ms per call; median of {args.runs} interleaved runs "
        "(min-max); each path against its own bound",
        rows,
        ("what", "concurrency", "time", "vs serial", "vs bound", "each cycle"),
    )


if __name__ == "__main__":
    main()
