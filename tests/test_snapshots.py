"""SVG snapshots of the monitor: a fixed job file, a frozen clock, UTC, a fixed size."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from pytest_textual_snapshot import normalize_svg
from textual._doc import take_svg_screenshot
from textual.pilot import Pilot

from gembatch.app import GembatchApp
from gembatch.clock import FrozenClock
from gembatch.engine import EngineOptions
from gembatch.gemini import GeminiClient, RetryPolicy
from gembatch.jobfile import JobFile
from tests.conftest import monitor_app, wait_for

NOW = 1_795_430_000.0  # 2026-11-23 10:33:20 UTC


def iso(offset_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(NOW + offset_s))


def record(
    n: int,
    name: str,
    state: str,
    count: int,
    *,
    started: float,
    ended: float | None = None,
    stats: dict[str, int] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    batch: dict[str, Any] = {
        "name": f"batches/job{n:02d}",
        "display_name": name,
        "model": "models/gemini-2.5-flash",
        "state": state,
        "create_time": iso(started),
    }
    if ended is not None:
        batch["end_time"] = iso(ended)
    body: dict[str, Any] = {
        "input_file": name,
        "count": count,
        "uploaded_file_name": f"files/in{n:02d}",
        "batch": batch,
    }
    if stats is not None:
        body["stats"] = {"total": count, **stats}
    body.update(extra)
    return body


RUNNING_SET = [
    record(
        1,
        "batch/001-greetings.jsonl",
        "JOB_STATE_SUCCEEDED",
        40,
        started=-7200,
        ended=-5400,
        stats={"succeeded": 40},
        results_file="batch/results/001-greetings.jsonl",
        results_lines=40,
        failed_rows=0,
        remote_deleted_at=iso(-5300),
        usage={"promptTokenCount": 3200, "candidatesTokenCount": 5100, "totalTokenCount": 8300},
    ),
    record(
        2,
        "batch/002-summaries.jsonl",
        "JOB_STATE_RUNNING",
        12000,
        started=-13530,
        stats={"succeeded": 7400, "failed": 12, "pending": 4588},
    ),
    record(
        3,
        "batch/003-translations.jsonl",
        "JOB_STATE_FAILED",
        60,
        started=-9000,
        ended=-8000,
        stats={"pending": 60},
        last_error="Simulated job failure. (code 13)",
        remote_deleted_at=iso(-7900),
    ),
    record(
        4,
        "batch/004-qa-pairs.jsonl",
        "JOB_STATE_SUCCEEDED",
        200,
        started=-6000,
        ended=-100,
        stats={"succeeded": 178, "failed": 22},
        results_file="batch/results/004-qa-pairs.jsonl",
        results_lines=200,
        failed_rows=22,
    ),
    record(
        5,
        "batch/005-long-essays.jsonl",
        "JOB_STATE_PENDING",
        500,
        started=-600,
        stats={"pending": 500},
    ),
    record(
        6,
        "batch/006-stale.jsonl",
        "JOB_STATE_EXPIRED",
        30,
        started=-180000,
        ended=-7200,
        remote_deleted_at=iso(-7100),
    ),
    record(
        7,
        "batch/007-[red]not-markup[/].jsonl",
        "JOB_STATE_CANCELLED",
        20,
        started=-4000,
        ended=-3000,
        remote_deleted_at=iso(-2990),
    ),
    record(8, "batch/008-sentiment.jsonl", "BATCH_STATE_SOMETHING_NEW", 250, started=-900),
]


@pytest.fixture(autouse=True)
def _utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def snapshot_app(tmp_path: Path, records: list[dict[str, Any]]) -> GembatchApp:
    path = tmp_path / "job-info.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    # A closed loopback port: the only server this app can reach is none at all.
    client = GeminiClient(
        api_key="snapshot-key", base_url="http://127.0.0.1:9", retry=RetryPolicy(attempts=1)
    )
    return monitor_app(
        JobFile.load(path, FrozenClock(NOW)),
        client,
        EngineOptions(interval_s=30),
        title="job-info.jsonl",
    )


async def settle(pilot: Pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    monitor = pilot.app.monitor  # type: ignore[attr-defined]
    await wait_for(pilot, lambda: not monitor.history_rows.loading, "the earlier jobs' rows")
    await pilot.pause()


async def poll_once(pilot: Pilot) -> None:
    await pilot.press("r")
    await settle(pilot)


async def open_detail(pilot: Pilot) -> None:
    await settle(pilot)
    await pilot.press("enter")
    await pilot.pause()


DONE_SET = [r for r in RUNNING_SET if r.get("remote_deleted_at")]
# 23 inputs whose names differ only near the start: each row must still be told apart.
SIMILAR_SET = [
    record(
        n,
        f"batch/{n:02d}-overnight-task-with-a-longish-name.jsonl",
        "JOB_STATE_SUCCEEDED" if n % 3 == 0 else "JOB_STATE_RUNNING",
        100,
        started=-3600 - 60 * n,
        ended=-60 * n if n % 3 == 0 else None,
        stats={"succeeded": 100} if n % 3 == 0 else {"succeeded": 3 * n, "pending": 100 - 3 * n},
        **(
            {"results_file": f"batch/results/{n:02d}-overnight-task-with-a-longish-name.jsonl"}
            if n % 3 == 0
            else {}
        ),
    )
    for n in range(23)
]
RunBefore = Callable[[Pilot], Awaitable[None]]
# name: (records, terminal size, what to do before the picture)
SCENARIOS: dict[str, tuple[list[dict[str, Any]], tuple[int, int], RunBefore]] = {
    "test_main_screen_with_jobs_in_every_state": (RUNNING_SET, (120, 30), settle),
    "test_main_screen_at_80x24": (RUNNING_SET, (80, 24), settle),
    "test_all_done_banner": (DONE_SET, (120, 24), poll_once),
    "test_network_errors_are_shown": (RUNNING_SET[:2], (120, 24), poll_once),
    "test_empty_job_file": ([], (100, 20), settle),
    "test_detail_screen": (RUNNING_SET, (110, 40), open_detail),
    "test_similar_names_at_80x24": (SIMILAR_SET, (80, 24), settle),
    "test_similar_names_at_120x36": (SIMILAR_SET, (120, 36), settle),
    "test_similar_names_at_200x50": (SIMILAR_SET, (200, 50), settle),
}


def compare_scenario(snap_compare: Any, tmp_path: Path, name: str) -> bool:
    records, size, run_before = SCENARIOS[name]
    return bool(
        snap_compare(snapshot_app(tmp_path, records), terminal_size=size, run_before=run_before)
    )


def test_main_screen_with_jobs_in_every_state(snap_compare: Any, tmp_path: Path) -> None:
    assert compare_scenario(snap_compare, tmp_path, "test_main_screen_with_jobs_in_every_state")


def test_main_screen_at_80x24(snap_compare: Any, tmp_path: Path) -> None:
    assert compare_scenario(snap_compare, tmp_path, "test_main_screen_at_80x24")


def test_all_done_banner(snap_compare: Any, tmp_path: Path) -> None:
    assert compare_scenario(snap_compare, tmp_path, "test_all_done_banner")


def test_network_errors_are_shown(snap_compare: Any, tmp_path: Path) -> None:
    assert compare_scenario(snap_compare, tmp_path, "test_network_errors_are_shown")


def test_empty_job_file(snap_compare: Any, tmp_path: Path) -> None:
    assert compare_scenario(snap_compare, tmp_path, "test_empty_job_file")


def test_detail_screen(snap_compare: Any, tmp_path: Path) -> None:
    assert compare_scenario(snap_compare, tmp_path, "test_detail_screen")


def test_similar_names_at_80x24(snap_compare: Any, tmp_path: Path) -> None:
    assert compare_scenario(snap_compare, tmp_path, "test_similar_names_at_80x24")


def test_similar_names_at_120x36(snap_compare: Any, tmp_path: Path) -> None:
    assert compare_scenario(snap_compare, tmp_path, "test_similar_names_at_120x36")


def test_similar_names_at_200x50(snap_compare: Any, tmp_path: Path) -> None:
    assert compare_scenario(snap_compare, tmp_path, "test_similar_names_at_200x50")


@pytest.mark.parametrize("years", [1, 5])
def test_snapshots_do_not_depend_on_the_date(years: int, tmp_path: Path) -> None:
    """Every picture above, taken with the real clock moved years ahead, is unchanged.

    The app reads the time only through the job file's clock (frozen at NOW here), so
    nothing on screen may move when the machine's date does.
    """
    stored_folder = Path(__file__).parent / "__snapshots__" / "test_snapshots"
    with time_machine.travel(time.time() + years * 365.25 * 86400, tick=True):
        for name, (records, size, run_before) in SCENARIOS.items():
            folder = tmp_path / name
            folder.mkdir()
            taken = take_svg_screenshot(
                app=snapshot_app(folder, records), terminal_size=size, run_before=run_before
            )
            stored = (stored_folder / f"{name}.svg").read_text()
            assert normalize_svg(taken) == normalize_svg(stored), f"{name} changed {years}y ahead"
