"""The Python library (`gembatch.Run`) driving the unmodified SDK against the simulator:
answers in input order for 1, 100 and 10,000 requests, inline and through a file; a
pydantic schema end to end; embeddings end to end; a run killed and called again;
errors a program can catch; the job file shared with the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

import gembatch
from gembatch.jobfile.file import JobFile
from gembatch.simulator import SimulatorServer
from gembatch.simulator.scenario import JobPlan, Scenario
from tests.conftest import API_KEY, cli_env, fast_scenario, run_cli, wait_until

CREATE = r"POST .*:batchGenerateContent"


class Invoice(BaseModel):
    number: str
    total: float


def quick_run(folder: Path, sim: SimulatorServer, **options: object) -> gembatch.Run:
    options.setdefault("progress", False)
    return gembatch.Run(
        folder / "job-info.jsonl",
        api_key=API_KEY,
        base_url=sim.base_url,
        interval=0.05,
        **options,  # type: ignore[arg-type]
    )


def prompts(count: int, pad: int = 0) -> list[str]:
    return [f"invoice {n:05d} " + "x" * pad for n in range(count)]


@pytest.mark.parametrize(
    ("count", "pad", "choice", "inline"),
    [
        (1, 0, None, True),
        (100, 0, None, True),
        (10_000, 0, None, False),  # many requests: a file is quicker (`inline.py`)
        (10_000, 0, True, True),  # asked for: under 20 MB, it goes inline
        (10_000, 2_000, True, False),  # over 20 MB: a file, whatever was asked
    ],
    ids=["1-auto", "100-auto", "10000-auto", "10000-inline", "10000-over-20MB"],
)
def test_answers_come_back_in_input_order_inline_or_through_a_file(
    sim: SimulatorServer,
    tmp_path: Path,
    count: int,
    pad: int,
    choice: bool | None,
    inline: bool,
) -> None:
    """Small batches go in the create call (no upload); 10,000 prompts of 2 kB (over
    the 20 MB a create may carry) go through a file. The simulator returns rows
    shuffled (python-genai#1909), so order comes from the keys, not luck."""
    run = quick_run(tmp_path, sim, inline=choice)
    answers = run.map(prompts(count, pad), response_model=Invoice)
    assert [a.key for a in answers] == [str(n) for n in range(count)]
    assert all(a.ok and isinstance(a.parsed, Invoice) for a in answers)
    # The simulator quotes each prompt in the schema's strings: answer n is about prompt n.
    assert [a.parsed.number[6:19] for a in answers] == [p[:13] for p in prompts(count)]
    assert answers[-1].usage["promptTokenCount"] > 0
    assert sim.store.creates == 1
    uploads = sum(n for call, n in sim.sim.calls.items() if call.startswith("POST /upload/"))
    assert (uploads == 0) == inline  # inline: nothing uploaded at all
    assert run.stats.done == count and run.stats.finished
    assert sim.store.deletions, "the finished job was cleaned up"


def test_the_same_map_again_is_answered_from_disk_and_other_prompts_are_refused(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    run = quick_run(tmp_path, sim)
    first = run.map(prompts(20))
    calls = sum(sim.sim.calls.values())
    again = quick_run(tmp_path, sim).map(prompts(20))
    assert [a.text for a in again] == [a.text for a in first]
    assert sim.store.creates == 1
    assert sum(sim.sim.calls.values()) == calls, "answered from the results on disk"
    with pytest.raises(gembatch.InputsChanged, match="name="):
        run.map(prompts(21))
    other = run.map(prompts(3), name="second")
    assert len(other) == 3 and sim.store.creates == 2


def test_settings_pass_through_untouched_and_sdk_objects_are_prompts(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    from google.genai import types

    run = quick_run(tmp_path, sim, keep_remote=True)
    given = [
        "plain text",
        {"contents": [{"parts": [{"text": "a dict"}]}], "generationConfig": {"temperature": 0}},
        types.Content(role="user", parts=[types.Part(text="an SDK Content")]),
    ]
    answers = run.map(given, system_instruction="Be brief.", generation_config={"topK": 3})
    assert [(a.text or "").removeprefix("Simulated answer to: ") for a in answers] == [
        "plain text",
        "a dict",
        "an SDK Content",
    ]
    (batch,) = sim.store.batches.values()
    sent = [r["request"] for r in batch.requests]
    assert all(r["systemInstruction"]["parts"][0]["text"] == "Be brief." for r in sent)
    assert sent[1]["generationConfig"] == {"topK": 3, "temperature": 0}  # its own kept


def test_embeddings_come_back_in_input_order(sim: SimulatorServer, tmp_path: Path) -> None:
    texts = ["apple", "pear", "apple", *(f"text {n}" for n in range(197))]
    vectors = quick_run(tmp_path, sim, keep_remote=True).embed(texts, output_dimensionality=8)
    assert [v.key for v in vectors] == [str(n) for n in range(200)]
    assert all(v.ok and len(v.values or []) == 8 for v in vectors)
    assert vectors[0].values == vectors[2].values != vectors[1].values
    (batch,) = sim.store.batches.values()
    assert batch.embeddings and batch.model == "models/gemini-embedding-001"
    assert sim.sim.calls[r"POST /v1beta/models/gemini-embedding-001:asyncBatchEmbedContent"] == 1


def test_failed_jobs_raise_with_every_answer_and_retry_fills_them_in(
    tmp_path: Path,
) -> None:
    scenario = fast_scenario()
    scenario.plans = [("*", JobPlan(pending_s=0, running_s=0, outcome="FAILED"))]
    server = SimulatorServer(scenario)
    server.start()
    try:
        run = quick_run(tmp_path, server)
        with pytest.raises(gembatch.JobFailed, match="retry_failed") as failed:
            run.map(prompts(10))
        assert len(failed.value.answers) == 10 and failed.value.jobs
        assert isinstance(failed.value, gembatch.GembatchError)
        scenario.plans = []
        answers = run.retry_failed()
        assert all(a.ok for a in answers) and len(answers) == 10
    finally:
        server.stop()


def test_errors_are_named_after_what_happened(sim: SimulatorServer, tmp_path: Path) -> None:
    with pytest.raises(gembatch.BadInput, match="unique"):
        quick_run(tmp_path, sim).map(["a", "b"], key=lambda p: "same")
    with pytest.raises(gembatch.BudgetExceeded, match="budget"):
        quick_run(tmp_path, sim, max_cost=0.000001).map(prompts(50), name="dear")
    assert sim.store.creates == 0
    refusing = SimulatorServer(fast_scenario(api_key="the-right-key"))
    refusing.start()
    try:
        with pytest.raises(gembatch.KeyRejected):
            quick_run(tmp_path / "k", refusing).map(["x"])
    finally:
        refusing.stop()
    job_file = JobFile(tmp_path / "job-info.jsonl")
    with job_file.poller_lock(), pytest.raises(gembatch.PollerBusy, match="already"):
        quick_run(tmp_path, sim, follow_other_poller=False).map(["y"], name="busy")


SCRIPT = """
import sys
import gembatch

run = gembatch.Run("job-info.jsonl", interval=0.05, progress=False)
answers = run.map([f"prompt {n:03d}" for n in range(int(sys.argv[1]))])
print(len(answers), sum(a.ok for a in answers))
"""


@pytest.fixture
def slow_sim() -> Iterator[SimulatorServer]:
    server = SimulatorServer(Scenario(seed=5, default_plan=JobPlan(pending_s=0.3, running_s=0.6)))
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("moment", ["mid-create", "mid-poll"])
def test_killed_mid_run_and_called_again_every_answer_once_and_one_job(
    slow_sim: SimulatorServer, tmp_path: Path, moment: str
) -> None:
    """kill -9 while the create is in flight (the server made the job, its reply never
    came) or while polling; `map` again adopts the job instead of paying twice."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    gate = slow_sim.sim.hold(CREATE, after_acting=True) if moment == "mid-create" else None
    job_file = tmp_path / "job-info.jsonl"

    def created() -> bool:
        return job_file.exists() and any(r.batch_name for r in JobFile.load(job_file).records)

    child = subprocess.Popen(
        [sys.executable, str(script), "40"], cwd=tmp_path, env=cli_env(slow_sim)
    )
    try:
        if gate is not None:
            wait_until(lambda: slow_sim.sim.held == 1, "the create to reach the server")
        else:
            wait_until(created, "the job to be recorded")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        child.kill()
        if gate is not None:
            gate.set()
    again = subprocess.run(
        [sys.executable, str(script), "40"],
        cwd=tmp_path,
        env=cli_env(slow_sim),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == ["40", "40"]
    assert slow_sim.store.creates == 1
    results = (tmp_path / "batch/results/map.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["key"] for line in results) == sorted(map(str, range(40)))


def test_the_command_line_sees_a_library_run(sim: SimulatorServer, tmp_path: Path) -> None:
    quick_run(tmp_path, sim).map(prompts(5))
    status = run_cli("status", "--json", cwd=tmp_path, sim=sim)
    assert status.returncode == 0, status.stderr
    (job,) = json.loads(status.stdout)["jobs"]
    assert job["input_file"] == "batch/map.jsonl" and job["results_file"]


def test_progress_in_a_terminal_line_or_nothing(
    sim: SimulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quick_run(tmp_path, sim).map(prompts(3))
    assert capsys.readouterr().err == ""  # progress=False: silent
    quick_run(tmp_path, sim, progress="log").map(prompts(4), name="logged")
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("logged: 100% · 4/4 requests · 1 of 1 job done") and "done" in last


def test_a_run_follows_the_monitor_that_polls_its_job_file(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """`gembatch poll --watch` holds the job file: the library submits, then follows
    the file that poller keeps, and returns when the poller has saved its results."""
    quick_run(tmp_path, sim).map(prompts(2), name="first")
    poller = subprocess.Popen(
        [sys.executable, "-m", "gembatch", "poll", "--plain", "--watch", "--interval", "1"],
        cwd=tmp_path,
        env=cli_env(sim),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(
            (tmp_path / ".gembatch/job-info.jsonl.poller").exists, "the poller to take the file"
        )
        answers = quick_run(tmp_path, sim).map(prompts(7), name="second")
        assert [a.ok for a in answers] == [True] * 7
    finally:
        poller.terminate()
        said, _ = poller.communicate(timeout=30)
    assert "batch/second.jsonl" in said  # the poller did the work, not a second poller


async def test_watch_yields_the_engine_events_and_ends_with_the_run(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    import asyncio

    from gembatch.engine.events import ResultsSaved

    run = quick_run(tmp_path, sim)
    seen: list[object] = []

    async def watch() -> None:
        async for event in run.watch():
            seen.append(event)

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0)  # (the watcher registers before the run starts)
    answers = await run.map_async(prompts(5))
    await asyncio.wait_for(watcher, timeout=10)  # ends by itself with the run
    saved = [e for e in seen if isinstance(e, ResultsSaved)]
    assert len(answers) == 5 and len(saved) == 1 and saved[0].lines == 5
