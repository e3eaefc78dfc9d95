"""Finishing on the real service (issue: finish on the real service). The simulator's
defaults are the real service's shapes; each test says which one it relies on and where
that behaviour is documented (shared/gemini-batch-api.md, section 0, and the trackers)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from google import genai
from google.genai import errors

from gembatch.cli.demo import seed_jobs, write_input
from gembatch.clock import FrozenClock
from gembatch.engine.events import PollFailed, QueueNote, RemoteDeleted
from gembatch.intake.submit import SubmitOptions, Submitter
from gembatch.jobfile.file import JobFile
from gembatch.simulator import FaultRule, JobPlan, SimulatorServer
from tests.conftest import (
    API_KEY,
    as_inline,
    engine_for,
    make_client,
    read_jsonl,
    run_cli,
    started_cli,
)


def sdk(sim: SimulatorServer, version: str = "v1beta") -> genai.Client:
    """The unmodified SDK, as a user's own script would build it."""
    return genai.Client(
        vertexai=False,
        api_key=API_KEY,
        http_options={"base_url": sim.base_url, "api_version": version},
    )


def upload(client: genai.Client, path: Path) -> str:
    return str(client.files.upload(file=path, config={"mime_type": "application/json"}).name)


# --- the simulator's defaults -----------------------------------------------------------
def test_batch_ids_are_36_characters_and_their_outputs_unmanageable(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """§0.11 (python-genai#1759, #1613; js-genai#1227; go-genai#436): a batch id is 36
    characters, so its output `files/batch-<36>` is 42; files.get and files.delete refuse
    ids over 40 characters, while the download path serves the file."""
    client = sdk(sim)
    write_input(tmp_path / "in.jsonl", 3)
    job = client.batches.create(model="gemini-2.5-flash", src=upload(client, tmp_path / "in.jsonl"))
    assert job.name is not None
    assert len(job.name.removeprefix("batches/")) == 36
    done = client.batches.get(name=job.name)
    output = done.dest.file_name if done.dest else None
    assert output == f"files/batch-{job.name.removeprefix('batches/')}"
    for refused in (
        lambda: client.files.get(name=output),
        lambda: client.files.delete(name=output),
    ):
        with pytest.raises(errors.ClientError) as caught:
            refused()
        assert caught.value.code == 400
        assert "cannot be more than 40 characters" in str(caught.value.message)
    assert len(client.files.download(file=output).splitlines()) == 3


def test_output_rows_come_back_in_an_order_of_their_own(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """§0.12 (python-genai#1909; a public post-mortem of 17,148 scrambled pages): file
    and inline outputs alike. `output_order="input"` asks for the friendly order."""
    client = sdk(sim)
    write_input(tmp_path / "in.jsonl", 20)
    job = client.batches.create(model="gemini-2.5-flash", src=upload(client, tmp_path / "in.jsonl"))
    done = client.batches.get(name=str(job.name))
    assert done.dest and done.dest.file_name
    rows = [
        json.loads(line) for line in client.files.download(file=done.dest.file_name).splitlines()
    ]
    keys = [row["key"] for row in rows]
    assert sorted(keys) == [f"{n:06d}" for n in range(20)] and keys != sorted(keys)
    inline = client.batches.create(
        model="gemini-2.5-flash",
        src=as_inline(
            [
                {"contents": [{"parts": [{"text": f"q{n}"}]}], "metadata": {"key": f"k{n:02d}"}}
                for n in range(20)
            ]
        ),
    )
    responses = client.batches.get(name=str(inline.name)).dest.inlined_responses  # type: ignore[union-attr]
    inline_keys = [r.metadata["key"] for r in responses]  # type: ignore[index,union-attr]
    assert sorted(inline_keys) == [f"k{n:02d}" for n in range(20)] and inline_keys != sorted(
        inline_keys
    )
    sim.scenario.output_order = "input"
    again = client.batches.create(
        model="gemini-2.5-flash", src=upload(client, tmp_path / "in.jsonl")
    )
    output = client.batches.get(name=str(again.name)).dest.file_name  # type: ignore[union-attr]
    in_order = [
        json.loads(line)["key"] for line in client.files.download(file=str(output)).splitlines()
    ]
    assert in_order == sorted(in_order)


def test_failed_and_cancelled_jobs_can_carry_partial_output(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """§0.5: nothing says a FAILED or CANCELLED job has no output; the default gives some
    of them the rows they finished (here all, by name: `partial_output_rate=1`)."""
    sim.scenario.partial_output_rate = 1.0
    sim.scenario.default_plan = JobPlan(0, 10, outcome="FAILED")
    client = sdk(sim)
    write_input(tmp_path / "in.jsonl", 10)
    job = client.batches.create(model="gemini-2.5-flash", src=upload(client, tmp_path / "in.jsonl"))
    sim.store.clock = lambda: 1e12  # long after it ended
    done = client.batches.get(name=str(job.name))
    assert done.state and done.state.name == "JOB_STATE_FAILED"
    assert done.dest and done.dest.file_name
    assert 0 < len(client.files.download(file=done.dest.file_name).splitlines()) < 10


def test_v1alpha_is_served_like_v1beta(sim: SimulatorServer) -> None:
    """The earlier tool our users migrate from speaks v1alpha (shared/gemini-batch-api.md §1)."""
    client = sdk(sim, "v1alpha")
    job = client.batches.create(
        model="gemini-2.5-flash", src=as_inline([{"contents": [{"parts": [{"text": "x"}]}]}])
    )
    assert client.batches.get(name=str(job.name)).name == job.name


def test_a_client_gone_mid_download_leaves_no_traceback(
    sim: SimulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A client killed mid-download (its connection reset) is no error of the server's."""
    sim.scenario.default_plan = JobPlan(0, 0, response_bytes=4000)
    client = sdk(sim)
    write_input(tmp_path / "in.jsonl", 2000)
    job = client.batches.create(model="gemini-2.5-flash", src=upload(client, tmp_path / "in.jsonl"))
    output = client.batches.get(name=str(job.name)).dest.file_name  # type: ignore[union-attr]
    host, port = sim.base_url.removeprefix("http://").split(":")
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    conn = socket.create_connection((host, int(port)))
    conn.sendall(
        f"GET /v1beta/{output}:download?alt=media HTTP/1.1\r\nHost: {host}\r\n"
        f"x-goog-api-key: {API_KEY}\r\n\r\n".encode()
    )
    assert conn.recv(65536)  # the download has begun; then the client is killed:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # a reset
    conn.close()
    sim.sim.wait_for(r":download$")  # the handler has ended, having noticed
    # The handler ended as an answer, not with an exception (which aiohttp prints as
    # "Error handling request" and a traceback).
    assert sim.sim.request_log[-1][2] == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_the_simulator_command_line_fails_whole_jobs(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gembatch.simulator",
            "--port",
            "0",
            "--failed-jobs",
            "1",
            "--pending",
            "0",
            "--running",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        client = genai.Client(
            vertexai=False, api_key="k", http_options={"base_url": url, "api_version": "v1beta"}
        )
        job = client.batches.create(
            model="gemini-2.5-flash", src=as_inline([{"contents": [{"parts": [{"text": "x"}]}]}])
        )
        state = client.batches.get(name=str(job.name)).state
        assert state is not None and state.name == "JOB_STATE_FAILED"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- finishing with the real service's shapes ---------------------------------------------
def test_poll_plain_finishes_on_real_length_ids(sim: SimulatorServer, tmp_path: Path) -> None:
    """Three jobs with 36-character ids and shuffled rows: every result joined to its
    key (the results file in input order), each batch deleted once, each output left to
    expire once (no delete retried every cycle), and exit 0 by itself."""
    seed_sync(sim, tmp_path, [("a.jsonl", 7), ("b.jsonl", 8), ("c.jsonl", 9)])
    result = run_cli("poll", "--plain", "--interval", "1", cwd=tmp_path, sim=sim, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    for name, count in (("a", 7), ("b", 8), ("c", 9)):
        rows = read_jsonl(tmp_path / f"batch/results/{name}.jsonl")
        assert [row["key"] for row in rows] == [f"{n:06d}" for n in range(count)]
        for row in rows:  # each answer is the one to its own request
            text = row["response"]["candidates"][0]["content"]["parts"][0]["text"]
            assert text.endswith(f"Request {int(row['key'])} of {name}.jsonl")
    deletes = [p for m, p, _ in sim.sim.request_log if m == "DELETE"]
    batches = [p for p in deletes if "/batches/" in p]
    outputs = [p for p in deletes if "/files/batch-" in p]
    assert len(batches) == len(set(batches)) == 3
    assert len(outputs) == len(set(outputs)) == 3  # tried once each, then left to expire
    assert result.stdout.count("expires on its own") == 3
    assert "could not clean up" not in result.stdout + result.stderr
    records = JobFile.load(tmp_path / "job-info.jsonl").records
    assert all(r.remote_deleted and len(r.data["left_to_expire"]) == 1 for r in records)


def seed_sync(sim: SimulatorServer, folder: Path, jobs: list[tuple[str, int]]) -> JobFile:
    async def go() -> JobFile:
        client = make_client(sim)
        try:
            return await seed_jobs(client, folder, jobs)
        finally:
            await client.close()

    return asyncio.run(go())


async def test_an_unreadable_output_is_warned_about_from_the_end_time(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """§0.9 says read the output's expirationTime; §0.11 says files.get refuses a batch
    output's id. The warning then falls back to 48 h after the job ended, learnt once."""
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 2)])
    sim.scenario.faults.rules.append(FaultRule(r":download$", 400, times=-1))
    engine, _ = engine_for(sim, job_file)
    await engine.run_cycle()
    await engine.run_cycle()
    record = engine.job_file.records[0]
    ended = record.batch["end_time"]
    from gembatch.formatting import parse_time

    ended_at = parse_time(ended)
    assert ended_at is not None
    assert parse_time(record.data["output_expires_at"]) == ended_at + 48 * 3600
    gets = [
        p
        for m, p, _ in sim.sim.request_log
        if m == "GET" and "/files/batch-" in p and not p.endswith(":download")
    ]
    assert len(gets) == 1  # asked once, not every cycle


# --- one rule for "gone" -------------------------------------------------------------------
def test_cleanup_leaves_a_running_job_alone_after_one_404(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """A running job answers 404 once (a passing fault): `cleanup` keeps its record as it
    is, and poll later saves its results."""
    sim.scenario.default_plan = JobPlan(0, 3600)
    seed_sync(sim, tmp_path, [("a.jsonl", 4)])
    before = (tmp_path / "job-info.jsonl").read_text()
    (record,) = JobFile.load(tmp_path / "job-info.jsonl").records
    sim.scenario.faults.rules.append(FaultRule(f"GET /v1beta/{record.batch_name}$", 404))
    result = run_cli("cleanup", "-y", cwd=tmp_path, sim=sim)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "kept" in result.stdout
    assert (tmp_path / "job-info.jsonl").read_text() == before  # the record untouched
    sim.store.batches[str(record.batch_name).split("/")[1]].plan = JobPlan(0, 0)
    done = run_cli("poll", "--plain", "--interval", "1", cwd=tmp_path, sim=sim, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(read_jsonl(tmp_path / "batch/results/a.jsonl")) == 4


async def test_a_deletion_an_earlier_run_made_is_recorded_quietly(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """Killed after deleting, before writing it down: the restart sees 404s for a
    finished job whose results are on disk, records the deletion, and shows no error."""
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 3)])
    engine, _ = engine_for(sim, job_file, keep_remote=True)
    await engine.run_cycle()
    (record,) = JobFile.load(job_file.path).records
    assert record.results_file and not record.remote_deleted
    await make_client(sim).delete_batch(str(record.batch_name))  # the deletion not recorded
    engine, events = engine_for(sim, JobFile.load(job_file.path))
    for _ in range(3):
        await engine.run_cycle()
    assert JobFile.load(job_file.path).records[0].remote_deleted
    assert not [e for e in events if isinstance(e, PollFailed)]
    assert [e for e in events if isinstance(e, RemoteDeleted)]


async def test_results_renamed_but_not_recorded_are_adopted_not_downloaded_again(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 5)])
    engine, _ = engine_for(sim, job_file, keep_remote=True)
    await engine.run_cycle()
    # As after a kill between the results' rename and the job file's rewrite:
    lines = (tmp_path / "job-info.jsonl").read_text().splitlines()
    raw = json.loads(lines[0])
    for field in ("results_file", "results_lines", "failed_rows", "usage", "merged_signature"):
        raw.pop(field, None)
    (tmp_path / "job-info.jsonl").write_text(json.dumps(raw) + "\n")
    torn = tmp_path / "batch/results/.a.jsonl.k9x2.part"  # an earlier kill's, mid-download
    torn.write_text('{"key": "torn')
    downloads = sum(p.endswith(":download") for _, p, _ in sim.sim.request_log)
    engine, _ = engine_for(sim, JobFile.load(job_file.path))
    await engine.run_cycle()
    assert sum(p.endswith(":download") for _, p, _ in sim.sim.request_log) == downloads
    (record,) = JobFile.load(job_file.path).records
    assert record.results_file == "batch/results/a.jsonl" and record.remote_deleted
    assert not torn.exists()  # swept though nothing was downloaded


# --- what plain mode waits for --------------------------------------------------------------
def test_a_file_where_the_results_folder_should_be_is_said_once_and_exits_4(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    seed_sync(sim, tmp_path, [("a.jsonl", 2)])
    (tmp_path / "batch/results").write_text("not a folder")
    result = run_cli("poll", "--plain", "--interval", "1", cwd=tmp_path, sim=sim, timeout=60)
    assert result.returncode == 4, result.stdout + result.stderr
    said = result.stdout + result.stderr
    assert said.count("batch/results is a file where the results folder should be") == 1
    assert "free some space" not in said
    assert sim.store.batches  # nothing deleted: the results are not on disk


# --- the environment cannot redirect the client -----------------------------------------------
def test_every_command_keeps_to_the_gemini_api_whatever_the_environment(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """§0.13: these variables switch a client built without `vertexai=False` to Vertex
    express mode, or rewrite every path (SDK 3.6.1 _api_client.py:1136-1160)."""
    env = {
        "GOOGLE_GENAI_USE_VERTEXAI": "true",
        "GOOGLE_GENAI_USE_ENTERPRISE": "true",
        "GOOGLE_GENAI_API_VERSION": "v1alpha",
    }
    sim.scenario.default_plan = JobPlan(0, 0, failed_row_rate=0.5)
    write_input(tmp_path / "a.jsonl", 20)
    write_input(tmp_path / "b.jsonl", 3)
    for args, codes in (
        (("submit", "a.jsonl"), {0}),
        (("submit", "--dry-run", "b.jsonl"), {0}),
        (("status",), {2}),
        (("poll", "--plain", "--interval", "1"), {0, 1}),
        (("retry",), {0}),
        (("cancel", "a.jsonl"), {0}),
        (("cleanup", "-y"), {0}),
        (("export", "a.jsonl", "-o", "out.csv"), {0, 1}),
    ):
        result = run_cli(*args, cwd=tmp_path, sim=sim, env=env, timeout=60)
        assert result.returncode in codes, (args, result.stdout + result.stderr)
    paths = {p for _, p, _ in sim.sim.request_log}
    assert paths and all(p.startswith(("/v1beta/", "/upload/v1beta/")) for p in paths), paths


# --- creates that land late ----------------------------------------------------------------
CREATE = r"POST /v1beta/models/[^ ]*:batchGenerateContent$"


async def test_a_create_that_lands_late_is_adopted_not_made_again(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """§0.3: the server acts on a create after the client stopped waiting. Held at a gate
    (the client's timeout made short, not a sleep), the create lands only when released."""
    write_input(tmp_path / "a.jsonl", 4)
    gate = sim.sim.hold(CREATE)
    client = make_client(sim, timeout_s=0.3)
    path = tmp_path / "job-info.jsonl"
    first = await Submitter(JobFile.load(path), client, SubmitOptions()).submit(
        [tmp_path / "a.jsonl"]
    )
    assert first.unconfirmed == ["a.jsonl"] and not first.created
    again = await Submitter(JobFile.load(path), client, SubmitOptions()).submit([])
    assert again.unconfirmed == ["a.jsonl"]  # within the grace window: not created again
    assert not again.created and sim.store.creates == 0
    gate.set()  # the server acts now, long after the client gave up
    await asyncio.to_thread(sim.sim.wait_for, CREATE)
    last = await Submitter(JobFile.load(path), client, SubmitOptions()).submit([])
    assert len(last.adopted) == 1 and sim.store.creates == 1
    (record,) = JobFile.load(path).records
    assert record.batch_name == last.adopted[0]


async def test_a_create_that_lands_after_the_window_is_stopped_as_a_duplicate(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """Past the grace window with no sign of the first create, the part is created again;
    if the first lands after all, the poller cancels and deletes it and says so."""
    write_input(tmp_path / "a.jsonl", 4)
    sim.scenario.default_plan = JobPlan(0, 3600)
    gate = sim.sim.hold(CREATE, times=1)  # the first create only
    client = make_client(sim, timeout_s=0.3)
    client.create_grace_s = 60.0
    clock = FrozenClock(time.time())
    path = tmp_path / "job-info.jsonl"
    await Submitter(JobFile.load(path, clock), client, SubmitOptions()).submit(
        [tmp_path / "a.jsonl"]
    )
    clock.advance(61)  # the window is over, and nothing carries the marker
    second = await Submitter(JobFile.load(path, clock), client, SubmitOptions()).submit([])
    assert len(second.created) == 1
    gate.set()
    await asyncio.to_thread(sim.sim.wait_for, CREATE, 2)  # the first lands, late
    assert sim.store.creates == 2
    engine, events = engine_for(sim, JobFile.load(path, clock))
    engine.client.create_grace_s = 60.0
    await engine.run_cycle()
    duplicate = next(n for n, _ in sim.store.created if n != second.created[0])
    assert duplicate in {d.name for d in sim.store.deletions} or any(
        b.forced and b.forced[0] == "CANCELLED" for b in sim.store.batches.values()
    )
    notes = [e.message for e in events if isinstance(e, QueueNote)]
    assert any(f"duplicate {duplicate} cancelled" in n for n in notes), notes
    assert second.created[0].split("/")[1] in sim.store.batches  # ours keeps running


def test_kill_9_soak_of_submit_with_late_creates_makes_one_job_per_part(
    sim: SimulatorServer, tmp_path: Path, _private_config_and_logs: Path
) -> None:
    """`submit` killed at seeded moments while creates land 4 s late (the client gives
    up after 0.5 s), then run to the end: exactly one job was ever created per part."""
    sim.scenario.create_lands_after_s = 4.0
    sim.scenario.default_plan = JobPlan(0, 0)
    (_private_config_and_logs / "config.toml").write_text(
        "request_timeout = 0.5\ncreate_grace = 8\n"
    )
    write_input(tmp_path / "a.jsonl", 12)
    moments = random.Random(21).sample([0.3, 0.8, 1.2, 1.7, 2.2, 2.6], 4)
    for moment in moments:
        killed_after(moment, ["submit", "a.jsonl", "--max-requests", "4"], tmp_path, sim)
    finish(["submit", "a.jsonl", "--max-requests", "4"], tmp_path, sim)
    assert_one_job_per_part(sim, tmp_path, parts=3)


def test_kill_9_soak_of_the_pollers_queue_with_late_creates(
    sim: SimulatorServer, tmp_path: Path, _private_config_and_logs: Path
) -> None:
    sim.scenario.create_lands_after_s = 4.0
    sim.scenario.default_plan = JobPlan(0, 0)
    (_private_config_and_logs / "config.toml").write_text(
        "request_timeout = 0.5\ncreate_grace = 8\n"
    )
    write_input(tmp_path / "a.jsonl", 12)
    queued = run_cli(
        "submit", "a.jsonl", "--max-requests", "4", "--max-running", "1", cwd=tmp_path, sim=sim
    )
    assert queued.returncode in (0, 2), queued.stdout + queued.stderr
    for moment in random.Random(22).sample([0.4, 0.9, 1.3, 1.8, 2.4, 3.0], 4):
        killed_after(moment, ["poll", "--plain", "--interval", "1"], tmp_path, sim)
    finish(["poll", "--plain", "--interval", "1"], tmp_path, sim)
    assert_one_job_per_part(sim, tmp_path, parts=3)


def killed_after(seconds: float, args: list[str], cwd: Path, sim: SimulatorServer) -> None:
    proc = started_cli(sim, cwd, *args)
    try:
        proc.wait(timeout=seconds)  # it may finish first: then there was nothing to kill
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def finish(args: list[str], cwd: Path, sim: SimulatorServer) -> None:
    """Run the command until it has nothing left to wait for (a create within its window)."""
    for _ in range(30):
        result = run_cli(*args, cwd=cwd, sim=sim, timeout=60)
        said = result.stdout + result.stderr
        if "not created again before" not in said and "uncreated" not in said:
            assert result.returncode in (0, 2), said
            if not any(r.intent for r in JobFile.load(cwd / "job-info.jsonl").records):
                return
        creates_answered(sim)  # a create still on its way lands (or fails) first
    raise AssertionError("the parts were never all created")


def creates_answered(sim: SimulatorServer) -> None:
    """Wait until every create the server has received has been acted on and answered."""
    received = sum(n for call, n in sim.sim.calls.items() if re.search(CREATE, call))
    sim.sim.wait_for(CREATE, count=received)


def assert_one_job_per_part(sim: SimulatorServer, cwd: Path, parts: int) -> None:
    markers = [name.split("]")[0] for _, name in sim.store.created]
    assert len(markers) == len(set(markers)) == parts, sim.store.created
    records = JobFile.load(cwd / "job-info.jsonl").records
    assert sorted(str(r.batch_name) for r in records) == sorted(n for n, _ in sim.store.created)


async def test_plain_poll_waits_for_a_submit_still_creating(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """A finished job and a part whose `submit` is still at work: not "all done" (plain
    mode would exit), nothing stalled; once the submit ends, the poller finishes both."""
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 2)])
    write_input(tmp_path / "b.jsonl", 2)
    gate = sim.sim.hold(CREATE)
    submitter = Submitter(JobFile.load(job_file.path), make_client(sim), SubmitOptions())
    submitting = asyncio.create_task(submitter.submit([tmp_path / "b.jsonl"]))
    await asyncio.to_thread(lambda: sim.sim.wait_for("POST /upload/"))
    engine, _ = engine_for(sim, JobFile.load(job_file.path))
    while not any(r.intent for r in engine.job_file.records):
        engine.job_file.refresh()
        await asyncio.sleep(0)  # let the submit write its intent
    for _ in range(2):
        finished = await engine.run_cycle()
        assert not finished.all_done and not finished.stalled
    gate.set()
    report = await submitting
    assert len(report.created) == 1
    for _ in range(3):
        finished = await engine.run_cycle()
    assert finished.all_done
