"""A poll cycle costs what its jobs need, not what the job file holds (issue 14).

Counted, not timed: the file-system calls and the data-safety rules (`lifecycle`) one
cycle evaluates over a job file with thousands of finished, saved and cleaned-up jobs
are the same as over one with a few dozen, and so is the memory an idle cycle allocates.
"""

from __future__ import annotations

import builtins
import inspect
import json
import os
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from gembatch.cli.demo import seed_jobs
from gembatch.jobfile import lifecycle
from gembatch.jobfile.file import JobFile
from gembatch.simulator import JobPlan, SimulatorServer
from tests.conftest import engine_for, make_client

if TYPE_CHECKING:
    from gembatch.tui.app import GembatchApp

HANDLED: dict[str, Any] = {
    "count": 1,
    "batch": {
        "state": "JOB_STATE_SUCCEEDED",
        "create_time": "2026-01-05T10:00:00Z",
        "end_time": "2026-01-05T11:00:00Z",
        "model": "models/gemini-2.5-flash",
    },
    "remote_deleted_at": "2026-01-05T12:00:00Z",
}


def add_handled(job_file: Path, count: int) -> None:
    """Jobs finished long ago: results saved, remote deleted. Nothing to do for them."""
    with job_file.open("a") as out:
        for n in range(count):
            record = {
                **HANDLED,
                "input_file": f"old/{n:06d}.jsonl",
                "batch": {**HANDLED["batch"], "name": f"batches/old{n:06d}"},
                "results_file": f"old/results/{n:06d}.jsonl",
            }
            out.write(json.dumps(record) + "\n")


RULES = [name for name, value in vars(lifecycle).items() if inspect.isfunction(value)]


@contextmanager
def counting_calls() -> Iterator[Counter[str]]:
    """Counts stat, scandir, listdir and open as the engine (in this process) makes
    them, and every rule of `lifecycle` it asks."""
    calls: Counter[str] = Counter()
    patched = {
        (os, "stat"): os.stat,
        (os, "scandir"): os.scandir,
        (os, "listdir"): os.listdir,
        (builtins, "open"): builtins.open,
        **{(lifecycle, name): getattr(lifecycle, name) for name in RULES},
    }

    def counted(name: str, real):  # type: ignore[no-untyped-def]
        def call(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls[name] += 1
            return real(*args, **kwargs)

        return call

    for (module, name), real in patched.items():
        setattr(module, name, counted(name, real))
    try:
        yield calls
    finally:
        for (module, name), real in patched.items():
            setattr(module, name, real)


async def cycle_calls(sim: SimulatorServer, folder: Path, handled: int) -> tuple[int, int, int]:
    """Calls made by an idle cycle, then by a cycle in which 5 jobs finish; and the
    most memory the idle cycle allocated at once (bytes)."""
    sim.scenario.default_plan = JobPlan(0, 3600)
    job_file = await seed_jobs(make_client(sim), folder, [(f"{n}.jsonl", 3) for n in range(5)])
    add_handled(job_file.path, handled)
    engine, _events = engine_for(sim, JobFile.load(job_file.path))
    await engine.run_cycle()  # the first cycle after a start reads everything once
    with counting_calls() as idle:
        await engine.run_cycle()
    peaks = []
    for _ in range(3):  # the least of three: a copy per record shows in every cycle, a
        tracemalloc.start()  # one-off (a fresh connection on a loaded machine) in one
        await engine.run_cycle()
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    idle_peak = min(peaks)
    for batch in sim.store.batches.values():
        sim.store.force_state(batch.name, "SUCCEEDED")
    with counting_calls() as finishing:
        finished = await engine.run_cycle()
    assert finished.checked == 5 and finished.errors == 0
    assert all((folder / f"batch/results/{n}.jsonl").is_file() for n in range(5))
    await engine.client.close()
    return sum(idle.values()), sum(finishing.values()), idle_peak


@pytest.mark.parametrize("handled", [20_000])
async def test_cycle_cost_does_not_grow_with_handled_records(
    sim: SimulatorServer, tmp_path: Path, handled: int
) -> None:
    small_idle, small_finishing, small_peak = await cycle_calls(sim, tmp_path / "small", 20)
    big_idle, big_finishing, big_peak = await cycle_calls(sim, tmp_path / "big", handled)
    # Equal up to a few calls (a lock file that is or is not there yet), never per record.
    assert big_idle <= small_idle + 5, (small_idle, big_idle)
    assert big_finishing <= small_finishing + 5, (small_finishing, big_finishing)
    # Nor a copy of anything kept per record (8 bytes a record would be 160 kB).
    assert big_peak <= small_peak + 32_000, (small_peak, big_peak)


async def test_a_record_appended_by_a_submit_joins_the_work_without_a_rebuild(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """Another process appends a job to a file of 20,000 handled ones: the next cycle
    checks it without going over the others again; a retry appended to a settled input
    brings that input's group back."""
    job_file = await seed_jobs(make_client(sim), tmp_path, [("0.jsonl", 3)])
    add_handled(job_file.path, 20_000)
    engine, _events = engine_for(sim, JobFile.load(job_file.path))
    await engine.run_cycle()
    await engine.run_cycle()
    rebuilds = engine.worklist.rebuilds
    assert len(engine.worklist.records()) == 0  # everything settled

    await seed_jobs(make_client(sim), tmp_path, [("new.jsonl", 2)])  # another process
    with counting_calls() as calls:
        finished = await engine.run_cycle()
    assert finished.checked == 1 and (tmp_path / "batch/results/new.jsonl").is_file()
    assert engine.worklist.rebuilds == rebuilds  # the tail was taken in
    assert calls["handled"] < 100  # rules asked of the new record, not of 20,000

    retry = dict(HANDLED, input_file="old/retry.jsonl", source_file="old/000007.jsonl")
    with job_file.path.open("a") as out:  # a retry of a settled input
        out.write(json.dumps({**retry, "batch": {"name": "batches/retry-7"}}) + "\n")
    await engine.run_cycle()
    assert engine.worklist.rebuilds == rebuilds + 1
    assert {r.input_file for r in engine.worklist.records()} >= {"old/000007.jsonl"}
    await engine.client.close()


def add_history(job_file: Path, count: int, failed_every: int = 10) -> None:
    """A long history as users have it: finished and handled, one in `failed_every` failed."""
    with job_file.open("a") as out:
        for n in range(count):
            failed = n % failed_every == 0
            state = "JOB_STATE_FAILED" if failed else "JOB_STATE_SUCCEEDED"
            record = {
                **HANDLED,
                "input_file": f"old/{n:06d}.jsonl",
                "batch": {**HANDLED["batch"], "name": f"batches/old{n:06d}", "state": state},
                "usage": {"promptTokenCount": 1000, "candidatesTokenCount": 500},
            }
            if failed:
                record["last_error"] = "INTERNAL"
            else:
                record["results_file"] = f"old/results/{n:06d}.jsonl"
            out.write(json.dumps(record) + "\n")


async def test_a_run_start_and_end_cost_one_view_per_live_job(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """A poll's start, its cycle and its summary over 20,000 handled records (issue 24):
    each line parsed once (the work list's first pass is the read's), no view built of
    a settled record after that pass, and the summary sized by this run."""
    from gembatch.engine.plain import summary_lines
    from gembatch.engine.run import PollRun
    from gembatch.jobfile import json_line
    from gembatch.jobfile.view import JobView

    sim.scenario.default_plan = JobPlan(0, 3600)
    seeded = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 2), ("b.jsonl", 2)])
    add_history(seeded.path, 20_000)
    parses, views = json_line.parses, JobView.built
    run = PollRun(JobFile(seeded.path), make_client(sim), once=True)  # named, as a poll has it
    run.engine.announce()
    await run.cycle()
    report = run.engine.report()
    lines = summary_lines(report)
    await run.close()
    assert json_line.parses - parses <= 20_002 + 50  # (the live jobs' few again)
    assert JobView.built - views <= 20_000 + 50  # the history's tally, and the live jobs'
    assert report.totals.total == 20_002 and report.totals.counts["failed"] == 2_000
    assert run.outcome() == 2  # two jobs still running
    assert len(lines) <= 30, lines
    assert "1,980 more; `gembatch status --list --failed` lists them all" in "\n".join(lines)


def test_plain_poll_prints_a_line_for_the_history_not_one_per_old_job(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    import asyncio

    from tests.conftest import run_cli

    sim.scenario.default_plan = JobPlan(0, 3600)
    seeded = asyncio.run(seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 2)]))
    add_history(seeded.path, 20_000)
    result = run_cli("poll", "--plain", "--once", cwd=tmp_path, sim=sim)
    assert result.returncode == 2, result.stderr
    lines = result.stdout.splitlines()
    assert "loaded 20,001 jobs: 20,000 done earlier (18,000 succeeded, 2,000 failed)" in lines[0]
    assert lines[0].endswith(", 1 in progress")
    assert len(lines) <= 30, len(lines)
    listed = run_cli("status", "--failed", cwd=tmp_path, sim=sim)
    assert sum("old/" in line for line in listed.stdout.splitlines()) == 2_000


async def monitor_on_history(sim: SimulatorServer, tmp_path: Path, history: int) -> GembatchApp:
    """The monitor over one job running for an hour after `history` handled records."""
    from gembatch.engine.loop import EngineOptions
    from tests.conftest import monitor_app

    sim.scenario.default_plan = JobPlan(0, 3600)
    seeded = await seed_jobs(make_client(sim), tmp_path, [("live.jsonl", 2)])
    add_history(seeded.path, history)
    return monitor_app(JobFile.load(seeded.path), make_client(sim), EngineOptions(interval_s=3600))


async def test_the_monitor_shows_live_jobs_first_and_the_history_after(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """A long history (issue 24): the first frame holds the live jobs, the earlier ones
    arrive after it, a chunk at a time, until the table lists every job; an old job's
    detail still shows its whole record."""
    from textual.widgets import Static

    from gembatch.tui.screens.detail import JobDetailScreen
    from gembatch.tui.screens.history_rows import READ_AFTER_FIRST_FRAME
    from gembatch.tui.widgets.overview import Overview
    from gembatch.tui.widgets.status_bar import StatusBar
    from tests.conftest import wait_for

    history = READ_AFTER_FIRST_FRAME + 1_500
    app = await monitor_on_history(sim, tmp_path, history)
    async with app.run_test(size=(120, 36)) as pilot:
        monitor = app.monitor
        table = monitor.table
        await wait_for(pilot, lambda: table.row_count > 0, "the first rows")
        first_rows = table.row_count
        assert str(table.get_row_at(0)[0]).endswith("live.jsonl")
        # Every job is counted from the first rows on, not only the rows in so far; the
        # time elapsed is the live job's, not that of a history a year old.
        assert first_rows < history
        monitor.refresh_status()
        overview = str(monitor.query_one(Overview).render())
        assert f"{history:,}/{history + 1:,} jobs done" in overview, overview
        assert "d " not in overview.partition("requests")[2], overview
        bar = str(monitor.query_one(StatusBar).query_one("#totals", Static).render())
        assert f"{history - history // 10:,} succeeded" in bar, bar
        await wait_for(pilot, lambda: not monitor.history_rows.loading, "the history")
        assert first_rows < history  # the history came after the first rows
        assert table.row_count == history + 1
        table.move_cursor(row=table.row_count - 1)  # the file's last old job
        await pilot.press("enter")
        assert isinstance(app.screen, JobDetailScreen)
        job = app.screen.job
        assert job is not None and job.raw.get("usage") == {
            "promptTokenCount": 1000,
            "candidatesTokenCount": 500,
        }


async def test_a_history_longer_than_the_table_shows_its_latest_jobs_and_says_so(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """A million-record history's rows took more than 5 GB (issue 24): the table holds
    the latest earlier jobs, the totals still count every one, and the status bar says
    how many older ones are left out and what lists them."""
    from textual.widgets import Static

    from gembatch.tui.screens.history_rows import SHOWN_AT_MOST
    from gembatch.tui.widgets.overview import Overview
    from gembatch.tui.widgets.status_bar import StatusBar
    from tests.conftest import wait_for

    history = SHOWN_AT_MOST + 500
    app = await monitor_on_history(sim, tmp_path, history)
    async with app.run_test(size=(120, 36)) as pilot:
        monitor = app.monitor
        table = monitor.table
        await wait_for(pilot, lambda: table.row_count > 0, "the first rows")
        await wait_for(pilot, lambda: not monitor.history_rows.loading, "the history")
        assert table.row_count == SHOWN_AT_MOST + 1  # the live job and the latest
        labels = [str(table.get_row_at(n)[0]) for n in (0, 1, table.row_count - 1)]
        assert labels[0].endswith("live.jsonl")
        assert labels[1].endswith(f"{500:06d}.jsonl")  # the first 500 are left out
        assert labels[2].endswith(f"{history - 1:06d}.jsonl")
        monitor.refresh_status()
        overview = str(monitor.query_one(Overview).render())
        assert f"{history:,}/{history + 1:,} jobs done" in overview, overview
        notes = str(monitor.query_one(StatusBar).query_one("#notes", Static).render())
        assert "500 older: status --list" in notes, notes
        rows = monitor.history_rows

        def labels_in_table() -> list[str]:
            return [str(table.get_row_at(n)[0]) for n in range(table.row_count)]

        # A filter goes over every earlier job, not only those in the table: the
        # failed ones include the file's first, which the table left out.
        while table.filter_group != "failed":
            await pilot.press("f")
        await wait_for(pilot, lambda: not rows.choosing, "the failed jobs chosen")
        failed = labels_in_table()
        assert len(failed) == history // 10  # every failed job: fewer than the table holds
        assert failed[0].endswith("000000.jsonl") and failed[-1].endswith(
            f"{history - 10:06d}.jsonl"
        )
        assert "older" not in str(monitor.query_one(StatusBar).query_one("#notes", Static).render())
        # An order, too: the first jobs of all of them by name.
        await pilot.press("escape")
        while table.sort_by != "name":
            await pilot.press("s")
        await wait_for(pilot, lambda: not rows.choosing, "the first jobs by name")
        by_name = labels_in_table()
        assert len(by_name) == SHOWN_AT_MOST + 1
        assert by_name[0].endswith("live.jsonl") and by_name[1].endswith("000000.jsonl")
        assert by_name[-1].endswith(f"{SHOWN_AT_MOST - 1:06d}.jsonl")
