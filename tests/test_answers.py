"""Every answer can be trusted: exit codes, one-line messages for bad input, plain mode
for logs, and the command line (issue: every answer can be trusted)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gembatch import __version__, exit_codes
from gembatch.cli.demo import seed_jobs, write_input
from gembatch.cli.parser import CODES
from gembatch.clock import FrozenClock
from gembatch.engine.loop import Engine
from gembatch.engine.plain import PlainPrinter
from gembatch.jobfile.file import JobFile
from gembatch.simulator import JobPlan, SimulatorServer
from tests.conftest import GEMBATCH, cli_env, make_client, seed, unprivileged

ROOT = Path(__file__).resolve().parent.parent


def gembatch(
    *args: str, cwd: Path, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, *GEMBATCH, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def assert_one_line_messages(result: subprocess.CompletedProcess[str]) -> None:
    """No traceback; every problem is one line that starts `gembatch: `."""
    assert "Traceback" not in result.stderr + result.stdout
    for line in result.stderr.splitlines():
        assert line.startswith("gembatch: "), result.stderr
    assert result.returncode in CODES


def in_private_mount(
    mount: str, sim: SimulatorServer, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """`gembatch poll --once` after `mount`, in a mount namespace of its own."""
    script = f"{mount} && exec {' '.join(GEMBATCH)} poll --once"
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        cwd=cwd,
        env=cli_env(sim),
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- exit codes ---------------------------------------------------------------------------
def test_readme_help_and_code_agree_on_every_exit_code() -> None:
    readme = (ROOT / "README.md").read_text()
    table = dict(re.findall(r"^\| (\d+) \| (.+) \|$", readme, re.MULTILINE))
    assert sorted(int(code) for code in table) == sorted(CODES)
    codes = {
        "status": {0, 1, 2, 4, 64, 130, 141},
        "poll": {0, 1, 2, 3, 4, 5, 64, 130},
        "cancel": {0, 1, 4, 5, 64, 130},
    }
    for command, expected in codes.items():
        shown = subprocess.run(
            [*GEMBATCH, command, "--help"], capture_output=True, text=True, check=True
        ).stdout
        listed = {int(c) for c in re.findall(r"^\s+(\d+)  ", shown.split("exit codes:")[1], re.M)}
        assert listed == expected, command
        assert "example:" in shown and shown.startswith("usage: gembatch " + command)


def test_each_exit_code_tells_the_truth_from_a_script(sim: SimulatorServer, tmp_path: Path) -> None:
    """Run as a script would: usage errors are 64, not 2 ("not finished"); a missing job
    file is 4 before the key is asked for; a bad line is 4 from status and poll alike."""
    no_key = {k: v for k, v in cli_env(sim).items() if k not in ("GEMINI_API_KEY",)}
    for args in (("statuss",), ("status", "--bogus"), ("poll", "--interval", "often")):
        result = gembatch(*args, cwd=tmp_path, env=cli_env(sim))
        assert result.returncode == exit_codes.EXIT_USAGE, args
        assert result.stderr.strip().splitlines()[-1].startswith("gembatch: ")
    for command in ("cancel", "cleanup", "retry"):
        args = (command, "batches/x") if command == "cancel" else (command,)
        result = gembatch(*args, cwd=tmp_path, env=no_key)
        assert result.returncode == exit_codes.EXIT_BAD_INPUT, (command, result.stderr)
        assert "no job file at job-info.jsonl" in result.stderr
    sim.scenario.default_plan = JobPlan(0, 3600)
    seed(sim, tmp_path, [("a.jsonl", 2)])
    with (tmp_path / "job-info.jsonl").open("a") as handle:
        handle.write("{not json\n")
    for args in (("status",), ("poll", "--once", "--plain")):
        result = gembatch(*args, cwd=tmp_path, env=cli_env(sim))
        assert result.returncode == exit_codes.EXIT_BAD_INPUT, (args, result.stdout)
    for batch in sim.store.batches.values():  # now it finishes, its results saved
        batch.plan = JobPlan(0, 0)
    gembatch("poll", "--once", "--plain", "--keep-remote", cwd=tmp_path, env=cli_env(sim))
    refused = subprocess.run(
        [*GEMBATCH, "cleanup"],
        cwd=tmp_path,
        env=cli_env(sim),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == exit_codes.EXIT_USAGE, refused.stderr
    assert "pass -y" in refused.stderr


def test_a_submit_with_an_input_over_budget_exits_1_not_4(
    sim: SimulatorServer, tmp_path: Path, _private_config_and_logs: Path
) -> None:
    """An input refused for the budget is sound input: the others go, and the exit code
    says some of the work was not done (1), not that an input is malformed (4)."""
    (_private_config_and_logs / "config.toml").write_text(
        '[prices."gemini-2.5-flash"]\ninput = 1000000.0\noutput = 0.0\n'
    )
    write_input(tmp_path / "small.jsonl", 1)
    write_input(tmp_path / "big.jsonl", 40)
    result = gembatch(
        "submit", "small.jsonl", "big.jsonl", "--max-cost", "100", cwd=tmp_path, env=cli_env(sim)
    )
    assert result.returncode == exit_codes.EXIT_SOME_FAILED, result.stdout + result.stderr
    assert "more than the whole $100.00 budget" in result.stderr
    assert sim.store.creates == 1


def test_ctrl_c_and_sigterm_exit_130_with_the_file_consistent(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    sim.scenario.default_plan = JobPlan(0, 3600)
    seed(sim, tmp_path, [("a.jsonl", 2)])
    poller = subprocess.Popen(
        [*GEMBATCH, "poll", "--plain", "--interval", "1"],
        cwd=tmp_path,
        env=cli_env(sim),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert poller.stdout is not None and "loaded 1 job" in poller.stdout.readline()
    poller.send_signal(signal.SIGTERM)
    _, err = poller.communicate(timeout=60)
    assert poller.returncode == exit_codes.EXIT_INTERRUPTED
    assert err.strip().startswith("gembatch: stopped; the job file is consistent")
    assert JobFile.load(tmp_path / "job-info.jsonl").bad_lines == []


def test_cancel_with_a_rejected_key_exits_5(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.default_plan = JobPlan(0, 3600)
    seed(sim, tmp_path, [("a.jsonl", 2)])
    sim.scenario.api_key = "another-key"
    result = gembatch("cancel", "batch/a.jsonl", cwd=tmp_path, env=cli_env(sim))
    assert result.returncode == exit_codes.EXIT_AUTH, result.stdout + result.stderr
    assert_one_line_messages(result)


def test_results_not_on_disk_are_not_done(sim: SimulatorServer, tmp_path: Path) -> None:
    """`results/` is a file, so nothing can be saved: the user must act (exit 4, as for
    bad input, from --once too), and the remote is kept."""
    seed(sim, tmp_path, [("a.jsonl", 2)])
    (tmp_path / "batch/results").write_text("in the way")
    result = gembatch("poll", "--once", cwd=tmp_path, env=cli_env(sim))
    assert result.returncode == exit_codes.EXIT_BAD_INPUT, result.stdout + result.stderr
    assert "batch/results is a file where the results folder should be" in result.stdout
    assert sim.store.batches and not sim.store.deletions
    assert gembatch("status", cwd=tmp_path).returncode == exit_codes.EXIT_IN_PROGRESS


# --- bad input: one line, never a traceback ---------------------------------------------
BAD_FILES = {
    "garbage": b"\x00\xff\xfe binary \x89PNG\r\n\x1a\n",
    "empty object": b"{}\n",
    "lone surrogate": b'{"input_file": "a\\ud800.jsonl", "batch": {"name": "batches/x1"}}\n',
    "null stats": b'{"input_file": "a.jsonl", "batch": {"name": "batches/x2"}, '
    b'"stats": {"succeeded": null, "failed": "many"}}\n',
    "nul in input": b'{"input_file": "a\\u0000.jsonl", "batch": {"name": "batches/x3", '
    b'"state": "JOB_STATE_SUCCEEDED"}}\n',
    "deep nesting": b"[" * 200_000 + b"\n",
    "huge integer": b'{"count": ' + b"9" * 5000 + b"}\n",
    "wrong types": b'{"input_file": 7, "batch": {"name": "batches/x4", "create_time": 5, '
    b'"state": ["x"]}, "usage": {"promptTokenCount": "lots"}, "results_file": 3}\n',
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_malformed_job_files_get_one_line_and_keep_every_byte(
    sim: SimulatorServer, tmp_path: Path, name: str
) -> None:
    path = tmp_path / "job-info.jsonl"
    path.write_bytes(BAD_FILES[name])
    for command in (("status",), ("status", "--json"), ("poll", "--once")):
        result = gembatch(*command, cwd=tmp_path, env=cli_env(sim))
        assert_one_line_messages(result)
        assert result.returncode in (exit_codes.EXIT_BAD_INPUT, exit_codes.EXIT_IN_PROGRESS), (
            command,
            result.stderr,
        )
    assert path.read_bytes() == BAD_FILES[name]


def test_a_lone_surrogate_does_not_stop_rewrites(sim: SimulatorServer, tmp_path: Path) -> None:
    """Results are saved, and the record with `\\ud800` is written back, escaped."""
    job_file = seed(sim, tmp_path, [("a.jsonl", 2)])
    job_file.records[0].raw["note"] = "\ud800"
    job_file.save()
    result = gembatch("poll", "--once", cwd=tmp_path, env=cli_env(sim))
    assert result.returncode == exit_codes.EXIT_OK, result.stderr
    (record,) = JobFile.load(tmp_path / "job-info.jsonl").records
    assert record.remote_deleted and record.data["note"] == "\ud800"


@pytest.mark.parametrize(
    "lock", [".gembatch/job-info.jsonl.lock", ".gembatch/job-info.jsonl.poll.lock"]
)
def test_lock_files_that_are_folders(sim: SimulatorServer, tmp_path: Path, lock: str) -> None:
    seed(sim, tmp_path, [("a.jsonl", 2)])
    (tmp_path / lock).unlink(missing_ok=True)
    (tmp_path / lock).mkdir()
    result = gembatch("poll", "--once", cwd=tmp_path, env=cli_env(sim))
    assert_one_line_messages(result)
    assert f"cannot open the lock file {tmp_path / lock}" in result.stderr + result.stdout
    assert result.returncode == exit_codes.EXIT_BAD_INPUT


def test_another_users_lock_file(sim: SimulatorServer, tmp_path: Path) -> None:
    """After a `sudo` run left root-owned lock files, an ordinary user gets one line."""
    seed(sim, tmp_path, [("a.jsonl", 2)])
    lock = tmp_path / ".gembatch/job-info.jsonl.poll.lock"
    lock.write_text("")
    lock.chmod(0o400)
    result = gembatch(
        "poll", "--once", cwd=tmp_path, env=cli_env(sim), prefix=tuple(unprivileged())
    )
    assert_one_line_messages(result)
    assert result.returncode == exit_codes.EXIT_BAD_INPUT
    assert "remove it while no gembatch runs" in result.stderr


def test_status_json_into_head_is_quiet(tmp_path: Path) -> None:
    lines = [
        json.dumps({"input_file": f"{n}.jsonl", "batch": {"name": f"batches/{n}"}})
        for n in range(3000)
    ]
    (tmp_path / "job-info.jsonl").write_text("\n".join(lines) + "\n")
    result = subprocess.run(
        f"{shutil.which('python3') or sys.executable} -m gembatch status --json | head -n 2",
        shell=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.splitlines()[0] == "{"
    assert result.stderr == ""


def test_a_full_disk_is_called_a_full_disk(sim: SimulatorServer, tmp_path: Path) -> None:
    """Not "cannot reach 127.0.0.1 ... will retry": the results folder has no room."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare to mount a tiny tmpfs in a private namespace")
    sim.scenario.default_plan = JobPlan(0, 0, response_bytes=4000)
    seed(sim, tmp_path, [("a.jsonl", 30)])
    results = tmp_path / "batch/results"
    results.mkdir(parents=True)
    result = in_private_mount(f"mount -t tmpfs -o size=64k tmpfs {results}", sim, tmp_path)
    if "mount" in result.stderr and "permission" in result.stderr.lower():
        pytest.skip("this machine does not allow a private mount")
    assert "no space left on device" in result.stdout
    assert "cannot reach" not in result.stdout
    assert result.returncode == exit_codes.EXIT_IN_PROGRESS
    assert sim.store.batches and not sim.store.deletions


# --- plain mode ---------------------------------------------------------------------------
def test_plain_poll_ends_by_itself_with_a_summary(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.plans = [("batch/bad.jsonl", JobPlan(0, 0, outcome="FAILED"))]
    seed(sim, tmp_path, [("good.jsonl", 2), ("bad.jsonl", 2)])
    result = gembatch("poll", "--plain", "--interval", "1", cwd=tmp_path, env=cli_env(sim))
    assert result.returncode == exit_codes.EXIT_SOME_FAILED
    out = result.stdout
    assert out.count("all jobs are done") == 1
    summary_lines = out.splitlines()[-3:]
    assert "summary: 2 jobs (1 succeeded, 1 failed)" in summary_lines[0]
    assert "✘ batch/bad.jsonl: Simulated job failure. (code 13)" in summary_lines[1]


async def test_plain_mode_prints_changes_not_progress(sim: SimulatorServer, tmp_path: Path) -> None:
    """Five running jobs over five cycles of progress print no line per job per cycle."""
    sim.scenario.default_plan = JobPlan(0, 3600)
    job_file = await seed_jobs(make_client(sim), tmp_path, [(f"{n}.jsonl", 50) for n in range(5)])
    clock = FrozenClock(time.time())
    out = io.StringIO()
    printer = PlainPrinter(out, clock)
    engine = Engine(JobFile.load(job_file.path, clock), make_client(sim), emit=printer)
    engine.announce()
    for _ in range(5):
        sim.store.clock = lambda: time.time() + 600  # jobs move on between cycles
        await engine.run_cycle()
        clock.advance(30)
    assert engine.job_file.records[0].data["stats"]["succeeded"] > 0  # progress was made
    assert out.getvalue().splitlines() == out.getvalue().splitlines()[:1]  # "loaded" only
    clock.advance(600)  # ten quiet minutes: one heartbeat
    await engine.run_cycle()
    assert "checked 5 jobs; next poll in 30s" in out.getvalue().splitlines()[-1]


def test_control_characters_in_names_are_shown_escaped(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    seed(sim, tmp_path, [("a.jsonl", 1)])
    path = tmp_path / "job-info.jsonl"
    record = json.loads(path.read_text())
    record["input_file"] = "batch/\x1b[31mred\x07.jsonl"
    path.write_text(json.dumps(record) + "\n")
    result = gembatch("poll", "--once", "--plain", cwd=tmp_path, env=cli_env(sim))
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "batch/\\x1b[31mred\\x07.jsonl" in result.stdout


# --- the command line ---------------------------------------------------------------------
def test_version_and_job_info_after_the_command(tmp_path: Path) -> None:
    assert gembatch("--version", cwd=tmp_path).stdout.strip() == f"gembatch {__version__}"
    (tmp_path / "jobs.jsonl").write_text(
        json.dumps({"input_file": "a.jsonl", "batch": {"name": "batches/1"}}) + "\n"
    )
    after = gembatch("status", "--job-info", "jobs.jsonl", cwd=tmp_path)
    before = gembatch("--job-info", "jobs.jsonl", "status", cwd=tmp_path)
    assert after.stdout == before.stdout and after.stdout.startswith("jobs.jsonl: 1 job\n")


def test_submit_names_a_missing_input_before_a_missing_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    write_input(tmp_path / "ok.jsonl", 1)
    result = gembatch("submit", "ok.jsonl", "nope.jsonl", cwd=tmp_path, env=env)
    assert result.returncode == exit_codes.EXIT_BAD_INPUT
    assert result.stderr == ("gembatch: no such input file: nope.jsonl; nothing was submitted\n")


def test_status_list_is_aligned_with_durations_and_reasons(tmp_path: Path) -> None:
    records = [
        {
            "input_file": "batch/a-long-name.jsonl",
            "batch": {
                "name": "batches/1",
                "state": "JOB_STATE_FAILED",
                "create_time": "2026-01-01T10:00:00+00:00",
                "end_time": "2026-01-01T10:05:00+00:00",
            },
            "last_error": "Quota exceeded. (code 8)",
        },
        {
            "input_file": "b.jsonl",
            "batch": {
                "name": "batches/2",
                "state": "JOB_STATE_SUCCEEDED",
                "create_time": "2026-01-01T10:00:00+00:00",
                "end_time": "2026-01-01T11:00:30+00:00",
            },
            "results_file": "results/b.jsonl",
            "remote_deleted_at": "2026-01-01T11:01:00+00:00",
        },
    ]
    (tmp_path / "job-info.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    lines = gembatch("status", "--list", cwd=tmp_path).stdout.splitlines()
    b_row = next(line for line in lines if "b.jsonl" in line)
    a_row = next(line for line in lines if "a-long-name" in line)
    assert "1h 00m 30s" in b_row and b_row.endswith("results/b.jsonl")
    assert "5m 00s" in a_row and a_row.endswith("! Quota exceeded. (code 8)")
    assert a_row.index("failed") == b_row.index("succeeded")  # one column for the state


def test_a_read_only_folder_gets_one_line(sim: SimulatorServer, tmp_path: Path) -> None:
    """Errno 30 (a read-only mount) is said in one line, and nothing remote goes."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare to remount a folder read-only privately")
    seed(sim, tmp_path, [("a.jsonl", 2)])
    before = (tmp_path / "job-info.jsonl").read_bytes()
    mount = f"mount --bind {tmp_path} {tmp_path} && mount -o remount,bind,ro {tmp_path}"
    result = in_private_mount(mount, sim, tmp_path)
    if "mount:" in result.stderr:
        pytest.skip(f"this machine does not allow a private remount: {result.stderr.strip()}")
    assert_one_line_messages(result)
    assert "read-only file system" in result.stderr
    assert result.returncode == exit_codes.EXIT_BAD_INPUT
    assert (tmp_path / "job-info.jsonl").read_bytes() == before
    assert sim.store.batches and not sim.store.deletions


# --- bytes the job file must keep ------------------------------------------------------
def test_rewrites_keep_every_byte_of_what_is_not_ours(sim: SimulatorServer, tmp_path: Path) -> None:
    """A BOM, a bad line with a bare CR, CRLF endings, a time with more precision than
    the server's: all still there, to the byte, after a rewrite that saved results."""
    seed(sim, tmp_path, [("a.jsonl", 2)])
    path = tmp_path / "job-info.jsonl"
    record = json.loads(path.read_text())
    record["batch"]["create_time"] = record["batch"]["create_time"].replace("+00:00", ".5Z")
    bad = b"half a line\rand a CR\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + bad + json.dumps(record).encode() + b"\r\n" + bad)
    stale = tmp_path / ".job-info.jsonl.x1y2.tmp"  # left by a rewrite that was killed
    stale.write_text("half")
    result = gembatch("poll", "--once", cwd=tmp_path, env=cli_env(sim))
    assert result.returncode == exit_codes.EXIT_BAD_INPUT  # the bad lines are reported
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf" + bad) and data.endswith(bad)
    (saved,) = JobFile.load(path).records
    assert saved.remote_deleted and saved.results_file
    assert saved.batch["create_time"] == record["batch"]["create_time"]
    assert not stale.exists()


def test_a_bom_does_not_make_line_one_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "job-info.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"input_file": "a.jsonl", "job_name": "batches/1"}\n')
    assert [r.batch_name for r in JobFile.load(path).records] == ["batches/1"]
    assert JobFile.load(path).bad_lines == []


def test_the_earlier_tools_finished_records_read_as_finished(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """Its oldest records say `final_state` and `completed_at`, with no `batch`; the
    server forgot those jobs long ago. Finished, not "not checked" or "missing"."""
    old = {
        "input_file": "batch/old.jsonl",
        "job_name": "batches/gone1",
        "uploaded_file_name": "files/gone1",
        "final_state": "JOB_STATE_SUCCEEDED",
        "completed_at": "2025-06-01T10:00:00+00:00",
    }
    path = tmp_path / "job-info.jsonl"
    path.write_text(json.dumps(old) + "\n")
    listed = gembatch("status", "--list", cwd=tmp_path).stdout
    assert "      batch/old.jsonl  succeeded" in listed.splitlines()
    result = gembatch("poll", "--plain", "--interval", "1", cwd=tmp_path, env=cli_env(sim))
    assert result.returncode == exit_codes.EXIT_OK, result.stdout + result.stderr
    (record,) = JobFile.load(path).records
    assert not record.missing and record.data["results_with_earlier_tool"]


def test_the_earlier_tools_lock_is_respected(sim: SimulatorServer, tmp_path: Path) -> None:
    """It locks with `job-info.jsonl.tmp` (O_EXCL): while that is fresh, we do not write."""
    seed(sim, tmp_path, [("a.jsonl", 2)])
    before = (tmp_path / "job-info.jsonl").read_bytes()
    (tmp_path / "job-info.jsonl.tmp").write_text("the earlier tool, mid-write")
    result = gembatch("poll", "--once", cwd=tmp_path, env=cli_env(sim))
    assert result.returncode == exit_codes.EXIT_BAD_INPUT
    assert "the earlier gembatch tool is writing" in result.stderr
    assert (tmp_path / "job-info.jsonl").read_bytes() == before
    assert sim.store.batches and not sim.store.deletions  # nothing deleted unrecorded


def test_failed_rows_are_the_rows_still_failed_after_retries(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """A retry that answers every failed row leaves none failed in status, its list, the
    JSON and the closing summary; an input whose only job failed whole is exported with
    the reason and what to do."""
    sim.scenario.default_plan = JobPlan(0, 0, failed_row_rate=0.4)
    sim.scenario.plans = [("*retry*", JobPlan(0, 0)), ("*b.jsonl", JobPlan(0, 0, outcome="FAILED"))]
    sim.scenario.partial_output_rate = 0.0  # (asked by name: b's job leaves no rows)
    env = cli_env(sim)
    write_input(tmp_path / "a.jsonl", 20)
    write_input(tmp_path / "b.jsonl", 3)
    assert gembatch("submit", "a.jsonl", "b.jsonl", cwd=tmp_path, env=env).returncode == 0
    first = gembatch("poll", "--plain", "--interval", "1", cwd=tmp_path, env=env)
    failed = JobFile.load(tmp_path / "job-info.jsonl").records[0].data["failed_rows"]
    assert failed > 0
    assert f"{failed} rows still failed in 1 job that succeeded" in first.stdout
    listed = gembatch("status", "--list", cwd=tmp_path, env=env).stdout
    assert f"20/20 ({failed} failed)" in listed
    why = gembatch("export", "b.jsonl", cwd=tmp_path, env=env)
    assert why.returncode == 1
    assert "its 1 job failed as a whole; `gembatch retry`" in why.stderr, why.stderr
    assert gembatch("retry", cwd=tmp_path, env=env).returncode == 0
    second = gembatch("poll", "--plain", "--interval", "1", cwd=tmp_path, env=env)
    assert "still failed" not in second.stdout, second.stdout
    report = json.loads(gembatch("status", "--json", cwd=tmp_path, env=env).stdout)
    assert report["failed_rows"] == 0
    assert all(job["failed_rows"] in (0, None) for job in report["jobs"])
    listed = gembatch("status", "--list", cwd=tmp_path, env=env).stdout
    assert "failed)" not in listed and "failed row" not in listed
