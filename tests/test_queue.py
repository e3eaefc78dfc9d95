"""The local queue and the budget (`submit --max-running`, `--max-cost`), end to end:
the command line and the poller against the simulator over HTTP, the unmodified SDK.

The real service answers `429 RESOURCE_EXHAUSTED` on create when a model's enqueued
tokens across unfinished jobs would pass the tier's limit (shared/gemini-batch-api.md
§6, python-genai#1901); the simulator does the same (`enqueued_token_limit`), and
the queue keeps such a part and tries it again later instead of failing the submit.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gembatch.clock import Clock
from gembatch.engine.events import QueueNote
from gembatch.engine.loop import Engine, EngineOptions
from gembatch.jobfile.file import JobFile
from gembatch.simulator import FaultRule, JobPlan, Scenario, SimulatorServer
from gembatch.tui.screens.confirm import ConfirmScreen
from gembatch.tui.widgets.overview import Overview
from tests.conftest import (
    killed_while_held,
    make_client,
    monitor_app,
    read_jsonl,
    run_cli,
    wait_for,
)
from tests.test_app import SIZE, cell, log_text, poll, rendered, table

PARTS = 6
PER_PART = 10
# 31 characters: 7 prompt tokens by the simulator's rule (and by its countTokens).
PROMPT = "question number {n:03d} padded t"
CREATE = r"POST .*:batchGenerateContent"


@pytest.fixture
def slow_sim() -> Iterator[SimulatorServer]:
    """Jobs that take long enough to overlap: a queue has something to wait for."""
    server = SimulatorServer(Scenario(seed=3, default_plan=JobPlan(pending_s=0.2, running_s=0.4)))
    server.start()
    yield server
    server.stop()


def write_input(folder: Path, requests: int = PARTS * PER_PART, name: str = "in") -> None:
    path = folder / f"batch/{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for n in range(requests):
            text = PROMPT.format(n=n)
            request = {"contents": [{"parts": [{"text": text}]}]}
            out.write(json.dumps({"key": f"k{n:03d}", "request": request}) + "\n")


def submit(folder: Path, sim: SimulatorServer, *flags: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "submit", "batch/in.jsonl", "--max-requests", str(PER_PART), *flags, cwd=folder, sim=sim
    )


def status_json(folder: Path, sim: SimulatorServer) -> dict:
    return json.loads(run_cli("status", "--json", cwd=folder, sim=sim).stdout)


def merged_keys(folder: Path) -> list[str]:
    return [row["key"] for row in read_jsonl(folder / "batch/results/in.jsonl")]


class AnHourAhead(Clock):
    """The poller's clock an hour ahead of the submit's: a pause the submit set after a
    429 (a minute) is over, and the poller's own pauses (its interval) still pass."""

    def now(self) -> float:
        return time.time() + 3600


async def drain(
    folder: Path, sim: SimulatorServer, listen: Callable[[object], None] | None = None
) -> Engine:
    """Poll in this process, every 50 ms, until every part is created and handled."""
    job_file = JobFile.load(folder / "job-info.jsonl", AnHourAhead())
    options = EngineOptions(interval_s=0.05)
    engine = Engine(job_file, make_client(sim), options, emit=listen)
    for _ in range(1000):
        finished = await engine.run_cycle()
        if finished.all_done:
            engine.close()
            return engine
        await asyncio.sleep(finished.next_poll_in or 0.05)
    raise AssertionError("the queue did not drain")


def test_max_running_two_of_six_never_more_than_two_at_once_and_all_finish(
    slow_sim: SimulatorServer, tmp_path: Path
) -> None:
    write_input(tmp_path)
    submitted = submit(tmp_path, slow_sim, "--max-running", "2")
    assert submitted.returncode == 0, submitted.stderr
    assert "4 parts queued" in submitted.stdout
    assert slow_sim.store.creates == 2
    status = status_json(tmp_path, slow_sim)
    assert (status["queued"], status["max_running"], status["exit_code"]) == (4, 2, 2)
    places = [job["queue_place"] for job in status["jobs"]]
    assert places == [None, None, 1, 2, 3, 4]

    polled = run_cli("poll", "--plain", "--interval", "1", cwd=tmp_path, sim=slow_sim)
    assert polled.returncode == 0, polled.stdout + polled.stderr
    assert "queued → pending" in polled.stdout
    assert slow_sim.store.creates == PARTS
    assert slow_sim.store.peak_active == 2  # the queue was used, and held
    assert merged_keys(tmp_path) == [f"k{n:03d}" for n in range(PARTS * PER_PART)]


def test_a_429_on_create_keeps_the_part_queued_until_the_server_takes_it(
    slow_sim: SimulatorServer, tmp_path: Path
) -> None:
    write_input(tmp_path)
    assert submit(tmp_path, slow_sim, "--max-running", "2").returncode == 0
    # From now on the server refuses the next three creates, as at its token limit.
    slow_sim.scenario.faults.rules.append(FaultRule(CREATE, 429, times=3))

    notes: list[str] = []

    def listen(event: object) -> None:
        if isinstance(event, QueueNote):
            notes.append(event.message)

    engine = asyncio.run(drain(tmp_path, slow_sim, listen))
    assert slow_sim.scenario.faults.rules[-1].times == 0  # all three refusals were met
    assert slow_sim.store.creates == PARTS  # none lost, none twice
    assert slow_sim.store.peak_active <= 2
    refused = [r for r in engine.job_file.records if r.data.get("queue_refusals")]
    assert sum(r.data["queue_refusals"] for r in refused) == 3
    assert sum("(429" in note and "back in the queue" in note for note in notes) == 3
    assert merged_keys(tmp_path) == [f"k{n:03d}" for n in range(PARTS * PER_PART)]


def test_the_simulated_token_limit_refuses_creates_and_the_queue_waits_it_out(
    tmp_path: Path,
) -> None:
    # Room for one part's 70 tokens at a time: the second create of each pair is refused.
    scenario = Scenario(
        seed=4, default_plan=JobPlan(pending_s=0.1, running_s=0.2), enqueued_token_limit=100
    )
    with SimulatorServer(scenario) as sim:
        write_input(tmp_path)
        submitted = submit(tmp_path, sim, "--max-running", "3")
        assert submitted.returncode == 0, submitted.stderr
        assert "429" in submitted.stdout and "back in the queue" in submitted.stdout
        asyncio.run(drain(tmp_path, sim))
        assert sim.store.creates == PARTS
        assert sim.store.peak_active == 1
    assert len(merged_keys(tmp_path)) == PARTS * PER_PART


@pytest.mark.parametrize("server_acted", [True, False], ids=["made", "not-made"])
def test_a_poller_killed_while_creating_leaves_no_part_twice_and_none_lost(
    slow_sim: SimulatorServer, tmp_path: Path, server_acted: bool
) -> None:
    write_input(tmp_path)
    assert submit(tmp_path, slow_sim, "--max-running", "2").returncode == 0
    # The poller's first create waits at the server: after the job is made (its reply
    # never arrives), or before (the server never sees the body).
    poll = ["poll", "--plain", "--interval", "1"]
    killed_while_held(slow_sim, tmp_path, poll, CREATE, after_acting=server_acted)
    assert slow_sim.store.creates == (3 if server_acted else 2)
    orphan = [r for r in JobFile.load(tmp_path / "job-info.jsonl").records if r.intent]
    assert len(orphan) == 1  # recorded as being created, by a process now dead

    polled = run_cli("poll", "--plain", "--interval", "1", cwd=tmp_path, sim=slow_sim)
    assert polled.returncode == 0, polled.stdout + polled.stderr
    if server_acted:
        assert "not created again" in polled.stdout
    assert slow_sim.store.creates == PARTS
    records = JobFile.load(tmp_path / "job-info.jsonl").records
    assert len({r.batch_name for r in records}) == PARTS
    assert merged_keys(tmp_path) == [f"k{n:03d}" for n in range(PARTS * PER_PART)]


def dear_prices() -> None:
    """$1 a prompt token, output free: each part of 10 requests costs $70 exactly."""
    config = Path(os.environ["GEMBATCH_CONFIG"])
    config.write_text('[prices."gemini-2.5-flash"]\ninput = 1000000.0\noutput = 0.0\n')


def test_a_budget_stops_at_the_right_part_and_a_restarted_run_still_honours_it(
    slow_sim: SimulatorServer, tmp_path: Path
) -> None:
    dear_prices()
    write_input(tmp_path, name="a")
    write_input(tmp_path, name="b")
    submitted = run_cli(
        "submit",
        "batch/a.jsonl",
        "batch/b.jsonl",
        "--max-requests",
        str(PER_PART),
        "--max-cost",
        "600",
        cwd=tmp_path,
        sim=slow_sim,
    )
    assert submitted.returncode == 0, submitted.stderr
    # Each input ($420) fits the budget alone; together, parts stop where the spend
    # would pass $600: eight parts ($560) are created, the ninth would make $630.
    assert "b.part-3-of-6.jsonl (≈ $70.00) would take the spend to $630.00" in submitted.stdout
    assert "over the $600.00 budget" in submitted.stdout
    assert slow_sim.store.creates == 8
    status = status_json(tmp_path, slow_sim)
    assert (status["budget_usd"], status["expected_usd"], status["queued"]) == (600.0, 560.0, 4)
    assert [job["estimate_usd"] for job in status["jobs"]] == [70.0] * 12

    for _ in range(2):  # a restarted poller honours the budget the job file keeps
        polled = run_cli("poll", "--plain", "--interval", "1", cwd=tmp_path, sim=slow_sim)
        assert polled.returncode == 2, polled.stdout + polled.stderr
        assert "4 parts wait for budget" in polled.stdout
        assert slow_sim.store.creates == 8
    shown = run_cli("status", cwd=tmp_path, sim=slow_sim).stdout
    assert "budget: $560.00 spent of a $600.00 budget" in shown  # the usage billed
    waiting = "queue: 4 parts waiting for budget: the next (≈ $70.00) would take the spend"
    assert f"{waiting} to $630.00; raise it with `gembatch submit --max-cost USD`" in shown

    raised = run_cli("submit", "--max-cost", "700", cwd=tmp_path, sim=slow_sim)
    assert raised.returncode == 0, raised.stderr
    assert slow_sim.store.creates == 10  # $700 of $700; the eleventh would pass it
    assert "would take the spend to $770.00" in raised.stdout


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--max-cost", "-5"), "a budget must be more than $0"),
        (("--max-cost", "lots"), "a budget must be a number of dollars"),
        (("--max-running", "0"), "needs N of 1 or more"),
        (("--max-cost", "50"), "more than the whole $50.00 budget"),
    ],
)
def test_bad_limits_are_one_line_and_nothing_is_created(
    slow_sim: SimulatorServer, tmp_path: Path, flags: tuple[str, str], message: str
) -> None:
    dear_prices()  # the whole input: 60 requests at $7 = $420
    write_input(tmp_path)
    result = submit(tmp_path, slow_sim, *flags)
    # A bad limit is bad input (4); a sound input over the budget is work not done (1).
    assert result.returncode == (1 if "whole" in message else 4)
    problems = result.stderr.strip().splitlines()
    assert len(problems) == 1 and message in problems[0], result.stderr
    assert "Traceback" not in result.stderr
    assert slow_sim.store.creates == 0 and not slow_sim.store.files


def test_cancel_takes_a_queued_part_out_and_the_rest_finish(
    slow_sim: SimulatorServer, tmp_path: Path
) -> None:
    write_input(tmp_path)
    assert submit(tmp_path, slow_sim, "--max-running", "2").returncode == 0
    cancelled = run_cli("cancel", "batch/in.part-6-of-6.jsonl", cwd=tmp_path, sim=slow_sim)
    assert cancelled.returncode == 0, cancelled.stderr
    assert "cancelled while queued; nothing was created" in cancelled.stdout
    polled = run_cli("poll", "--plain", "--interval", "1", cwd=tmp_path, sim=slow_sim)
    assert polled.returncode == 1, polled.stdout + polled.stderr  # finished, one cancelled
    assert slow_sim.store.creates == PARTS - 1
    status = status_json(tmp_path, slow_sim)
    assert status["counts"]["cancelled_expired"] == 1 and status["queued"] == 0
    # The five parts' rows are merged in order; the cancelled part's rows are listed
    # as without a result.
    assert merged_keys(tmp_path) == [f"k{n:03d}" for n in range(50)]
    errors = read_jsonl(tmp_path / "batch/results/in.errors.jsonl")
    assert [row["key"] for row in errors] == [f"k{n:03d}" for n in range(50, 60)]


async def test_the_monitor_shows_the_queue_and_cancels_a_queued_part(
    slow_sim: SimulatorServer, tmp_path: Path
) -> None:
    slow_sim.scenario.default_plan = JobPlan(pending_s=0, running_s=3600)  # the first holds
    write_input(tmp_path, requests=3 * PER_PART)
    config = Path(os.environ["GEMBATCH_CONFIG"])
    config.write_text("max_running = 1\nmax_cost = 5.0\n")  # the config's, no flags
    submitted = await asyncio.to_thread(submit, tmp_path, slow_sim)
    assert "2 parts queued" in submitted.stdout, submitted.stdout + submitted.stderr
    job_file = JobFile.load(tmp_path / "job-info.jsonl")
    app = monitor_app(job_file, make_client(slow_sim), EngineOptions(interval_s=3600))
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot)
        assert cell(app, "batch/in.part-2-of-3.jsonl", "state") == "⧗ queued #1"
        assert cell(app, "batch/in.part-3-of-3.jsonl", "state") == "⧗ queued #2"
        assert cell(app, "batch/in.part-3-of-3.jsonl", "progress").endswith(" 10")
        strip = rendered(app.monitor.query_one(Overview).render())
        assert "2 queued" in strip and "of a $5.00 budget" in strip
        assert "2 parts queued: 1 job pending or running, the limit is 1" in log_text(app)
        table(app).move_cursor(row=1)
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: cell(app, "batch/in.part-2-of-3.jsonl", "state") == "⊘ cancelled",
            "the queued part to be cancelled",
        )
        await wait_for(
            pilot,
            lambda: cell(app, "batch/in.part-3-of-3.jsonl", "state") == "⧗ queued #1",
            "the next part to move up",
        )
    assert slow_sim.store.creates == 1  # nothing was created for the cancelled part


@pytest.mark.parametrize(
    "damaged",
    [
        '{"gembatch_limits": {"max_cost_usd": 600',  # cut short
        '{"gembatch_limits": {"max_cost_usd": -600, "max_running": null}}',
        '{"gembatch_limits": {"max_cost_usd": "a lot"}}',
        '{"gembatch_limits": "600"}',
    ],
)
def test_a_damaged_limits_line_holds_every_queued_part(
    slow_sim: SimulatorServer, tmp_path: Path, damaged: str
) -> None:
    """Limits fail closed: a limits line that cannot be read never lifts them. Nothing
    queued is created, every command says which line and what to do, and exits 4."""
    dear_prices()  # six parts of each input at $70
    write_input(tmp_path, name="a")
    write_input(tmp_path, name="b")
    both = ("batch/a.jsonl", "batch/b.jsonl", "--max-requests", str(PER_PART))
    assert run_cli("submit", *both, "--max-cost", "600", cwd=tmp_path, sim=slow_sim).returncode == 0
    assert slow_sim.store.creates == 8  # $560 of $600; four parts wait
    path = tmp_path / "job-info.jsonl"
    lines = path.read_text().splitlines()
    at = next(n for n, line in enumerate(lines) if "gembatch_limits" in line)
    path.write_text("\n".join([*lines[:at], damaged, *lines[at + 1 :]]) + "\n")
    where = f"job-info.jsonl:{at + 1}" if damaged.endswith("600") else "job-info.jsonl"
    polled = run_cli("poll", "--plain", "--interval", "1", cwd=tmp_path, sim=slow_sim)
    assert polled.returncode == 4, polled.stdout + polled.stderr
    assert "the limits line cannot be read" in polled.stdout + polled.stderr
    assert where in polled.stdout + polled.stderr
    assert slow_sim.store.creates == 8
    status = run_cli("status", cwd=tmp_path, sim=slow_sim)
    assert status.returncode == 4
    assert "budget: unreadable (the limits line is damaged); 4 parts queued, held" in status.stdout
    assert "gembatch submit --max-cost USD" in status.stderr
    assert "Traceback" not in polled.stderr + status.stderr
    again = run_cli("retry", cwd=tmp_path, sim=slow_sim)  # nothing to retry; still held
    assert again.returncode == 4 and slow_sim.store.creates == 8
    fixed = run_cli("submit", "--max-cost", "700", cwd=tmp_path, sim=slow_sim)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert slow_sim.store.creates == 10  # $700 of $700: the budget holds again
    assert sum("gembatch_limits" in line for line in path.read_text().splitlines()) == 1


def test_a_daily_quota_stops_creating_until_it_resets(
    slow_sim: SimulatorServer, tmp_path: Path
) -> None:
    """A 429 whose QuotaFailure names a quota counted per day (python-genai#2044,
    shared/gemini-batch-api.md §0.15) is not retried as if per minute: the queue waits
    for the reset, midnight Pacific time, says so, and sends no create before then."""
    from gembatch.formatting import parse_time
    from gembatch.gemini.quotas import next_daily_reset

    quota = "GenerateContentBatchRequestsPerDayPerProjectPerModel"
    slow_sim.scenario.faults.rules.append(FaultRule(CREATE, 429, times=-1, quota_id=quota))
    write_input(tmp_path)
    queued = submit(tmp_path, slow_sim, "--max-running", "2")
    said = queued.stdout + queued.stderr
    assert f"the daily quota {quota} is used up" in said, said
    assert "creating resumes when it resets at" in said
    creates = lambda: sum(n for c, n in slow_sim.sim.calls.items() if re.search(CREATE, c))  # noqa: E731
    assert creates() == 1  # the first part was refused; the rest never sent
    record = next(r for r in JobFile.load(tmp_path / "job-info.jsonl").records if r.queued)
    retry_at = parse_time(record.data["queue_retry_at"])
    assert retry_at is not None and abs(retry_at - next_daily_reset(time.time())) < 2
    polled = run_cli("poll", "--once", "--plain", cwd=tmp_path, sim=slow_sim)
    assert "a daily quota is used up, next try at" in polled.stdout, polled.stdout
    assert creates() == 1 and slow_sim.store.creates == 0


def test_the_next_daily_reset_is_midnight_pacific_across_a_clock_change() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from gembatch.gemini.quotas import next_daily_reset

    pacific = ZoneInfo("America/Los_Angeles")
    for moment in ("2026-03-07T23:30:00", "2026-03-08T12:00:00", "2026-11-01T00:30:00"):
        now = datetime.fromisoformat(moment).replace(tzinfo=pacific).timestamp()
        reset = datetime.fromtimestamp(next_daily_reset(now), pacific)
        assert (reset.hour, reset.minute) == (0, 0) and reset.timestamp() > now
        assert reset.timestamp() - now <= 25 * 3600


def test_a_queued_part_whose_file_is_gone_is_held_and_named(
    slow_sim: SimulatorServer, tmp_path: Path
) -> None:
    """A part waiting in the queue whose file was deleted meanwhile: nothing is created
    or written for it; the poll says which file and what to do, and waits."""
    write_input(tmp_path)
    assert submit(tmp_path, slow_sim, "--max-running", "2").returncode == 0
    (tmp_path / "batch/in.part-3-of-6.jsonl").unlink()
    polled = run_cli("poll", "--plain", "--interval", "1", cwd=tmp_path, sim=slow_sim)
    assert polled.returncode == 2, polled.stdout + polled.stderr  # stalled, not done
    assert (
        "batch/in.part-3-of-6.jsonl is missing; restore it, or take the part out with "
        "`gembatch cancel`" in polled.stdout
    )
    assert slow_sim.store.creates == 2  # parts 1 and 2; none after the missing one
    queued = [r for r in JobFile.load(tmp_path / "job-info.jsonl").records if r.queued]
    assert len(queued) == 4 and not any(r.data.get("last_error") for r in queued)


def test_a_queued_bare_input_with_a_bad_line_is_held_with_the_line_named(
    slow_sim: SimulatorServer, tmp_path: Path
) -> None:
    """A bare input (no keys) is read again when its keys are made at upload: a line
    broken while it waited holds the part, with the line named, and the cycle goes on."""
    write_input(tmp_path, 3, name="first")
    bare = tmp_path / "batch/bare.jsonl"
    bare.write_text('{"contents": [{"parts": [{"text": "hi"}]}]}\n' * 3)
    args = ("submit", "batch/first.jsonl", "batch/bare.jsonl", "--max-running", "1")
    assert run_cli(*args, cwd=tmp_path, sim=slow_sim).returncode == 0
    bare.write_text(bare.read_text() + "{broken\n")
    (first,) = [r for r in JobFile.load(tmp_path / "job-info.jsonl").records if r.batch_name]
    slow_sim.store.force_state(str(first.batch_name), "SUCCEEDED")  # room for the next
    polled = run_cli("poll", "--plain", "--once", cwd=tmp_path, sim=slow_sim)
    assert "Traceback" not in polled.stderr and "cycle failed" not in polled.stdout
    assert "batch/bare.jsonl:4: not valid JSON" in polled.stdout, polled.stdout
    assert polled.returncode == 2, polled.stdout + polled.stderr  # not done, not crashed
    held = [r for r in JobFile.load(tmp_path / "job-info.jsonl").records if r.queued]
    assert [r.input_file for r in held] == ["batch/bare.jsonl"]
    assert "fix it, or take the part out with `gembatch cancel`" in str(held[0].data["last_error"])
    assert slow_sim.store.creates == 1
