"""SVG snapshots of the monitor: a fixed job file, a frozen clock, UTC, a fixed size."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from pytest_textual_snapshot import normalize_svg
from rich.console import Console
from textual._doc import take_svg_screenshot
from textual.pilot import Pilot
from textual.widgets import Static

from gembatch.clock import FrozenClock
from gembatch.engine.loop import EngineOptions
from gembatch.gemini.client import GeminiClient, RetryPolicy
from gembatch.jobfile.file import JobFile
from gembatch.tui.app import GembatchApp
from gembatch.tui.screens.detail import JobDetailScreen
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
# Mid-run, as the demo is: every state, and a part waiting in the local queue.
QUEUED_PART = {
    "input_file": "batch/009-queued.part-1-of-2.jsonl",
    "source_file": "batch/009-queued.jsonl",
    "count": 30,
    "submit_id": "a1b2c3d4e5f6",
    "queued_at": iso(-60),
    "batch": {"display_name": "gembatch:a1b2c3d4e5f6 batch/009-queued.part-1-of-2.jsonl",
              "model": "models/gemini-2.5-flash"},
}  # fmt: skip
MID_RUN = [*RUNNING_SET, QUEUED_PART]


def at_row(row: int, *keys: str) -> RunBefore:
    """Settle, put the cursor on `row`, then press `keys`."""

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        for _ in range(row):
            await pilot.press("down")
        for key in keys:
            await pilot.press(key)
        await pilot.pause()

    return run_before


async def browse_results(pilot: Pilot) -> None:
    """The results browser on 004 (200 rows, 22 failed), its files written first."""
    base = pilot.app.monitor.poll_run.engine.base  # type: ignore[attr-defined]
    (base / "batch/results").mkdir(parents=True, exist_ok=True)
    with (base / "batch/004-qa-pairs.jsonl").open("w") as requests:
        for n in range(200):
            prompt = {"contents": [{"parts": [{"text": f"Question {n}: why is the sky blue?"}]}]}
            requests.write(json.dumps({"key": f"q{n:03d}", "request": prompt}) + "\n")
    with (base / "batch/results/004-qa-pairs.jsonl").open("w") as results:
        for n in range(200):
            if n % 9 == 4 and n < 198:
                row: dict[str, Any] = {"error": {"code": 3, "message": "Invalid argument."}}
            else:
                text = f"Answer {n}: Rayleigh scattering."
                row = {"response": {"candidates": [{"content": {"parts": [{"text": text}]},
                                                     "finishReason": "STOP"}]}}  # fmt: skip
            results.write(json.dumps({"key": f"q{n:03d}", **row}) + "\n")
    await at_row(3, "v")(pilot)


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
    "test_mid_run_at_120x36": (MID_RUN, (120, 36), settle),
    "test_mid_run_at_200x50": (MID_RUN, (200, 50), settle),
    "test_detail_of_a_running_job": (MID_RUN, (110, 40), at_row(1, "enter")),
    "test_detail_of_a_failed_job": (MID_RUN, (110, 40), at_row(2, "enter")),
    "test_detail_of_a_queued_part": (MID_RUN, (110, 40), at_row(8, "enter")),
    "test_help_screen": (MID_RUN, (100, 40), at_row(0, "question_mark")),
    "test_confirm_cancel": (MID_RUN, (100, 24), at_row(1, "c")),
    "test_confirm_retry": (MID_RUN, (100, 24), at_row(3, "R")),
    "test_filter_bar": (MID_RUN, (100, 24), at_row(0, "slash", "s", "u", "m")),
    "test_results_browser": (MID_RUN, (110, 30), browse_results),
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


def test_mid_run_at_120x36(snap_compare: Any, tmp_path: Path) -> None:
    assert compare_scenario(snap_compare, tmp_path, "test_mid_run_at_120x36")


def test_mid_run_at_200x50(snap_compare: Any, tmp_path: Path) -> None:
    assert compare_scenario(snap_compare, tmp_path, "test_mid_run_at_200x50")


def test_detail_of_a_running_job(snap_compare: Any, tmp_path: Path) -> None:
    assert compare_scenario(snap_compare, tmp_path, "test_detail_of_a_running_job")


def test_detail_of_a_failed_job(snap_compare: Any, tmp_path: Path) -> None:
    assert compare_scenario(snap_compare, tmp_path, "test_detail_of_a_failed_job")


def test_detail_of_a_queued_part(snap_compare: Any, tmp_path: Path) -> None:
    assert compare_scenario(snap_compare, tmp_path, "test_detail_of_a_queued_part")


def test_help_screen(snap_compare: Any, tmp_path: Path) -> None:
    assert compare_scenario(snap_compare, tmp_path, "test_help_screen")


def test_confirm_cancel(snap_compare: Any, tmp_path: Path) -> None:
    assert compare_scenario(snap_compare, tmp_path, "test_confirm_cancel")


def test_confirm_retry(snap_compare: Any, tmp_path: Path) -> None:
    assert compare_scenario(snap_compare, tmp_path, "test_confirm_retry")


def test_filter_bar(snap_compare: Any, tmp_path: Path) -> None:
    assert compare_scenario(snap_compare, tmp_path, "test_filter_bar")


def test_results_browser(snap_compare: Any, tmp_path: Path) -> None:
    assert compare_scenario(snap_compare, tmp_path, "test_results_browser")


async def test_the_detail_of_a_queued_part_says_what_will_happen(tmp_path: Path) -> None:
    """No internal state name, no "kept on the server" (there is no job), and neither
    R nor v offered: nothing to retry, no results (issue 25)."""
    app = snapshot_app(tmp_path, MID_RUN)
    async with app.run_test(size=(110, 40)) as pilot:
        await at_row(8, "enter")(pilot)
        screen = app.screen
        assert isinstance(screen, JobDetailScreen)
        console = Console(width=110, record=True, file=io.StringIO())
        console.print(screen.query_one("#fields", Static).content)  # the fields as drawn
        shown = console.export_text() + str(screen.query_one("#title", Static).visual)
        assert "QUEUED_HERE" not in shown and "kept on the server" not in shown
        assert "nothing on the server yet" in shown and "local queue" in shown
        offered = {b.description for (_, b, _, _) in screen.active_bindings.values() if b.show}
        assert "Retry" not in offered and "Results" not in offered and "Back" in offered
        await pilot.press("R")  # not offered, and does nothing
        assert app.screen is screen


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
