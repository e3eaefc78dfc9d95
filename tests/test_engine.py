"""The poll engine against the simulator: outcomes, data-safety order, resume, faults."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from gembatch import states
from gembatch.cli.demo import seed_jobs
from gembatch.engine.events import (
    CycleFinished,
    Event,
    JobChecking,
    PollFailed,
    RemoteDeleted,
    ResultsSaved,
)
from gembatch.engine.loop import Engine
from gembatch.gemini.client import AuthError
from gembatch.jobfile.file import JobFile, JobRecord
from gembatch.results.files import results_path_for
from gembatch.simulator import FaultRule, Faults, JobPlan, SimulatorServer
from tests.conftest import engine_for, make_client, read_jsonl

OUTCOMES = ["SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"]


async def run_until_done(engine: Engine, max_cycles: int = 1000) -> int:
    """Cycle as the poller does, waiting its interval between cycles: the simulator's
    jobs end by its clock, and a cycle over a few jobs can take well under a
    millisecond, so a count of cycles alone says nothing about time passing."""
    for cycle in range(1, max_cycles + 1):
        finished = await engine.run_cycle()
        if finished.all_done:
            engine.close()
            return cycle
        await asyncio.sleep(finished.next_poll_in or engine.options.interval_s)
    raise AssertionError(f"not done after {max_cycles} cycles")


def assert_complete(sim: SimulatorServer, job_file: JobFile) -> None:
    """Every result saved and whole; every finished remote job and file deleted."""
    reread = JobFile.load(job_file.path)
    left_to_expire = set()
    for record in reread.records:
        kind = states.info(record.state).kind
        assert record.is_terminal, record.raw
        assert record.remote_deleted, record.raw
        left_to_expire.update(record.data.get("left_to_expire", []))
        if kind is states.Kind.SUCCEEDED:
            rows = read_jsonl(job_file.path.parent / str(record.results_file))
            assert len(rows) == record.request_count
            # Rows come back in any order (§0.12): every input key once, joined by key.
            inputs = read_jsonl(job_file.path.parent / record.input_file)
            assert sorted(row["key"] for row in rows) == sorted(r["key"] for r in inputs)
    assert not sim.store.batches, "remote batch jobs left behind"
    # An output the Files API cannot delete (its 42-character id, §0.11) is left to
    # expire on its own, and recorded so; nothing else is left.
    assert {f"files/{f}" for f in sim.store.files} == left_to_expire, "remote files left behind"
    assert all(
        d.state in {"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED", "FILE"}
        for d in sim.store.deletions
    ), "a job was deleted before it finished"


async def test_fifty_jobs_with_mixed_outcomes(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.plans = [
        (
            f"batch/{n:03d}.jsonl",
            JobPlan(
                pending_s=0.05 * (n % 3),
                running_s=0.1 * (n % 5),
                outcome=OUTCOMES[n % 4],
                failed_row_rate=0.2 if n % 7 == 0 else 0.0,
            ),
        )
        for n in range(50)
    ]
    client = make_client(sim)
    job_file = await seed_jobs(client, tmp_path, [(f"{n:03d}.jsonl", 5 + n) for n in range(50)])
    engine, events = engine_for(sim, job_file)
    await run_until_done(engine)
    assert_complete(sim, job_file)
    saved = [e for e in events if isinstance(e, ResultsSaved)]
    assert len(saved) == len({e.job.key for e in saved})
    succeeded = [e for e in saved if states.info(e.job.state).kind is states.Kind.SUCCEEDED]
    assert len(succeeded) == 13  # n % 4 == 0 succeed
    # Some failed and cancelled jobs carry the rows they finished (§0.5): kept too.
    assert len(saved) > len(succeeded)
    rows_failed = sum(e.failed_rows for e in saved)
    assert rows_failed > 0
    records = {r.input_file: r for r in JobFile.load(job_file.path).records}
    assert states.short_name(records["batch/001.jsonl"].state) == "FAILED"
    assert records["batch/028.jsonl"].raw["failed_rows"] > 0  # row failures are counted
    assert records["batch/028.jsonl"].raw["usage"]["totalTokenCount"] > 0


async def test_running_jobs_are_never_deleted(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.plans = [
        ("batch/slow.jsonl", JobPlan(0, 3600)),
        ("batch/odd.jsonl", JobPlan(0, 0)),
    ]
    job_file = await seed_jobs(
        make_client(sim), tmp_path, [("slow.jsonl", 3), ("fast.jsonl", 3), ("odd.jsonl", 3)]
    )
    odd = next(r for r in job_file.records if r.input_file == "batch/odd.jsonl")
    sim.store.force_state(str(odd.batch_name), "SOMETHING_NEW")  # a state we do not know
    engine, events = engine_for(sim, job_file)
    for _ in range(3):
        await engine.run_cycle()
    engine.close()
    deleted = {e.job.input_file for e in events if isinstance(e, RemoteDeleted)}
    assert deleted == {"batch/fast.jsonl"}
    assert [d.state for d in sim.store.deletions if d.name.startswith("batches/")] == ["SUCCEEDED"]
    reread = {r.input_file: r for r in JobFile.load(job_file.path).records}
    assert reread["batch/odd.jsonl"].state == "BATCH_STATE_SOMETHING_NEW"  # kept raw
    assert not reread["batch/odd.jsonl"].is_terminal


async def test_results_are_recorded_before_the_remote_is_deleted(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 4)])
    seen_on_disk_at_delete: list[dict] = []
    original = sim.store.delete_batch

    def spying_delete(batch_id: str) -> None:
        seen_on_disk_at_delete.append(read_jsonl(job_file.path)[0])
        original(batch_id)

    sim.store.delete_batch = spying_delete  # type: ignore[method-assign]
    engine, _ = engine_for(sim, job_file)
    await run_until_done(engine)
    (on_disk,) = seen_on_disk_at_delete
    assert on_disk["batch"]["state"] == "JOB_STATE_SUCCEEDED"
    assert on_disk["results_file"] == "batch/results/a.jsonl"
    assert (tmp_path / "batch/results/a.jsonl").is_file()


async def test_injected_error_storm_still_finishes(sim: SimulatorServer, tmp_path: Path) -> None:
    job_file = await seed_jobs(make_client(sim), tmp_path, [(f"{n}.jsonl", 3) for n in range(12)])
    sim.scenario.faults = Faults(error_rate=0.3, error_codes=(429, 500))
    engine, _events = engine_for(sim, job_file)
    await run_until_done(engine, max_cycles=60)
    sim.scenario.faults = Faults()
    assert_complete(sim, job_file)
    errors = [status for _, _, status in sim.sim.request_log if status >= 400]
    assert len(errors) > 10  # the storm really happened


async def test_one_rewrite_per_cycle_however_many_finish(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    job_file = await seed_jobs(make_client(sim), tmp_path, [(f"{n}.jsonl", 2) for n in range(40)])
    engine, events = engine_for(sim, job_file)
    before = job_file.rewrites
    first = await engine.run_cycle()
    assert sum(isinstance(e, ResultsSaved) for e in events) == 40
    # The 40 results in one rewrite, then the 40 deletions in one more, written at once
    # so that a kill during the next cycle cannot lose them.
    assert first.rewrites - before == 2
    assert all(r.remote_deleted for r in JobFile.load(job_file.path).records)
    await engine.run_cycle()  # nothing left to record
    assert job_file.rewrites - before == 2


async def test_restart_finishes_what_a_crash_left(sim: SimulatorServer, tmp_path: Path) -> None:
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 5), ("b.jsonl", 5)])
    # Crash 1: results renamed into place but the job file never updated.
    engine, _ = engine_for(sim, job_file)
    a, b = job_file.records
    remote = await engine.client.get_batch(str(a.batch_name))
    await engine.results.save(a, remote)
    assert (tmp_path / "batch/results/a.jsonl").is_file()
    # Crash 2: b recorded as done with results, but the remote not yet deleted.
    b.ensure_batch()["state"] = "JOB_STATE_SUCCEEDED"
    (tmp_path / "batch/results").mkdir(exist_ok=True)
    engine2, _ = engine_for(sim, job_file)
    remote_b = await engine2.client.get_batch(str(b.batch_name))
    await engine2.results.save(b, remote_b)
    job_file.save()
    restarted, _events = engine_for(sim, JobFile.load(job_file.path))
    await run_until_done(restarted)
    assert_complete(sim, job_file)


async def test_stale_partial_download_is_cleared(sim: SimulatorServer, tmp_path: Path) -> None:
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 5)])
    results = tmp_path / "batch/results"
    results.mkdir(parents=True)
    (results / ".a.jsonl.x1y2.part").write_text('{"key": "torn')
    engine, _ = engine_for(sim, job_file)
    await run_until_done(engine)
    assert sorted(p.name for p in results.iterdir()) == ["a.jsonl"]


async def test_job_gone_from_server_is_marked_missing(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.default_plan = JobPlan(0, 3600)
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 2), ("b.jsonl", 2)])
    sim.store.delete_batch(str(job_file.records[0].batch_name).split("/")[1])
    sim.store.deletions.clear()
    engine, events = engine_for(sim, job_file)
    await engine.run_cycle()
    assert not JobFile.load(job_file.path).records[0].missing  # one 404 is not enough
    await engine.run_cycle()
    engine.close()
    a, b = JobFile.load(job_file.path).records
    assert a.missing and a.effective_state == states.MISSING
    assert a.state == job_file.records[0].state  # the last known remote state is kept
    assert states.short_name(b.state) == "RUNNING"  # one job's error never stops the others
    checks_before = len(events)
    await engine.run_cycle()
    checked = [e.key for e in events[checks_before:] if isinstance(e, JobChecking)]
    assert a.key not in checked  # not retried forever


async def test_succeeded_but_output_not_ready_is_retried(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    sim.scenario.default_plan = JobPlan(0, 0, output_ready_delay_s=3600)
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 2)])
    engine, events = engine_for(sim, job_file)
    await engine.run_cycle()
    record = JobFile.load(job_file.path).records[0]
    assert record.results_file is None and not record.remote_deleted
    assert any(isinstance(e, PollFailed) and "not available yet" in e.message for e in events)
    batch = sim.store.batches[str(record.batch_name).split("/")[1]]
    batch.plan = JobPlan(0, 0)
    await run_until_done(engine)
    assert_complete(sim, job_file)


async def test_inline_job_results_are_written_with_keys(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    client = make_client(sim)
    from google.genai import types  # the SDK builds the inline request as a user would

    sdk = client.sdk
    requests = [types.InlinedRequest(contents=f"q{n}", metadata={"key": f"k{n}"}) for n in range(3)]
    job = await sdk.aio.batches.create(model="gemini-2.5-flash", src=requests)
    path = tmp_path / "job-info.jsonl"
    path.write_text(
        json.dumps({"input_file": "inline/questions.jsonl", "batch": {"name": job.name}}) + "\n"
    )
    engine, _ = engine_for(sim, JobFile.load(path))
    await run_until_done(engine)
    rows = read_jsonl(tmp_path / "inline/results/questions.jsonl")
    # Inline rows come back in any order too (§0.12): each joined to its own key.
    assert sorted(row["key"] for row in rows) == ["k0", "k1", "k2"]
    for row in rows:
        text = row["response"]["candidates"][0]["content"]["parts"][0]["text"]
        assert text.endswith("q" + row["key"][1:])


async def test_keep_remote_saves_results_and_deletes_nothing(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 3)])
    engine, _ = engine_for(sim, job_file, keep_remote=True)
    await run_until_done(engine)
    assert (tmp_path / "batch/results/a.jsonl").is_file()
    assert sim.store.batches and not sim.store.deletions


async def test_auth_error_stops_the_cycle_with_a_clear_message(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 3)])
    sim.scenario.api_key = "rotated"
    engine, _ = engine_for(sim, job_file)
    with pytest.raises(AuthError, match="API key was rejected"):
        await engine.run_cycle()
    assert sim.store.batches and not sim.store.deletions


@pytest.mark.parametrize(
    "input_file", ["../../escape.jsonl", "/etc/absolute.jsonl", "a/../../../x.jsonl", "..", ""]
)
def test_results_path_never_leaves_the_results_folder(tmp_path: Path, input_file: str) -> None:
    path = results_path_for(input_file, tmp_path, "batches/abc")
    assert path.resolve().is_relative_to(tmp_path.resolve())
    assert path.parent.name == "results"


async def test_hostile_input_path_writes_inside_the_job_folder(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 2)])
    job_file.records[0].raw["input_file"] = "../../../outside.jsonl"
    job_file.save()
    engine, _ = engine_for(sim, JobFile.load(job_file.path))
    await run_until_done(engine)
    assert (tmp_path / "results/outside.jsonl").is_file()
    assert not (tmp_path.parent / "outside.jsonl").exists()


async def test_two_jobs_with_the_same_input_name_do_not_overwrite(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 2), ("a.jsonl", 2)])
    engine, _ = engine_for(sim, job_file)
    await run_until_done(engine)
    results = {r.results_file for r in JobFile.load(job_file.path).records}
    assert len(results) == 2


async def test_cycle_finished_reports_the_next_poll(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.default_plan = JobPlan(0, 3600)
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 2)])
    engine, events = engine_for(sim, job_file)
    finished = await engine.run_cycle()
    assert isinstance(events[-1], CycleFinished)
    assert finished.next_poll_in == pytest.approx(0.01) and not finished.all_done


def test_the_command_line_starts_without_textual() -> None:
    """`status` and `--help` start fast: the command line imports Textual only in the
    commands that show a screen (the engine's side never does: the import contracts
    in pyproject.toml, tests/test_lint.py)."""
    import subprocess

    code = "import sys; import gembatch.cli; print('textual' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}, check=True
    ).stdout.strip()
    assert out == "False"


async def test_records_without_batch_name_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "job-info.jsonl"
    path.write_text(json.dumps({"input_file": "batch/1.jsonl", "submit_id": "s1"}) + "\n")
    events: list[Event] = []
    from gembatch.gemini.client import GeminiClient

    engine = Engine(
        JobFile.load(path),
        GeminiClient(api_key="k", base_url="http://127.0.0.1:9"),
        emit=events.append,
    )
    engine.announce()
    (loaded,) = events
    assert any("without a batch name" in p for p in loaded.problems)  # type: ignore[attr-defined]
    # Not "all done": the part was never created. Its submit is dead and no create of
    # it was sent, so the poller names it and what to do, instead of waiting forever.
    assert not engine.all_done()
    finished = await engine.run_cycle()
    assert "batch/1.jsonl" in finished.stalled and "gembatch submit" in finished.stalled
    assert isinstance(JobFile.load(path).records[0], JobRecord)


def _calls(sim: SimulatorServer, kind: str) -> int:
    """Count list calls (`/batches`) or per-job gets (`/batches/ID`) the server answered."""
    per_job = [p for m, p, _ in sim.sim.request_log if m == "GET" and "/batches/" in p]
    listing = [p for m, p, _ in sim.sim.request_log if m == "GET" and p.endswith("/batches")]
    return len(per_job if kind == "get" else listing)


async def test_many_running_jobs_are_read_through_the_list(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    sim.scenario.default_plan = JobPlan(0, 3600)
    job_file = await seed_jobs(make_client(sim), tmp_path, [(f"{n}.jsonl", 1) for n in range(40)])
    engine, _ = engine_for(sim, job_file)
    gets, lists = _calls(sim, "get"), _calls(sim, "list")
    await engine.run_cycle()
    assert _calls(sim, "get") == gets  # no per-job calls at all
    assert _calls(sim, "list") == lists + 1  # 40 jobs fit one page
    done = job_file.records[:3]
    for record in done:
        sim.store.force_state(str(record.batch_name), "SUCCEEDED")
    gets = _calls(sim, "get")
    await engine.run_cycle()
    assert _calls(sim, "get") == gets + 3  # finished ones are read in full for their output
    assert all((tmp_path / "batch/results" / Path(r.input_file).name).is_file() for r in done)


async def test_failed_listing_falls_back_to_one_get_per_job(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    sim.scenario.default_plan = JobPlan(0, 3600)
    job_file = await seed_jobs(make_client(sim), tmp_path, [(f"{n}.jsonl", 1) for n in range(40)])
    sim.scenario.faults.rules.append(FaultRule(r"GET /v1beta/batches$", 503, times=-1))
    engine, events = engine_for(sim, job_file)
    gets = _calls(sim, "get")
    finished = await engine.run_cycle()
    assert finished.checked == 40
    assert _calls(sim, "get") == gets + 40
    assert any(
        isinstance(e, PollFailed) and "checking them one by one" in e.message for e in events
    )


async def test_download_retried_after_a_failure_is_complete(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 30)])
    sim.scenario.faults.rules.append(FaultRule(r":download$", 503, times=1))
    engine, events = engine_for(sim, job_file)
    await run_until_done(engine)
    rows = read_jsonl(tmp_path / "batch/results/a.jsonl")
    assert [row["key"] for row in rows] == [f"{n:06d}" for n in range(30)]
    saved = [e for e in events if isinstance(e, ResultsSaved)]
    assert [e.lines for e in saved] == [30]


async def test_results_files_get_ordinary_permissions(sim: SimulatorServer, tmp_path: Path) -> None:
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 2)])
    engine, _ = engine_for(sim, job_file)
    await run_until_done(engine)
    mask = os.umask(0)
    os.umask(mask)
    mode = (tmp_path / "batch/results/a.jsonl").stat().st_mode & 0o777
    assert mode == 0o666 & ~mask  # not the 0600 of a temp file: others may need to read it
