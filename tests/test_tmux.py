"""End to end: the real `gembatch poll` in tmux, read from the screen with capture-pane."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gembatch.cli.demo import seed_jobs
from gembatch.jobfile.file import JobFile
from gembatch.simulator import JobPlan, SimulatorServer
from tests.conftest import cli_env, make_client

if shutil.which("tmux") is None:
    if os.environ.get("CI"):
        raise RuntimeError("tmux is required in CI; .ci/run installs it")
    pytest.skip("tmux is not installed", allow_module_level=True)


class Tmux:
    """A private tmux server running one command in a fixed-size window."""

    def __init__(self, name: str) -> None:
        self.socket = name

    def run(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False
        ).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "main")

    def gembatch(self, folder: Path, env: dict[str, str], *args: str) -> Path:
        """`gembatch ARGS` in `folder` in a 100x30 window; the shell stays afterwards (its
        scrollback readable) and the exit code goes to the file returned."""
        exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
        done = folder / "exit-code"
        command = (
            f"cd {shlex.quote(str(folder))} && env {exports} TERM=xterm-256color "
            f"{shlex.quote(sys.executable)} -m gembatch {' '.join(args)}; "
            f"echo $? > {shlex.quote(str(done))}; sleep 60"
        )
        self.run("new-session", "-d", "-s", "main", "-x", "100", "-y", "30", command)
        return done

    def exit_code(self, done: Path) -> str:
        deadline = time.monotonic() + 20
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        return done.read_text().strip()

    def wait_for(self, text: str, timeout: float, seen: list[str]) -> str:
        """Read the screen until `text` shows, keeping every distinct frame."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.screen()
            if not seen or seen[-1] != frame:
                seen.append(frame)
            if text in frame:
                return frame
            time.sleep(0.2)  # the screen is another process's; we can only look again
        raise AssertionError(f"{text!r} never appeared; last screen:\n{self.screen()}")


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    session = Tmux(f"gembatch-test-{os.getpid()}")
    yield session
    session.run("kill-server")


def test_poll_in_tmux_shows_jobs_progress_to_completion(
    sim: SimulatorServer, tmp_path: Path, tmux: Tmux
) -> None:
    sim.scenario.plans = [(f"batch/{n}.jsonl", JobPlan(0.5, 1.0 + 1.5 * n)) for n in range(4)]
    asyncio.run(seed_jobs(make_client(sim), tmp_path, [(f"{n}.jsonl", 10 + n) for n in range(4)]))
    env = cli_env(sim)
    keys = ("GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL")
    done_marker = tmux.gembatch(
        tmp_path, {key: env[key] for key in keys}, "poll", "--interval", "1"
    )
    frames: list[str] = []
    tmux.wait_for("▶ running", timeout=30, seen=frames)
    final = tmux.wait_for("All 4 jobs are done", timeout=60, seen=frames)
    assert "4 succeeded" in final
    for n in range(4):
        assert f"batch/{n}.jsonl" in final
    # (by name, or by the legend's icons where the names do not fit)
    assert "0 in progress · 4 succeeded" in final or "0 in progress · 4 ✔" in final
    assert final.count("✔ succeede") == 4  # a toast may cover the last letters
    tmux.run("send-keys", "-t", "main", "q")
    assert tmux.exit_code(done_marker) == "0"
    # Back in the shell, the summary stays in the scrollback.
    after = tmux.wait_for("results in ./batch/results/", timeout=10, seen=frames)
    assert "summary: 4 jobs (4 succeeded)" in after
    records = JobFile.load(tmp_path / "job-info.jsonl").records
    assert all(r.results_file and r.remote_deleted for r in records)


def test_closing_the_demos_terminal_leaves_no_folder(tmp_path: Path, tmux: Tmux) -> None:
    """The demo's files live in a temporary folder: a closed terminal (SIGHUP, which
    ends the process without its clean-up) must not leave it behind (issue 25)."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    command = (
        f"env TMPDIR={shlex.quote(str(temp))} TERM=xterm-256color "
        f"{shlex.quote(sys.executable)} -m gembatch demo"
    )
    tmux.run("new-session", "-d", "-s", "main", "-x", "100", "-y", "30", command)
    tmux.wait_for("running", timeout=60, seen=[])
    assert [p.name[:14] for p in temp.iterdir()] == ["gembatch-demo-"]
    pid = int(tmux.run("display-message", "-p", "-t", "main", "#{pane_pid}").strip())
    tmux.run("kill-server")  # the terminal goes: the demo gets SIGHUP
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # another process's end: we can only look again
    assert not Path(f"/proc/{pid}").exists()
    assert list(temp.iterdir()) == []


def test_a_big_job_file_with_no_job_is_said_in_the_shell_with_exit_4(
    tmp_path: Path, tmux: Tmux
) -> None:
    """From 4 MB the monitor reads the job file after its first frame; when it holds
    no job, the screen goes and the shell gets the one line a small file gets."""
    (tmp_path / "job-info.jsonl").write_text('{"note": "not a job"}\n' * 200_000)  # 4.4 MB
    done_marker = tmux.gembatch(tmp_path, {"GEMINI_API_KEY": "k"}, "poll")
    shell = tmux.wait_for("nothing to poll", timeout=60, seen=[])
    assert "gembatch: job-info.jsonl holds no job that can be read; nothing to poll" in shell
    assert "Traceback" not in shell
    assert tmux.exit_code(done_marker) == "4"
