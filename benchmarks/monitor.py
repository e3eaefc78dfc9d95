"""Monitor: 10,000 jobs in the table.

Time to a full first frame; time to apply one cycle in which 1,000 rows change
(against clearing and rebuilding the table, the usual shortcut); idle CPU with nothing
changing (against a bare Textual app showing the same table, the framework's floor).
Headless (`App.run_test`), so terminal output costs are not included.

    python benchmarks/monitor.py [--jobs 10000] [--changed 1000] [--idle 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import replace

from _harness import bench_folder, machine, table
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from gembatch.clock import SYSTEM_CLOCK
from gembatch.engine.events import JobUpdated
from gembatch.engine.run import PollRun
from gembatch.gemini.client import GeminiClient, RetryPolicy
from gembatch.jobfile.file import JobFile
from gembatch.jobfile.view import JobView
from gembatch.tui.app import GembatchApp
from gembatch.tui.screens.monitor import EngineEvent
from gembatch.tui.widgets.job_table import JobTable

SIZE = (140, 45)
# Times relative to the run, never fixed dates: jobs half an hour old show seconds that
# tick every second (the busiest a live table gets); fixed dates made them days old,
# whose durations change once a minute, and flattered the "ticking" figure.
CREATED = SYSTEM_CLOCK.iso(later_s=-1800)
ENDED = SYSTEM_CLOCK.iso(later_s=-60)
STATES = ["JOB_STATE_RUNNING", "JOB_STATE_PENDING", "JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED"]


def job_file(count: int, finished: bool = False) -> JobFile:
    folder = bench_folder("bench-monitor-")
    path = folder / "job-info.jsonl"
    with path.open("w") as handle:
        for n in range(count):
            state = "JOB_STATE_SUCCEEDED" if finished else STATES[n % 4]
            record = {
                "input_file": f"batch/{n:06d}.jsonl",
                "count": 100,
                "batch": {
                    "name": f"batches/job{n:06d}",
                    "state": state,
                    "create_time": CREATED,
                },
                "stats": {
                    "total": 100,
                    "succeeded": n % 100,
                    "failed": 0,
                    "pending": 100 - n % 100,
                },
            }
            if finished:
                record["batch"]["end_time"] = ENDED
            handle.write(json.dumps(record) + "\n")
    return JobFile.load(path)


def make_app(source: JobFile) -> GembatchApp:
    client = GeminiClient(
        api_key="bench", base_url="http://127.0.0.1:9", retry=RetryPolicy(attempts=1)
    )
    return GembatchApp(PollRun(JobFile.load(source.path), client), autostart=False)


async def next_frame(app: App) -> None:
    """Wait until the screen has been painted after what was just done."""
    painted = asyncio.Event()
    app.call_after_refresh(painted.set)
    await painted.wait()


async def first_frame_and_update(source: JobFile, changed: int) -> tuple[float, float]:
    start = time.perf_counter()
    app = make_app(source)  # includes loading the job file, as a real start does
    count = len(source.records)
    async with app.run_test(size=SIZE) as pilot:
        jobs = app.monitor.query_one(JobTable)
        while jobs.row_count < count:
            await asyncio.sleep(0.005)
        await next_frame(app)
        first_frame = time.perf_counter() - start
        await pilot.pause(0.5)

        updates = [
            replace(
                view,
                state="JOB_STATE_SUCCEEDED",
                done_count=100,
                end_time=ENDED,
            )
            for view in list(jobs.jobs.values())[:changed]
        ]
        events = [JobUpdated(view, "JOB_STATE_RUNNING") for view in updates]
        start = time.perf_counter()
        app.monitor._on_engine_event(EngineEvent(events))  # one cycle's events, as delivered
        await next_frame(app)
        update = time.perf_counter() - start
        assert jobs.jobs[updates[-1].key].state == "JOB_STATE_SUCCEEDED"
    return first_frame, update


class BareTable(App[None]):
    """The framework's floor: a DataTable with the same rows and nothing else."""

    def __init__(self, rows: list[JobView], tick: bool = False) -> None:
        super().__init__()
        self.rows = rows
        self.tick = tick

    def compose(self) -> ComposeResult:
        yield DataTable()

    def on_mount(self) -> None:
        data = self.query_one(DataTable)
        data.add_column("input", key="input")
        data.add_column("state", key="state")
        data.add_column("seconds", key="seconds")
        for row in self.rows:
            data.add_row(row.input_file, str(row.state), "0", key=row.key)
        if self.tick:
            self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        """Update the seconds cell of the rows on screen, as the monitor's durations do."""
        data = self.query_one(DataTable)
        for row in range(min(data.row_count, self.size.height)):
            row_key, _ = data.coordinate_to_cell_key((row, 0))
            data.update_cell(row_key, "seconds", str(time.time()))


async def bare_first_frame_and_update(views: list[JobView], changed: int) -> tuple[float, float]:
    start = time.perf_counter()
    app = BareTable(views)
    async with app.run_test(size=SIZE) as pilot:
        data = app.query_one(DataTable)
        while data.row_count < len(views):
            await asyncio.sleep(0.005)
        await next_frame(app)
        first = time.perf_counter() - start
        await pilot.pause(0.5)
        start = time.perf_counter()
        with app.batch_update():
            for view in views[:changed]:  # the cells a finished job changes
                data.update_cell(view.key, "state", "JOB_STATE_SUCCEEDED")
                data.update_cell(view.key, "seconds", "3600")
        await next_frame(app)
        update = time.perf_counter() - start
    return first, update


async def idle_cpu(app: App, seconds: float) -> float:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(1.0)
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        return (time.process_time() - cpu) / (time.perf_counter() - wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--changed", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds to watch idle CPU")
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="runs of the timed parts, interleaved; the median (min-max) is reported",
    )
    args = parser.parse_args()
    print(f"machine: {machine()}")
    mixed = job_file(args.jobs)
    done = job_file(args.jobs, finished=True)
    views = [JobView.of(r) for r in mixed.records]
    ours, bare = [], []
    for _ in range(args.repeat):  # interleaved, so a noisy spell hits both sides
        ours.append(asyncio.run(first_frame_and_update(mixed, args.changed)))
        bare.append(asyncio.run(bare_first_frame_and_update(views, args.changed)))
    (first, first_s), (update, update_s) = (median_spread(x) for x in zip(*ours, strict=True))
    (bare_first, bare_first_s), (bare_update, bare_update_s) = (
        median_spread(x) for x in zip(*bare, strict=True)
    )
    idle_done = asyncio.run(idle_cpu(make_app(done), args.idle))
    idle_bare = asyncio.run(idle_cpu(BareTable(views), args.idle))
    idle_ticking = asyncio.run(idle_cpu(make_app(mixed), args.idle))
    idle_bare_ticking = asyncio.run(idle_cpu(BareTable(views, tick=True), args.idle))
    table(
        f"monitor with {args.jobs:,} jobs (headless; median of {args.repeat} runs, min-max)",
        [
            (
                "first full frame (load + draw)",
                f"{first:.2f}s {first_s}",
                f"bare DataTable: {bare_first:.2f}s {bare_first_s} ({first / bare_first:.1f}x)",
                "under 2 s",
            ),
            (
                f"apply a cycle where {args.changed:,} rows change",
                f"{update * 1000:.0f} ms {update_s}",
                f"bare update_cell: {bare_update * 1000:.0f} ms {bare_update_s} "
                f"({update / bare_update:.1f}x)",
                "under 100 ms",
            ),
            (
                f"idle CPU, all finished, {args.idle:.0f}s",
                f"{idle_done:.2%}",
                f"bare DataTable: {idle_bare:.2%}",
                "under 2%",
            ),
            (
                f"idle CPU, running jobs' durations ticking, {args.idle:.0f}s",
                f"{idle_ticking:.2%}",
                f"bare DataTable ticking the same: {idle_bare_ticking:.2%}",
                "",
            ),
        ],
        ("what", "gembatch", "baseline", "target"),
    )


def median_spread(values: tuple[float, ...]) -> tuple[float, str]:
    """The median, and `(min-max)` in the unit the table shows: ms under a second."""
    if max(values) < 1:
        return statistics.median(values), f"({min(values) * 1000:.0f}-{max(values) * 1000:.0f})"
    return statistics.median(values), f"({min(values):.2f}-{max(values):.2f})"


if __name__ == "__main__":
    main()
