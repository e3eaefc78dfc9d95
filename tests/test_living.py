"""Living with it: configuration, the event log, hooks, warnings, the service unit."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from gembatch import exit_codes
from gembatch.cli.demo import seed_jobs, write_input
from gembatch.clock import FrozenClock
from gembatch.config import Config, ConfigError, default_text, load_config
from gembatch.engine.events import Event, JobStuck, OutputExpiring, PollFailed
from gembatch.engine.loop import Engine, EngineOptions
from gembatch.engine.observers import EventLog, Fanout, HookRunner
from gembatch.jobfile.file import JobFile
from gembatch.simulator import JobPlan, SimulatorServer
from tests.conftest import API_KEY, GEMBATCH, cli_env, make_client, run_cli

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GEMBATCH, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


# --- configuration ----------------------------------------------------------------------
def test_default_config_file_parses_to_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(default_text())
    loaded = load_config(path)
    loaded.path = None
    assert loaded == Config()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("interval = 'often'", "interval must be a number, not 'often'"),
        ("concurrency = 2.5", "concurrency must be a whole number"),
        ("keep_remote = 1", "keep_remote must be true or false"),
        ("colour = 'blue'", "unknown setting 'colour'"),
        ("interval = 0", "interval must be at least 1 second"),
        ("results_folder = '../out'", "results_folder must be a plain folder name"),
        ("[prices.x]\ninput = 'cheap'", "prices.x needs numbers"),
        ("interval = ", "not valid TOML"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_config_init_and_path(tmp_path: Path) -> None:
    env = dict(os.environ)
    first = run("config", "init", cwd=tmp_path, env=env)
    path = Path(env["GEMBATCH_CONFIG"])
    assert first.returncode == 0 and path.read_text() == default_text()
    again = run("config", "init", cwd=tmp_path, env=env)
    assert again.returncode == 1 and "--force" in again.stderr
    shown = run("config", "path", cwd=tmp_path, env=env)
    assert shown.stdout.strip() == str(path) and shown.returncode == 0
    path.write_text("interval = 'x'\n")
    broken = run("config", "path", cwd=tmp_path, env=env)
    assert broken.returncode == exit_codes.EXIT_BAD_INPUT and "interval must be" in broken.stderr


def test_flags_override_the_config_file(sim: SimulatorServer, tmp_path: Path) -> None:
    asyncio.run(seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 2)]))
    env = cli_env(sim)
    Path(env["GEMBATCH_CONFIG"]).write_text('keep_remote = true\nresults_folder = "out"\n')
    kept = run("poll", "--once", cwd=tmp_path, env=env)
    assert kept.returncode == 0, kept.stderr
    assert (tmp_path / "batch/out/a.jsonl").is_file()  # the config's folder name
    assert sim.store.batches and not sim.store.deletions  # the config's keep_remote
    Path(env["GEMBATCH_CONFIG"]).write_text("interval = 'x'\n")
    refused = run("poll", "--once", cwd=tmp_path, env=env)
    assert refused.returncode == exit_codes.EXIT_BAD_INPUT and "interval must be" in refused.stderr


def test_flag_beats_config(tmp_path: Path) -> None:
    from gembatch.cli import pick as _pick

    assert _pick(None, 16) == 16 and _pick(4, 16) == 4 and _pick(False, True) is False


# --- the event log ----------------------------------------------------------------------
def test_log_file_records_events_and_never_the_key(sim: SimulatorServer, tmp_path: Path) -> None:
    asyncio.run(seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 2)]))
    env = cli_env(sim)
    sim.scenario.faults.rules.clear()
    result = run("poll", "--once", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    log = Path(env["GEMBATCH_LOG_DIR"]) / "gembatch.log"
    text = log.read_text()
    assert "a.jsonl: results saved to batch/results/a.jsonl" in text
    assert "deleted remote batches/" in text
    assert str((tmp_path / "job-info.jsonl").resolve()) in text
    tail = run("logs", "--tail", "1", cwd=tmp_path, env=env)
    assert tail.stdout.strip() == text.strip().splitlines()[-1]
    assert run("logs", cwd=tmp_path, env=env).stdout.strip() == str(log)


def test_log_redacts_the_key_whatever_the_message(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "g.log", tmp_path / "job-info.jsonl", secrets=[API_KEY])
    log(PollFailed(f"server echoed {API_KEY} back"))
    log.close()
    text = (tmp_path / "g.log").read_text()
    assert API_KEY not in text and "server echoed *** back" in text


# --- hooks ------------------------------------------------------------------------------
async def test_hook_gets_the_record_and_a_failing_hook_does_not_stop_polling(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    sim.scenario.plans = [("batch/late.jsonl", JobPlan(0, 3600))]
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 3), ("late.jsonl", 1)])
    seen = tmp_path / "seen.txt"
    on_complete = (
        f'cat > "{tmp_path}/record.json"; '
        f'echo "$GEMBATCH_RESULTS|$GEMBATCH_INPUT|$GEMBATCH_STATE|$GEMBATCH_BATCH" '
        f'>> "{seen}"'
    )
    events: list[Event] = []
    fanout = Fanout([events.append])
    hooks = HookRunner(on_complete, "echo broken >&2; exit 3", report=fanout)
    fanout.listeners.append(hooks)
    engine = Engine(job_file, make_client(sim), EngineOptions(interval_s=0.01), emit=fanout)
    await engine.run_cycle()
    await hooks.drain()
    a = job_file.records[0]
    assert seen.read_text().strip() == (
        f"batch/results/a.jsonl|batch/a.jsonl|JOB_STATE_SUCCEEDED|{a.batch_name}"
    )
    assert json.loads((tmp_path / "record.json").read_text())["input_file"] == "batch/a.jsonl"
    sim.store.force_state(str(job_file.records[1].batch_name), "SUCCEEDED")
    for _ in range(3):
        finished = await engine.run_cycle()
    await hooks.drain()
    assert finished.all_done  # polling went on to the end despite the failing hook
    failures = [e for e in events if isinstance(e, PollFailed) and "on-all-done" in e.message]
    assert len(failures) == 1 and "exit 3" in failures[0].message
    assert "broken" in failures[0].message


# --- warnings ---------------------------------------------------------------------------
async def test_stuck_and_expiring_jobs_are_warned_about_once(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    sim.scenario.plans = [
        ("batch/stuck.jsonl", JobPlan(3600, 3600)),
        ("batch/late.jsonl", JobPlan(0, 0, output_ready_delay_s=3600)),
    ]
    job_file = await seed_jobs(make_client(sim), tmp_path, [("stuck.jsonl", 1), ("late.jsonl", 1)])
    events: list[Event] = []
    # A day and 17 hours later by the program's clock: past the 24 h stuck warning and
    # the 40 h unsaved-output warning, while the simulator keeps both jobs as they are.
    later = JobFile.load(job_file.path, FrozenClock(time.time() + 41 * 3600))
    engine = Engine(later, make_client(sim), EngineOptions(), emit=events.append)
    await engine.run_cycle()
    await engine.run_cycle()
    stuck = [e for e in events if isinstance(e, JobStuck)]
    expiring = [e for e in events if isinstance(e, OutputExpiring)]
    assert [e.job.input_file for e in stuck] == ["batch/stuck.jsonl"]
    assert [e.job.input_file for e in expiring] == ["batch/late.jsonl"]


# --- service mode -----------------------------------------------------------------------
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")

    def verify(text: str, name: str) -> subprocess.CompletedProcess[str]:
        unit = tmp_path / name
        unit.write_text(
            text.replace("%h/.config/gembatch/env", str(tmp_path / "env")).replace(
                "%h/batches", str(tmp_path)
            )
        )
        return subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True
        )

    (tmp_path / "env").write_text("GEMINI_API_KEY=x\n")
    shipped = (ROOT / "contrib/gembatch.service").read_text()
    result = verify(shipped, "gembatch.service")
    if "Failed to initialize manager" in result.stderr:
        pytest.skip("systemd-analyze cannot start its manager here")
    assert result.returncode == 0, result.stderr
    assert "gembatch.service:" not in result.stderr, result.stderr  # no warnings either
    broken = verify(
        shipped.replace("ExecStart=/usr/bin/env", "ExecStart=no-such-binary"), "broken.service"
    )
    assert broken.returncode != 0  # the check can fail: it is not passing by default


def test_a_bad_config_setting_is_never_passed_over(
    sim: SimulatorServer, tmp_path: Path, _private_config_and_logs: Path
) -> None:
    """One bad key must not silently drop the user's limits: every command says the file,
    the key and what it must be, in one line, and exits 4; nothing is created."""
    (_private_config_and_logs / "config.toml").write_text(
        "max_cost = 5.0\nmax_running = 2\ntheme = 3\n"
    )
    write_input(tmp_path / "a.jsonl", 2)
    for args in (("submit", "a.jsonl"), ("status",), ("poll", "--once"), ("config", "show")):
        result = run_cli(*args, cwd=tmp_path, sim=sim)
        assert result.returncode == 4, (args, result.stdout, result.stderr)
        assert result.stderr.strip() == (
            f"gembatch: {_private_config_and_logs / 'config.toml'}: theme must be a string, not 3"
        ), args
    assert sim.store.creates == 0
    (_private_config_and_logs / "config.toml").write_text("max_cost = inf\n")
    result = run_cli("submit", "a.jsonl", cwd=tmp_path, sim=sim)  # one rule with the flags
    assert result.returncode == 4 and "max_cost: a budget must be more than $0" in result.stderr


def test_config_show_says_where_each_setting_comes_from(
    sim: SimulatorServer, tmp_path: Path, _private_config_and_logs: Path
) -> None:
    config = _private_config_and_logs / "config.toml"
    config.write_text("interval = 5\n")
    shown = run_cli("config", "show", cwd=tmp_path, sim=sim)
    assert shown.returncode == 0, shown.stderr
    rows = {line.split()[0]: line for line in shown.stdout.splitlines()}
    assert rows["interval"].split()[1] == "5" and rows["interval"].endswith(f"config file {config}")
    assert rows["concurrency"].split()[1] == str(Config.concurrency)
    assert rows["concurrency"].endswith("default")
    assert rows["server"].endswith("environment (GOOGLE_GEMINI_BASE_URL)")
    assert "set (never shown)" in rows["api"] and API_KEY not in shown.stdout
