"""submit, merged results, cancel, cleanup and retry, against the simulator."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
from pathlib import Path

import pytest

from gembatch import exit_codes
from gembatch.cli.demo import seed_jobs, write_input
from gembatch.engine.loop import Engine, EngineOptions
from gembatch.inputs import InputError, plan_input
from gembatch.intake.submit import SubmitOptions, Submitter
from gembatch.jobfile.file import JobFile
from gembatch.simulator import Faults, JobPlan, SimulatorServer
from tests.conftest import (
    GEMBATCH,
    cli_env,
    killed_while_held,
    make_client,
    read_jsonl,
    run_cli,
)

CREATE = r"POST .*:batchGenerateContent"


def gembatch(
    *args: str, cwd: Path, sim: SimulatorServer, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, sim=sim, timeout=timeout)


async def poll_until_done(sim: SimulatorServer, folder: Path, max_cycles: int = 30) -> Engine:
    engine = Engine(
        JobFile.load(folder / "job-info.jsonl"), make_client(sim), EngineOptions(interval_s=0.01)
    )
    for _ in range(max_cycles):
        if (await engine.run_cycle()).all_done:
            engine.close()
            return engine
    raise AssertionError("jobs did not finish")


def test_split_input_becomes_parts_and_one_ordered_merged_file(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    write_input(tmp_path / "batch/big.jsonl", 25_000)
    result = gembatch("submit", "batch/big.jsonl", "--max-requests", "10000", cwd=tmp_path, sim=sim)
    assert result.returncode == 0, result.stderr
    assert "25,000 requests in 3 parts" in result.stdout
    records = JobFile.load(tmp_path / "job-info.jsonl").records
    assert [r.input_file for r in records] == [
        "batch/big.part-1-of-3.jsonl",
        "batch/big.part-2-of-3.jsonl",
        "batch/big.part-3-of-3.jsonl",
    ]
    assert [r.request_count for r in records] == [10_000, 10_000, 5_000]
    assert len(sim.store.batches) == 3
    asyncio.run(poll_until_done(sim, tmp_path))
    merged = read_jsonl(tmp_path / "batch/results/big.jsonl")
    assert [row["key"] for row in merged] == [f"{n:06d}" for n in range(25_000)]
    assert not (tmp_path / "batch/results/big.errors.jsonl").exists()
    status = gembatch("status", cwd=tmp_path, sim=sim)
    assert status.returncode == 0 and "estimated cost $" in status.stdout


def test_inputs_without_keys_get_keys_and_merge_in_order(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    source = tmp_path / "batch/bare.jsonl"
    source.parent.mkdir(parents=True)
    source.write_text(
        "".join(json.dumps({"contents": [{"parts": [{"text": f"q{n}"}]}]}) + "\n" for n in range(5))
    )
    before = source.read_bytes()
    result = gembatch("submit", "batch/bare.jsonl", cwd=tmp_path, sim=sim)
    assert result.returncode == 0, result.stderr
    # Submitted as itself: no `part-1-of-1` copy beside it, the input untouched, and no
    # keyed copy left once uploaded (issue 25).
    (record,) = JobFile.load(tmp_path / "job-info.jsonl").records
    assert record.input_file == "batch/bare.jsonl"
    assert sorted(p.name for p in source.parent.iterdir()) == ["bare.jsonl"]
    assert source.read_bytes() == before
    assert not list((tmp_path / ".gembatch").glob("*.upload-*"))
    # A copy a killed upload left behind (its part long since created) is swept.
    leftover = tmp_path / ".gembatch/job-info.jsonl.upload-0123456789ab.jsonl"
    leftover.write_text("{}\n")
    uploaded = sim.store.files[record.raw["uploaded_file_name"].removeprefix("files/")]
    assert [json.loads(line)["key"] for line in (uploaded.data or b"").splitlines()] == [
        f"line-{n:08d}" for n in range(1, 6)
    ]
    write_input(tmp_path / "batch/more.jsonl", 2)
    assert gembatch("submit", "batch/more.jsonl", cwd=tmp_path, sim=sim).returncode == 0
    assert not leftover.exists()  # (each submit looks; so does a poll finishing an intent)
    asyncio.run(poll_until_done(sim, tmp_path))
    merged = read_jsonl(tmp_path / "batch/results/bare.jsonl")
    assert [row["key"] for row in merged] == [f"line-{n:08d}" for n in range(1, 6)]
    assert merged[3]["response"]["candidates"][0]["content"]["parts"][0]["text"].endswith("q3")
    assert sorted(p.name for p in (tmp_path / "batch/results").iterdir()) == [
        "bare.jsonl",
        "more.jsonl",
    ]
    status = gembatch("status", "--list", cwd=tmp_path, sim=sim)
    assert "batch/bare.jsonl" in status.stdout and "part-1" not in status.stdout


def test_bad_line_is_named_and_nothing_from_that_file_is_sent(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    write_input(tmp_path / "good.jsonl", 3)
    bad = tmp_path / "bad.jsonl"
    write_input(bad, 3)
    with bad.open("a") as handle:
        handle.write('{"key": "x", "request": {"contents": "not a list"}}\n')
    result = gembatch("submit", "bad.jsonl", "good.jsonl", cwd=tmp_path, sim=sim)
    assert result.returncode == exit_codes.EXIT_BAD_INPUT
    assert result.stderr.startswith('gembatch: bad.jsonl:4: a request needs "contents"')
    records = JobFile.load(tmp_path / "job-info.jsonl").records
    assert [r.input_file for r in records] == ["good.jsonl"]
    assert len(sim.store.batches) == 1


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            [
                '{"key": "a", "request": {"contents": []}}',
                '{"key": "a", "request": {"contents": []}}',
            ],
            "key 'a' repeats line 1",
        ),
        (['{"key": 5, "request": {"contents": []}}'], '"key" must be a string'),
        (["[1, 2]"], "each line must be a JSON object"),
        ([""], "no requests in it"),
    ],
)
def test_validation_messages(tmp_path: Path, lines: list[str], message: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=message):
        plan_input(path, None, 10**9)


def test_already_submitted_inputs_are_skipped_unless_forced(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    write_input(tmp_path / "a.jsonl", 2)
    assert gembatch("submit", "a.jsonl", cwd=tmp_path, sim=sim).returncode == 0
    again = gembatch("submit", "a.jsonl", cwd=tmp_path, sim=sim)
    assert "skipped a.jsonl: already in job-info.jsonl" in again.stdout
    assert len(sim.store.batches) == 1
    forced = gembatch("submit", "a.jsonl", "--force", cwd=tmp_path, sim=sim)
    assert forced.returncode == 0 and len(sim.store.batches) == 2


def test_upload_falls_back_when_a_mime_type_is_refused(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """The real service refuses a MIME type on the *last* chunk, after the start said
    200 (shared/gemini-batch-api.md §0.2, python-genai commit 946a17e0), and accepts
    `application/json` (google-gemini/cookbook#1008): each fallback re-sends the file."""
    sim.scenario.rejected_mime_types = ("application/json", "jsonl")
    write_input(tmp_path / "a.jsonl", 2)
    result = gembatch("submit", "a.jsonl", cwd=tmp_path, sim=sim)
    assert result.returncode == 0, result.stdout + result.stderr
    (uploaded,) = [f for f in sim.store.files.values() if not f.source_batch]
    assert uploaded.mime_type == "application/jsonl"
    upload_calls = [(p, s) for m, p, s in sim.sim.request_log if p.startswith("/upload/")]
    assert [s for _, s in upload_calls] == [200, 400, 200, 400, 200, 200]
    assert len(sim.store.batches) == 1


def test_crash_after_create_is_recovered_without_a_second_job(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """A submit killed once the server has made its job, before the reply arrives: the
    job file knows the part only as being created (a power cut runs no clean-up)."""
    write_input(tmp_path / "a.jsonl", 3)
    killed_while_held(sim, tmp_path, ["submit", "a.jsonl"], CREATE, after_acting=True)
    assert len(sim.store.batches) == 1
    orphan = JobFile.load(tmp_path / "job-info.jsonl").records[0]
    assert orphan.batch_name is None and orphan.submit_id
    said: list[str] = []
    rerun = Submitter(
        JobFile.load(tmp_path / "job-info.jsonl"),
        make_client(sim),
        SubmitOptions(),
        say=said.append,
    )
    report = asyncio.run(rerun.submit([tmp_path / "a.jsonl"]))
    assert len(sim.store.batches) == 1  # never created twice
    assert report.adopted == [next(iter(sim.store.batches.values())).name]
    assert any("not created again" in line for line in said)
    (record,) = JobFile.load(tmp_path / "job-info.jsonl").records
    assert record.batch_name == report.adopted[0]


def test_kill_9_during_submit_never_loses_or_duplicates_a_job(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    sim.scenario.faults = Faults(latency_s=0.03)
    names = [f"{n:02d}.jsonl" for n in range(10)]
    for name in names:
        write_input(tmp_path / name, 3)
    rng = random.Random(7)
    kills = 0
    for _ in range(40):
        run = subprocess.Popen(
            [*GEMBATCH, "submit", *names],
            cwd=tmp_path,
            env=cli_env(sim),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert run.stdout is not None
        for _ in range(rng.randint(0, 6)):
            if not run.stdout.readline():
                break
        if run.poll() is None:
            run.send_signal(signal.SIGKILL)
            kills += 1
        run.wait()
        run.stdout.close()
        if kills >= 12:
            break
    final = gembatch("submit", *names, cwd=tmp_path, sim=sim)
    assert final.returncode == 0, final.stdout + final.stderr
    records = JobFile.load(tmp_path / "job-info.jsonl").records
    tracked = [r.batch_name for r in records]
    assert None not in tracked, "an intent was left without its job"
    remote = {batch.name for batch in sim.store.batches.values()}
    assert set(tracked) == remote, "a created job is untracked, or tracked twice"
    assert len(remote) == len(names), "an input was created twice"
    assert kills >= 5


def test_cleanup_touches_only_known_finished_jobs(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.plans = [("batch/running.jsonl", JobPlan(0, 3600))]
    asyncio.run(seed_jobs(make_client(sim), tmp_path, [("done.jsonl", 2), ("running.jsonl", 2)]))
    engine = Engine(
        JobFile.load(tmp_path / "job-info.jsonl"), make_client(sim), EngineOptions(keep_remote=True)
    )
    asyncio.run(engine.run_cycle())
    engine.close()
    stranger = asyncio.run(seed_jobs(make_client(sim), tmp_path / "other", [("x.jsonl", 1)]))
    stranger_name = stranger.records[0].batch_name
    refused = gembatch("cleanup", cwd=tmp_path, sim=sim)
    assert refused.returncode == exit_codes.EXIT_USAGE and "pass -y" in refused.stderr
    assert not sim.store.deletions
    result = gembatch("cleanup", "-y", cwd=tmp_path, sim=sim)
    assert result.returncode == 0, result.stderr
    assert "running.jsonl: still running; kept" in result.stdout
    deleted = {d.name for d in sim.store.deletions}
    done = JobFile.load(tmp_path / "job-info.jsonl").records[0]
    assert str(done.batch_name) in deleted and done.remote_deleted
    assert stranger_name not in deleted
    assert all(d.state in ("SUCCEEDED", "FILE") for d in sim.store.deletions)


def test_cancel_by_input_file(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.default_plan = JobPlan(0, 3600)
    asyncio.run(seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 2), ("b.jsonl", 2)]))
    result = gembatch("cancel", "batch/a.jsonl", cwd=tmp_path, sim=sim)
    assert result.returncode == 0 and "cancel requested" in result.stdout
    states_now = sorted(sim.store.state_of(b) for b in sim.store.batches.values())
    assert states_now == ["CANCELLED", "RUNNING"]
    unknown = gembatch("cancel", "batch/nope.jsonl", cwd=tmp_path, sim=sim)
    assert unknown.returncode == exit_codes.EXIT_BAD_INPUT
    assert unknown.stderr == "gembatch: no job named 'batch/nope.jsonl' in job-info.jsonl\n"


def test_retry_fills_the_merged_results(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.plans = [("*retry*", JobPlan(0, 0)), ("*", JobPlan(0, 0, failed_row_rate=0.3))]
    write_input(tmp_path / "batch/q.jsonl", 40)
    assert gembatch("submit", "batch/q.jsonl", cwd=tmp_path, sim=sim).returncode == 0
    asyncio.run(poll_until_done(sim, tmp_path))
    first = read_jsonl(tmp_path / "batch/results/q.jsonl")
    failed_before = sum("error" in row for row in first)
    assert failed_before > 0
    retry = gembatch("retry", cwd=tmp_path, sim=sim)
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert f"retrying {failed_before} failed rows as batch/q.retry-1.jsonl" in retry.stdout
    asyncio.run(poll_until_done(sim, tmp_path))
    merged = read_jsonl(tmp_path / "batch/results/q.jsonl")
    assert [row["key"] for row in merged] == [f"{n:06d}" for n in range(40)]
    assert all("response" in row for row in merged)
    assert not (tmp_path / "batch/results/q.errors.jsonl").exists()
    nothing = gembatch("retry", cwd=tmp_path, sim=sim)
    assert "nothing to retry" in nothing.stdout


def test_retry_resubmits_jobs_that_failed_or_expired_as_a_whole(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """Not only rows that failed inside a job: a job that failed or expired has no
    results at all, and every one of its rows is resubmitted, linked to it."""
    sim.scenario.plans = [
        ("*retry*", JobPlan(0, 0)),
        ("*f.jsonl", JobPlan(0, 0, outcome="FAILED")),
        ("*e.jsonl", JobPlan(0, 0, outcome="EXPIRED")),
    ]
    write_input(tmp_path / "batch/f.jsonl", 6)
    write_input(tmp_path / "batch/e.jsonl", 4)
    assert (
        gembatch("submit", "batch/f.jsonl", "batch/e.jsonl", cwd=tmp_path, sim=sim).returncode == 0
    )
    asyncio.run(poll_until_done(sim, tmp_path))
    retry = gembatch("retry", cwd=tmp_path, sim=sim)
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert "batch/f.jsonl: retrying 6 failed rows as batch/f.retry-1.jsonl" in retry.stdout
    assert "batch/e.jsonl: retrying 4 failed rows as batch/e.retry-1.jsonl" in retry.stdout
    asyncio.run(poll_until_done(sim, tmp_path))
    for name, rows in (("f", 6), ("e", 4)):
        merged = read_jsonl(tmp_path / f"batch/results/{name}.jsonl")
        assert [row["key"] for row in merged] == [f"{n:06d}" for n in range(rows)]


def test_input_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"key": "a", "request": {"contents": [{"parts": [{"text": "caf\xe9"}]}]}}\n')
    with pytest.raises(InputError, match=r"latin1\.jsonl:1: not UTF-8 text"):
        plan_input(path, None, 10**9)


def test_upload_progress_follows_the_bytes(sim: SimulatorServer, tmp_path: Path) -> None:
    """Through the SDK over HTTP: the reader's count reaches the file's size, the plain
    output says each 10%, and the uploaded file is the input byte for byte."""
    import asyncio
    import io as stdio

    from gembatch.gemini.upload_progress import UploadProgress

    source = tmp_path / "big.jsonl"
    line = json.dumps({"contents": [{"parts": [{"text": "x" * 1000}]}]}) + "\n"
    source.write_text(line * 20_000)  # about 20 MB: three of the SDK's 8 MB chunks
    seen: list[tuple[int, int]] = []
    shown = stdio.StringIO()
    show = UploadProgress("big.jsonl", shown)

    def listener(sent: int, total: int) -> None:
        seen.append((sent, total))
        show(sent, total)

    async def go() -> str:
        client = make_client(sim)
        try:
            return await client.upload_file(source, "big.jsonl", on_progress=listener)
        finally:
            await client.close()

    name = asyncio.run(go())
    size = source.stat().st_size
    assert seen[-1] == (size, size) and len(seen) >= 3
    assert [sent for sent, _ in seen] == sorted(sent for sent, _ in seen)
    shares = [line.removeprefix("uploading big.jsonl: ") for line in shown.getvalue().splitlines()]
    numbers = [int(share.removesuffix("%")) for share in shares]
    assert numbers == sorted(set(numbers)) and numbers[-1] == 100  # a line per step, no bar
    assert sim.store.files[name.removeprefix("files/")].data == source.read_bytes()
