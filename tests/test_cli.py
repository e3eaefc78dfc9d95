"""The headless commands as a user runs them: subprocesses against the simulator."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from gembatch import exit_codes
from gembatch.jobfile.file import JobFile
from gembatch.simulator import JobPlan, SimulatorServer
from tests.conftest import API_KEY, GEMBATCH, cli_env, read_jsonl, seed

EXAMPLE = Path(__file__).resolve().parent.parent / "job-info.jsonl.example"


def gembatch(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GEMBATCH, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


# --- status -------------------------------------------------------------------------------
def test_status_groups_jobs_and_exits_in_progress(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "job-info.jsonl")
    result = gembatch("status", "--list", cwd=tmp_path)
    assert result.returncode == exit_codes.EXIT_IN_PROGRESS
    lines = result.stdout.splitlines()
    assert lines[0] == "job-info.jsonl: 3 jobs"
    assert any(line.split() == ["in", "progress", "2"] for line in lines)
    assert any(
        line.split()[:2] == ["succeeded", "1"] and "1 with results not saved yet" in line
        for line in lines
    )
    assert any("batch/001.jsonl" in line and "succeeded" in line for line in lines)


def test_status_json_is_machine_readable(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "job-info.jsonl")
    result = gembatch("status", "--json", cwd=tmp_path)
    data = json.loads(result.stdout)
    assert data["counts"]["succeeded"] == 1 and data["counts"]["in_progress"] == 2
    assert data["exit_code"] == result.returncode == exit_codes.EXIT_IN_PROGRESS
    assert [job["input_file"] for job in data["jobs"]] == [
        "batch/001.jsonl",
        "batch/002.jsonl",
        "batch/003.jsonl",
    ]


def test_status_reports_bad_lines_by_number(tmp_path: Path) -> None:
    path = tmp_path / "job-info.jsonl"
    path.write_bytes(EXAMPLE.read_bytes() + b"{not json\n")
    result = gembatch("status", cwd=tmp_path)
    assert result.returncode == exit_codes.EXIT_BAD_INPUT
    assert "job-info.jsonl:4: not valid JSON" in result.stderr
    assert path.read_bytes().endswith(b"{not json\n")  # status never writes


def test_status_without_a_job_file_says_what_to_do(tmp_path: Path) -> None:
    result = gembatch("status", cwd=tmp_path)
    assert result.returncode == exit_codes.EXIT_BAD_INPUT
    assert result.stderr.strip() == (
        "gembatch: no job file at job-info.jsonl; submit jobs first, or pass --job-info FILE"
    )


def test_status_exits_zero_only_when_every_result_is_saved(tmp_path: Path) -> None:
    record = json.loads(EXAMPLE.read_text().splitlines()[0])  # succeeded, nothing saved
    (tmp_path / "job-info.jsonl").write_text(json.dumps(record) + "\n")
    assert gembatch("status", cwd=tmp_path).returncode == exit_codes.EXIT_IN_PROGRESS
    record.update(results_file="batch/results/001.jsonl", remote_deleted_at="2026-01-02")
    (tmp_path / "job-info.jsonl").write_text(json.dumps(record) + "\n")
    assert gembatch("status", cwd=tmp_path).returncode == exit_codes.EXIT_OK


# --- poll ---------------------------------------------------------------------------------
def test_poll_plain_once_prints_events_and_saves(sim: SimulatorServer, tmp_path: Path) -> None:
    seed(sim, tmp_path, [("a.jsonl", 3), ("b.jsonl", 4)])
    result = gembatch("poll", "--once", cwd=tmp_path, env=cli_env(sim))
    assert result.returncode == exit_codes.EXIT_OK, result.stderr
    out = result.stdout
    assert "loaded 2 jobs" in out
    assert "a.jsonl: results saved to batch/results/a.jsonl (3 lines)" in out
    assert "b.jsonl: deleted remote batches/" in out
    assert len(read_jsonl(tmp_path / "batch/results/b.jsonl")) == 4
    assert API_KEY not in out + result.stderr


def test_poll_stop_when_done_exits_with_outcome(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.plans = [("batch/bad.jsonl", JobPlan(0, 0.2, outcome="FAILED"))]
    seed(sim, tmp_path, [("good.jsonl", 2), ("bad.jsonl", 2)])
    result = gembatch(
        "poll", "--plain", "--stop-when-done", "--interval", "1", cwd=tmp_path, env=cli_env(sim)
    )
    assert result.returncode == exit_codes.EXIT_SOME_FAILED, result.stderr
    assert "bad.jsonl: running → failed" in result.stdout or "bad.jsonl: failed" in result.stdout
    assert "all jobs are done" in result.stdout
    last = result.stdout.rstrip().splitlines()[-3:]  # the summary closes the log
    assert "summary: 2 jobs (1 succeeded, 1 failed)" in last[0]
    assert "batch/bad.jsonl: Simulated job failure. (code 13)" in last[1]
    assert last[2].endswith("results in ./batch/results/")  # where to go, from here


def test_poll_with_a_rejected_key_says_so(sim: SimulatorServer, tmp_path: Path) -> None:
    seed(sim, tmp_path, [("a.jsonl", 2)])
    sim.scenario.api_key = "another-key"
    result = gembatch("poll", "--once", cwd=tmp_path, env=cli_env(sim))
    assert result.returncode == exit_codes.EXIT_AUTH
    assert "API key was rejected" in result.stderr and API_KEY not in result.stderr


def test_poll_without_a_key_says_how_to_set_one(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "job-info.jsonl")
    result = gembatch("poll", "--once", cwd=tmp_path)
    assert result.returncode == exit_codes.EXIT_AUTH
    assert "set GEMINI_API_KEY" in result.stderr


def test_second_poller_exits_with_lock_code(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.default_plan = JobPlan(0, 3600)
    seed(sim, tmp_path, [("a.jsonl", 2)])
    first = subprocess.Popen(
        [*GEMBATCH, "poll", "--plain", "--interval", "1"],
        cwd=tmp_path,
        env=cli_env(sim),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout is not None
        assert "loaded 1 job (1 in progress)" in first.stdout.readline()
        second = gembatch("poll", "--plain", "--once", cwd=tmp_path, env=cli_env(sim))
        assert second.returncode == exit_codes.EXIT_LOCKED
        assert f"already being polled by process {first.pid}" in second.stderr
        status = gembatch("status", cwd=tmp_path)  # status never needs the lock
        assert status.returncode == exit_codes.EXIT_IN_PROGRESS
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
    assert first.returncode == exit_codes.EXIT_INTERRUPTED


def test_two_pollers_started_together_never_download_twice(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    seed(sim, tmp_path, [(f"{n}.jsonl", 3) for n in range(6)])
    runs = [
        subprocess.Popen(
            [*GEMBATCH, "poll", "--plain", "--stop-when-done", "--interval", "1"],
            cwd=tmp_path,
            env=cli_env(sim),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    codes = sorted(run.wait(timeout=120) for run in runs)
    for run in runs:
        run.communicate()
    assert codes == [exit_codes.EXIT_OK, exit_codes.EXIT_LOCKED]
    assert len(sim.store.downloads) == len(set(sim.store.downloads)) == 6


def test_kill_9_at_random_moments_never_loses_a_result(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """SIGKILL the poller 30+ times mid-cycle; a final run must reach the same end state."""
    jobs = [(f"{n:02d}.jsonl", 150 + n) for n in range(24)]
    sim.scenario.plans = [
        (
            f"batch/{name}",
            JobPlan(
                0,
                0.6 * n,
                outcome="FAILED" if n % 9 == 4 else "SUCCEEDED",
                failed_row_rate=0.1,
                response_bytes=3000,
            ),
        )
        for n, (name, _) in enumerate(jobs)
    ]
    seed(sim, tmp_path, jobs)
    rng = random.Random(20261123)
    kills = 0
    while kills < 30:
        poller = subprocess.Popen(
            [*GEMBATCH, "poll", "--plain", "--interval", "1", "--stop-when-done"],
            cwd=tmp_path,
            env=cli_env(sim),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert poller.stdout is not None
        for _ in range(rng.randint(1, 14)):  # a random point in the event stream
            if not poller.stdout.readline():
                break
        if poller.poll() is None:
            poller.send_signal(signal.SIGKILL)
            kills += 1
        poller.wait()
        poller.stdout.close()
        assert JobFile.load(tmp_path / "job-info.jsonl").bad_lines == []
    final = gembatch(
        "poll",
        "--plain",
        "--stop-when-done",
        "--interval",
        "1",
        cwd=tmp_path,
        env=cli_env(sim),
        timeout=180,
    )
    assert final.returncode == exit_codes.EXIT_SOME_FAILED, final.stderr
    records = JobFile.load(tmp_path / "job-info.jsonl").records
    assert len(records) == len(jobs)
    for n, record in enumerate(records):
        assert record.remote_deleted, record.raw
        if n % 9 == 4:
            assert record.state == "JOB_STATE_FAILED"
            continue
        assert record.state == "JOB_STATE_SUCCEEDED"
        rows = read_jsonl(tmp_path / str(record.results_file))
        assert len(rows) == jobs[n][1]
        assert [row["key"] for row in rows] == [f"{i:06d}" for i in range(jobs[n][1])]
    assert not sim.store.batches
    # What is left is the outputs the Files API cannot delete (§0.11), recorded as such.
    left = {name for record in records for name in record.data.get("left_to_expire", [])}
    assert {f"files/{f}" for f in sim.store.files} == left
    running_deleted = [d for d in sim.store.deletions if d.state in ("RUNNING", "PENDING")]
    assert running_deleted == []
    leftovers = list((tmp_path / "batch/results").glob(".*.part"))
    assert leftovers == []


@pytest.mark.parametrize("bad", [b"", b"\n\n", b"{\n", b"null\n"])
def test_poll_on_broken_job_file_keeps_it_intact(
    sim: SimulatorServer, tmp_path: Path, bad: bytes
) -> None:
    seed(sim, tmp_path, [("a.jsonl", 2)])
    path = tmp_path / "job-info.jsonl"
    path.write_bytes(bad + path.read_bytes() + bad)
    result = gembatch("poll", "--once", cwd=tmp_path, env=cli_env(sim))
    # The good job is polled and saved; lines that do not parse make it a 4, as `status`.
    expected = exit_codes.EXIT_BAD_INPUT if bad.strip() else exit_codes.EXIT_OK
    assert result.returncode == expected, result.stderr
    assert gembatch("status", cwd=tmp_path).returncode == expected
    assert (tmp_path / "batch/results/a.jsonl").is_file()
    data = path.read_bytes()
    assert data.startswith(bad) and data.endswith(bad)
    if bad.strip():
        assert (
            "job-info.jsonl:1: not valid JSON" in result.stdout
            or "job-info.jsonl:1: not a JSON object" in result.stdout
        )


def test_status_gives_an_eta_for_running_jobs(tmp_path: Path) -> None:
    """Half of a job done in 100 s: about 100 s to go, in `status --list` and `--json`."""
    from gembatch.clock import SYSTEM_CLOCK

    record = {
        "input_file": "batch/a.jsonl",
        "count": 100,
        "batch": {
            "name": "batches/a",
            "state": "JOB_STATE_RUNNING",
            "create_time": SYSTEM_CLOCK.iso(later_s=-100),
        },
        "stats": {"total": 100, "succeeded": 45, "failed": 5, "pending": 50},
    }
    (tmp_path / "job-info.jsonl").write_text(json.dumps(record) + "\n")
    report = json.loads(gembatch("status", "--json", cwd=tmp_path).stdout)
    assert 90 <= report["jobs"][0]["eta_seconds"] <= 130
    assert report["eta_seconds"] == report["jobs"][0]["eta_seconds"]
    assert report["jobs_without_progress"] == 0
    listing = gembatch("status", "--list", cwd=tmp_path).stdout
    assert "(ETA ~2m)" in listing
