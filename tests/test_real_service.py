"""Where the real Gemini service differs from what one would assume, and how paid work
is kept safe there (issue: trust on the real service). Each test drives the unmodified
SDK over HTTP against the simulator, which behaves like the real service in the way the
test names (shared/gemini-batch-api.md, section 0)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from gembatch import exit_codes
from gembatch.cli.demo import MODEL, seed_jobs, write_input
from gembatch.clock import FrozenClock
from gembatch.engine.events import OutputExpiring, PollFailed, ResultsSaved
from gembatch.gemini.client import AuthError, GeminiClient
from gembatch.intake.submit import SubmitOptions, Submitter
from gembatch.jobfile.file import JobFile, JobFileError, JobRecord, PollerBusyError
from gembatch.simulator import FaultRule, Faults, JobPlan, SimulatorServer
from tests.conftest import API_KEY, GEMBATCH, cli_env, engine_for, make_client, read_jsonl

HOUR = 3600.0


def gembatch(*args: str, cwd: Path, sim: SimulatorServer) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GEMBATCH, *args], cwd=cwd, env=cli_env(sim), capture_output=True, text=True, timeout=120
    )


def frozen_simulator(sim: SimulatorServer) -> FrozenClock:
    """The simulator's own clock, moved by the test (files expire 48 h after upload)."""
    clock = FrozenClock(time.time())
    sim.store.clock = clock.now
    return clock


async def submit_as(client: GeminiClient, job_file: JobFile, path: Path, input_file: str) -> None:
    """A job whose record names its input as `input_file` (a path outside the folder)."""
    uploaded = await client.upload_file(path, display_name=path.name)
    remote = await client.create_batch(MODEL, uploaded, display_name=input_file)
    job_file.entries.append(
        JobRecord(
            raw={
                "input_file": input_file,
                "count": 3,
                "uploaded_file_name": uploaded,
                "batch": remote.batch_record(),
            }
        )
    )
    job_file.save()


# --- 1. two inputs with one file name ----------------------------------------------------
async def test_same_file_name_in_two_folders_gets_two_results_files(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """Both finish in one cycle and wait for the one download slot; each keeps its own."""
    work = tmp_path / "work"
    work.mkdir()
    job_file = JobFile.load(work / "job-info.jsonl")
    client = make_client(sim)
    for month in ("jan", "feb"):
        path = tmp_path / "data" / month / "requests.jsonl"
        write_input(path, 3, prefix=f"{month}-")
        name = f"../data/{month}/requests.jsonl" if month == "jan" else str(path)
        await submit_as(client, job_file, path, name)
    engine, _ = engine_for(sim, JobFile.load(work / "job-info.jsonl"), downloads=1)
    await engine.run_cycle()
    engine.close()
    records = JobFile.load(work / "job-info.jsonl").records
    paths = [str(r.results_file) for r in records]
    assert len(set(paths)) == 2, paths
    for record, month in zip(records, ("jan", "feb"), strict=True):
        keys = [row["key"] for row in read_jsonl(work / str(record.results_file))]
        assert keys == [f"{month}-{n:06d}" for n in range(3)]


# --- 2. never delete on the job file's word ----------------------------------------------
async def test_poll_never_deletes_a_job_the_server_still_runs(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """A stale or edited record says FAILED, or SUCCEEDED with results; the server says
    RUNNING. Nothing is deleted, and the record learns the truth (design.md, step 3)."""
    sim.scenario.default_plan = JobPlan(0, 10 * HOUR)
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 2), ("b.jsonl", 2)])
    a, b = job_file.records
    a.ensure_batch()["state"] = "JOB_STATE_FAILED"
    b.ensure_batch()["state"] = "JOB_STATE_SUCCEEDED"
    (tmp_path / "batch/results").mkdir(parents=True)
    (tmp_path / "batch/results/b.jsonl").write_text('{"key": "x", "response": {}}\n' * 2)
    b.raw["results_file"] = "batch/results/b.jsonl"
    job_file.save()
    result = gembatch("poll", "--once", "--plain", cwd=tmp_path, sim=sim)
    assert result.returncode == exit_codes.EXIT_IN_PROGRESS, result.stdout + result.stderr
    assert sim.store.deletions == []
    states = [r.state for r in JobFile.load(tmp_path / "job-info.jsonl").records]
    assert states == ["JOB_STATE_RUNNING", "JOB_STATE_RUNNING"]


# --- 3. a 403 about one file is about that file ------------------------------------------
def test_expired_inputs_do_not_stop_polling(sim: SimulatorServer, tmp_path: Path) -> None:
    """Inputs expire 48 h after upload and then answer 403 "... or it may not exist"
    (§0.1, python-genai#1218): cleanup takes that as already gone; polling ends at 0."""
    clock = frozen_simulator(sim)
    sim.scenario.default_plan = JobPlan(0, 48.5 * HOUR)
    asyncio.run(seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 3), ("b.jsonl", 4)]))
    clock.advance(49 * HOUR)
    result = gembatch("poll", "--plain", "--stop-when-done", cwd=tmp_path, sim=sim)
    assert result.returncode == exit_codes.EXIT_OK, result.stdout + result.stderr
    for record in JobFile.load(tmp_path / "job-info.jsonl").records:
        assert record.remote_deleted
        assert len(read_jsonl(tmp_path / str(record.results_file))) == record.request_count
    refused = [s for _, p, s in sim.sim.request_log if p.startswith("/v1beta/files/")]
    assert 403 in refused  # the expired inputs really answered 403
    assert "check the key" not in result.stderr + result.stdout


def test_an_output_that_expired_unsaved_is_said_and_kept(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    clock = frozen_simulator(sim)
    sim.scenario.default_plan = JobPlan(0, 0)
    # Only the server's clock moves here, so the client must learn from files.get that
    # the output is gone: asked for by name, as the real Files API refuses a real
    # output's id (§0.11; that case: test_real_shapes.py, judged by the end time).
    sim.scenario.files_api_id_limit = None
    asyncio.run(seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 3)]))
    clock.advance(49 * HOUR)  # nobody polled for two days: the output is gone
    result = gembatch("poll", "--plain", "--once", cwd=tmp_path, sim=sim)
    assert result.returncode == exit_codes.EXIT_SOME_FAILED, result.stdout + result.stderr
    assert "is gone from the server (expired or deleted)" in result.stdout
    (record,) = JobFile.load(tmp_path / "job-info.jsonl").records
    assert record.data["output_gone_at"] and not record.results_file
    assert sim.store.batches and not sim.store.deletions  # the record and the job kept
    again = gembatch("poll", "--plain", "--once", cwd=tmp_path, sim=sim)
    assert again.returncode == exit_codes.EXIT_SOME_FAILED  # stable, not a loop of errors
    downloads = [p for _, p, _ in sim.sim.request_log if p.endswith(":download")]
    assert len(downloads) == 1


async def test_a_refused_job_is_marked_but_the_run_goes_on(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """`batches.get` of one job answering 403 (or 404) marks that job (§0.1)."""
    sim.scenario.default_plan = JobPlan(0, 10 * HOUR)
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 2), ("b.jsonl", 2)])
    a_name = str(job_file.records[0].batch_name)
    sim.scenario.faults = Faults(rules=[FaultRule(f"GET /v1beta/{a_name}$", 403, times=-1)])
    engine, _ = engine_for(sim, job_file)
    await engine.run_cycle()
    await engine.run_cycle()
    a, b = JobFile.load(tmp_path / "job-info.jsonl").records
    assert a.missing and "refused (403)" in str(a.data["last_error"])
    assert b.state == "JOB_STATE_RUNNING" and not b.missing
    assert sim.store.batches and not sim.store.deletions


async def test_every_job_refused_is_a_key_problem(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.default_plan = JobPlan(0, 10 * HOUR)
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 2), ("b.jsonl", 2)])
    sim.scenario.faults = Faults(rules=[FaultRule(r"GET /v1beta/batches/", 403, times=-1)])
    engine, _ = engine_for(sim, job_file)
    with pytest.raises(AuthError, match="refuses every job"):
        await engine.run_cycle()
    assert not any(r.missing for r in JobFile.load(tmp_path / "job-info.jsonl").records)


# --- 4. concurrent submits ---------------------------------------------------------------
async def test_a_live_submit_keeps_its_intent(sim: SimulatorServer, tmp_path: Path) -> None:
    """Submit A has written its intent and is still uploading when submit B starts: B
    leaves it alone, so each input gets exactly one job and every job is tracked."""
    write_input(tmp_path / "a.jsonl", 3)
    write_input(tmp_path / "b.jsonl", 3)
    first = Submitter(
        JobFile.load(tmp_path / "job-info.jsonl"), make_client(sim), SubmitOptions(), lambda _: None
    )
    intent = first.new_intent("a.jsonl", 3, {})  # A is alive, mid-submission
    first.job_file.append(intent)
    second = await asyncio.to_thread(gembatch, "submit", "b.jsonl", cwd=tmp_path, sim=sim)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"a.jsonl: being submitted by process {os.getpid()}" in second.stdout
    await first.finish(intent, tmp_path / "a.jsonl")  # A's upload and create complete
    first.close()
    records = JobFile.load(tmp_path / "job-info.jsonl").records
    assert sorted(r.input_file for r in records) == ["a.jsonl", "b.jsonl"]
    assert len(sim.store.batches) == 2
    assert {r.batch_name for r in records} == {b.name for b in sim.store.batches.values()}


# --- 5. create is not idempotent ---------------------------------------------------------
def test_a_create_whose_reply_is_lost_is_not_billed_twice(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """The server creates the job, then the reply is lost (503). Before any second
    create, the jobs are listed and the marker found (§0.3)."""
    sim.scenario.faults = Faults(
        rules=[FaultRule(r"POST /v1beta/models/.*:batchGenerateContent", 503, after_acting=True)]
    )
    write_input(tmp_path / "a.jsonl", 3)
    result = gembatch("submit", "a.jsonl", cwd=tmp_path, sim=sim)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(sim.store.batches) == 1
    (batch,) = sim.store.batches.values()
    assert batch.display_name.startswith("[gb:")  # the marker leads, truncation-proof
    (record,) = JobFile.load(tmp_path / "job-info.jsonl").records
    assert record.batch_name == batch.name


# --- 6. short outputs --------------------------------------------------------------------
async def test_a_short_output_is_kept_and_fetched_again_with_pauses(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """No source promises lines == requestCount (§0.5): what came is kept, the missing
    keys are named, the download is retried with growing pauses, and after three equal
    downloads the output is taken as final with the gap counted as failed rows."""
    sim.scenario.default_plan = JobPlan(0, 0, dropped_output_rows=2)
    seeded = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 6)])
    clock = FrozenClock(time.time())
    engine, _ = engine_for(sim, JobFile.load(seeded.path, clock))
    downloads = lambda: sum(p.endswith(":download") for _, p, _ in sim.sim.request_log)  # noqa: E731
    await engine.run_cycle()
    record = engine.job_file.records[0]
    kept = tmp_path / "batch/results/a.incomplete.jsonl"
    assert len(read_jsonl(kept)) == 4
    assert record.data["incomplete_results_file"] == "batch/results/a.incomplete.jsonl"
    assert "missing keys: 000004, 000005" in str(record.data["last_error"])
    assert sim.store.batches and not sim.store.deletions
    await engine.run_cycle()
    assert downloads() == 1  # backing off, not fetching again every cycle
    clock.advance(61)
    await engine.run_cycle()
    assert downloads() == 2 and not record.results_file
    clock.advance(121)
    await engine.run_cycle()
    engine.close()
    assert downloads() == 3
    record = JobFile.load(seeded.path).records[0]
    assert record.results_file == "batch/results/a.jsonl"
    assert record.data["failed_rows"] == 2 and record.data["missing_rows"] == 2
    assert len(read_jsonl(tmp_path / "batch/results/a.jsonl")) == 4
    assert not kept.exists()


async def test_rows_fail_by_missing_response_not_by_a_status_field(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """The service copies extra input fields into output lines (googleapis/go-genai#513),
    so a user's own `status` field is not a failure; a line without `response` is."""
    sim.scenario.default_plan = JobPlan(0, 0, failed_row_rate=0.5)
    source = tmp_path / "a.jsonl"
    write_input(source, 20)
    lines = [{**row, "status": "user-field"} for row in read_jsonl(source)]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    job_file = JobFile.load(tmp_path / "job-info.jsonl")
    await submit_as(make_client(sim), job_file, source, "a.jsonl")
    engine, events = engine_for(sim, job_file)
    await engine.run_cycle()
    saved = next(e for e in events if isinstance(e, ResultsSaved))
    rows = read_jsonl(tmp_path / "results/a.jsonl")
    assert all(row["status"] == "user-field" for row in rows)  # the simulator copies it too
    assert saved.failed_rows == sum("response" not in row for row in rows)
    assert 0 < saved.failed_rows < 20
    assert not any(
        "failed rows, the server counted" in e.message for e in events if isinstance(e, PollFailed)
    )


# --- 7. one job file, two names ----------------------------------------------------------
def test_a_symlinked_job_file_shares_the_poller_lock_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "job-info.jsonl"
    real.write_text('{"input_file": "a.jsonl"}\n')
    link = tmp_path / "alias.jsonl"
    link.symlink_to(real)
    with (
        JobFile.load(real).poller_lock(),
        pytest.raises(PollerBusyError),
        JobFile.load(link).poller_lock(),
    ):
        pass
    through_link = JobFile.load(link)
    through_link.records[0].raw["note"] = "changed through the link"
    through_link.save()
    assert link.is_symlink() and "changed through the link" in real.read_text()


def test_a_hard_linked_job_file_is_refused_with_a_reason(tmp_path: Path) -> None:
    real = tmp_path / "job-info.jsonl"
    real.write_text('{"input_file": "a.jsonl"}\n')
    os.link(real, tmp_path / "other.jsonl")
    with pytest.raises(JobFileError, match="has 2 hard links"):
        JobFile.load(real)


# --- 8. the key never stored -------------------------------------------------------------
def test_a_server_message_quoting_the_key_is_stored_without_it(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    sim.scenario.default_plan = JobPlan(
        0, 0, outcome="FAILED", error_message=f"Request with key={API_KEY} was refused."
    )
    asyncio.run(seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 2)]))
    result = gembatch("poll", "--plain", "--once", cwd=tmp_path, sim=sim)
    status = gembatch("status", "--json", cwd=tmp_path, sim=sim)
    assert "Request with key=*** was refused" in (tmp_path / "job-info.jsonl").read_text()
    for text in ((tmp_path / "job-info.jsonl").read_text(), result.stdout, status.stdout):
        assert API_KEY not in text


# --- 9. the rest of section 0 ------------------------------------------------------------
async def test_opaque_page_tokens_are_encoded(sim: SimulatorServer, tmp_path: Path) -> None:
    """Real page tokens are opaque (§0.6); ours hold `+` and `=`, which break unencoded."""
    sim.scenario.default_plan = JobPlan(0, 10 * HOUR)
    sim.scenario.max_page_size = 10
    job_file = await seed_jobs(make_client(sim), tmp_path, [(f"{n}.jsonl", 1) for n in range(40)])
    engine, events = engine_for(sim, job_file)
    sim.sim.request_log.clear()
    await engine.run_cycle()
    lists = [s for m, p, s in sim.sim.request_log if p == "/v1beta/batches"]
    assert lists == [200, 200, 200, 200]
    gets = [p for m, p, _ in sim.sim.request_log if m == "GET" and p.startswith("/v1beta/batches/")]
    assert gets == [] and not [e for e in events if isinstance(e, PollFailed)]


async def test_a_long_retry_delay_is_honoured_not_cut_short(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """A 429 with RetryInfo "53s" (python-genai#1875) is not retried after 30 s: the
    cycle ends and the next one waits the full 53 s."""
    sim.scenario.default_plan = JobPlan(0, 10 * HOUR)
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 1)])
    name = str(job_file.records[0].batch_name)
    sim.scenario.faults = Faults(rules=[FaultRule(f"GET /v1beta/{name}$", 429, retry_delay="53s")])
    engine, _ = engine_for(sim, job_file)
    sim.sim.request_log.clear()
    started = time.monotonic()
    finished = await engine.run_cycle()
    assert time.monotonic() - started < 20  # no inline wait of 30 s or more
    assert finished.next_poll_in is not None and finished.next_poll_in >= 53
    assert sum(p == f"/v1beta/{name}" for _, p, _ in sim.sim.request_log) == 1


@pytest.mark.parametrize("delay", ["45.837906927s", "0.25s"])
async def test_a_fractional_retry_delay_is_honoured_to_the_millisecond(
    sim: SimulatorServer, tmp_path: Path, delay: str
) -> None:
    """RetryInfo delays can be fractional (shared/gemini-batch-api.md §0.15): a long one
    is the next cycle's wait to the millisecond; a short one is slept inside the call
    and the call then succeeds."""
    sim.scenario.default_plan = JobPlan(0, 10 * HOUR)
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 1)])
    name = str(job_file.records[0].batch_name)
    sim.scenario.faults = Faults(rules=[FaultRule(f"GET /v1beta/{name}$", 429, retry_delay=delay)])
    engine, events = engine_for(sim, job_file)
    finished = await engine.run_cycle()
    seconds = float(delay[:-1])
    if seconds > 30:
        assert finished.next_poll_in is not None
        assert abs(finished.next_poll_in - seconds) < 0.001
    else:
        assert finished.errors == 0 and not [e for e in events if isinstance(e, PollFailed)]


async def test_an_upload_chunk_may_take_longer_than_an_api_call(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """Each 8 MiB chunk gets the upload's own timeout, not the 60 s of a JSON call."""
    sim.scenario.faults = Faults(slow=[(r"POST /upload/v1beta/files\?upload_id=", 1.5)])
    write_input(tmp_path / "a.jsonl", 3)
    client = make_client(sim, timeout_s=0.5)
    name = await client.upload_file(tmp_path / "a.jsonl", display_name="a.jsonl")
    assert name.startswith("files/")
    await client.close()


async def test_output_expiry_comes_from_the_file(sim: SimulatorServer, tmp_path: Path) -> None:
    """The warning uses the output file's expirationTime (§0.9), not 48 h after the end."""
    sim.scenario.file_ttl_s = 10 * HOUR
    sim.scenario.default_plan = JobPlan(0, 0, dropped_output_rows=1)  # the save fails
    # Reading expirationTime needs files.get, which a real output's 42-character id is
    # refused (§0.11): asked for by name. The real case: test_real_shapes.py.
    sim.scenario.files_api_id_limit = None
    seeded = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 3)])
    clock = FrozenClock(time.time())
    engine, events = engine_for(sim, JobFile.load(seeded.path, clock))
    await engine.run_cycle()
    record = engine.job_file.records[0]
    assert record.data["output_expires_at"]
    assert not [e for e in events if isinstance(e, OutputExpiring)]
    clock.advance(3 * HOUR)  # 7 h left: inside the 8 h warning
    await engine.run_cycle()
    assert [e.job.input_file for e in events if isinstance(e, OutputExpiring)] == ["batch/a.jsonl"]


async def test_files_left_by_a_cleanup_cut_short_are_deleted(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """A run deleted the batch job and was killed before its files went: the next run
    sees the job gone (twice), and deletes what is left of it."""
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 3)])
    keeper, _ = engine_for(sim, job_file, keep_remote=True)
    await keeper.run_cycle()
    keeper.close()
    sim.store.delete_batch(str(job_file.records[0].batch_name).split("/")[1])
    assert len(sim.store.files) == 2  # the uploaded input and the output are left
    engine, _ = engine_for(sim, JobFile.load(job_file.path))
    await engine.run_cycle()
    await engine.run_cycle()
    engine.close()
    (record,) = JobFile.load(job_file.path).records
    assert record.remote_deleted and not record.missing
    # The input is deleted; the output's 42-character id cannot be (§0.11): it is left
    # to expire on its own, and recorded so.
    (left,) = sim.store.files
    assert record.data["left_to_expire"] == [f"files/{left}"] and left.startswith("batch-")
