"""The Textual monitor driven with Pilot against a real engine and the simulator."""

from __future__ import annotations

import dataclasses
import html
import io
import json
import time
from pathlib import Path

import pytest
from rich.console import Console
from textual.command import CommandList
from textual.pilot import Pilot
from textual.widgets import Static
from textual.widgets.data_table import ColumnKey

from gembatch import states
from gembatch.cli.demo import seed_jobs
from gembatch.clock import SYSTEM_CLOCK, FrozenClock
from gembatch.engine.loop import EngineOptions
from gembatch.jobfile.file import JobFile
from gembatch.simulator import JobPlan, SimulatorServer
from gembatch.tui.app import GembatchApp
from gembatch.tui.screens.confirm import ConfirmScreen
from gembatch.tui.screens.detail import JobDetailScreen
from gembatch.tui.screens.help import MARKS, HelpScreen
from gembatch.tui.widgets.event_log import STAMP_WIDTH, EventLog
from gembatch.tui.widgets.job_table import JobTable
from gembatch.tui.widgets.status_bar import StatusBar
from tests.conftest import make_client, monitor_app, wait_for

SIZE = (110, 30)


async def make_app(
    sim: SimulatorServer,
    tmp_path: Path,
    jobs: list[tuple[str, int]],
    clock: FrozenClock | None = None,
    **kwargs: object,
) -> GembatchApp:
    job_file = await seed_jobs(make_client(sim), tmp_path, jobs)
    options = EngineOptions(interval_s=3600)  # cycles run only when a test presses r
    return monitor_app(
        JobFile.load(job_file.path, clock or SYSTEM_CLOCK),
        make_client(sim),
        options,
        **kwargs,  # type: ignore[arg-type]
    )


async def poll(pilot: Pilot) -> None:
    """Press r and wait until the cycle and every message it caused are handled."""
    await pilot.press("r")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def table(app: GembatchApp) -> JobTable:
    return app.monitor.query_one(JobTable)


def cell(app: GembatchApp, label: str, column: str) -> str:
    jobs = table(app).jobs
    key = next(k for k, job in jobs.items() if job.input_file == label)
    return table(app).get_cell(key, column).plain.strip()  # (a highlighted row is padded)


def status(app: GembatchApp) -> str:
    return app.monitor.query_one(StatusBar).render_text()


def rendered(renderable: object) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def palette_hits(app: GembatchApp) -> list:
    lists = app.screen.query(CommandList)
    return list(lists.first().options) if lists else []


async def toasts(pilot: Pilot) -> list[str]:
    """The notifications on screen now, each its title and message as shown."""
    await pilot.pause()
    return [str(toast.render()) for toast in pilot.app.screen.query("Toast")]


def log_text(app: GembatchApp) -> str:
    """The log's lines as written: a line the log wrapped (its rest indented under the
    text after the time) is joined back together."""
    lines = [line.rstrip() for line in app.monitor.query_one(EventLog).lines]
    text = "\n".join(lines)
    return text.replace("\n" + " " * STAMP_WIDTH, " ")


async def test_jobs_progress_to_done(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.plans = [("batch/slow.jsonl", JobPlan(0, 3600))]
    app = await make_app(sim, tmp_path, [("fast.jsonl", 5), ("slow.jsonl", 8)])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert cell(app, "batch/fast.jsonl", "results") == ""  # what the file says so far
        await poll(pilot)
        assert cell(app, "batch/fast.jsonl", "state") == "✔ succeeded"
        assert cell(app, "batch/fast.jsonl", "progress") == "━━━━━━━━━━ 5/5"  # one fact, one cell
        assert cell(app, "batch/fast.jsonl", "results") == "batch/results/fast.jsonl"
        assert cell(app, "batch/slow.jsonl", "state") == "▶ running"
        assert "1 in progress · 1 succeeded" in status(app)
        assert "results saved to batch/results/fast.jsonl" in log_text(app)
    assert (tmp_path / "batch/results/fast.jsonl").is_file()


async def test_a_job_file_named_before_the_first_frame_is_read_after_it(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """A big job file: `gembatch poll` only names it (and checks its first bytes), and
    the monitor reads it after its first frame; the jobs then show and are polled as
    from a file read before."""
    sim.scenario.plans = [("batch/slow.jsonl", JobPlan(0, 3600))]
    seeded = await seed_jobs(make_client(sim), tmp_path, [("fast.jsonl", 5), ("slow.jsonl", 8)])
    named = JobFile(seeded.path)
    app = monitor_app(named, make_client(sim), EngineOptions(interval_s=3600))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: table(app).row_count == 2, "the jobs read after mounting")
        assert named.loaded and "reading" not in status(app)
        await poll(pilot)
        assert cell(app, "batch/fast.jsonl", "state") == "✔ succeeded"
        assert cell(app, "batch/slow.jsonl", "state") == "▶ running"
    assert (tmp_path / "batch/results/fast.jsonl").is_file()


async def test_a_job_file_read_after_the_first_frame_with_no_job_in_it_stops(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """Read late, a file of lines that are not jobs ends the monitor with exit 4 and
    the command line's words (said in the shell once the screen is gone)."""
    path = tmp_path / "job-info.jsonl"
    path.write_text('{"note": "not a job"}\n{"broken\n')
    app = monitor_app(JobFile(path), make_client(sim))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.return_code is not None, "the monitor to stop")
    assert app.return_code == 4
    assert app.poll_run.file_problem == f"{path} holds no job that can be read; nothing to poll"


async def test_checked_row_is_highlighted_while_in_flight(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    app = await make_app(sim, tmp_path, [("a.jsonl", 2), ("b.jsonl", 2)])
    a_name = JobFile.load(tmp_path / "job-info.jsonl").records[0].batch_name
    gate = sim.sim.hold(f"GET /v1beta/{a_name}$")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await wait_for(
            pilot, lambda: "⟳" in cell(app, "batch/a.jsonl", "state"), "the row to show ⟳"
        )  # the request is held by the server, so the row stays in flight
        key = next(k for k, j in table(app).jobs.items() if j.input_file == "batch/a.jsonl")
        for column in ("input", "state", "progress", "results"):
            highlighted = table(app).get_cell(key, column)
            width = table(app).columns[ColumnKey(column)].width
            # the background covers the whole cell, not only its text
            assert highlighted.cell_len >= width
            assert any(
                getattr(span.style, "bgcolor", None) and span.start == 0 and span.end >= width
                for span in highlighted.spans
            ), column
        gate.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert cell(app, "batch/a.jsonl", "state") == "✔ succeeded"  # ⟳ gone at once
        # The highlight lingers a moment (a request of milliseconds must reach a frame),
        # then fades.
        await wait_for(pilot, lambda: not table(app).checking, "the highlight to fade")


async def test_a_download_highlights_its_own_row_only(sim: SimulatorServer, tmp_path: Path) -> None:
    """The row whose results are being downloaded is the one lit, and only it: the other
    jobs, still running, are read through the survey, which lights no row (issue 25)."""
    sim.scenario.plans = [("batch/slow-*", JobPlan(0, 3600))]
    jobs = [("done.jsonl", 3)] + [(f"slow-{n}.jsonl", 1) for n in range(9)]
    app = await make_app(sim, tmp_path, jobs)
    gate = sim.sim.hold(r"GET .*:download", times=1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await wait_for(pilot, lambda: sim.sim.held == 1, "the download to reach the server")
        await pilot.pause()
        key = next(k for k, j in table(app).jobs.items() if j.input_file == "batch/done.jsonl")
        assert table(app).checking == {key}
        assert cell(app, "batch/done.jsonl", "state").startswith("⟳")
        gate.set()
        await app.workers.wait_for_complete()


async def test_the_survey_shows_in_the_status_bar_not_on_the_rows(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """Many running jobs are read with one list call: the status bar says so, with its
    page, and no row is lit as if asked about on its own."""
    sim.scenario.default_plan = JobPlan(0, 3600)
    app = await make_app(sim, tmp_path, [(f"j{n}.jsonl", 1) for n in range(9)])
    gate = sim.sim.hold(r"GET /v1beta/batches$", times=1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await wait_for(pilot, lambda: sim.sim.held == 1, "the list call to reach the server")
        # (at 110 columns the compact form: "listing: page 1")
        await wait_for(pilot, lambda: "listing: page 1" in status(app), "the survey")
        assert not table(app).checking
        gate.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "listing" not in status(app)


async def test_running_duration_ticks_live(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.default_plan = JobPlan(0, 3600)
    clock = FrozenClock(time.time())  # the simulator dates its jobs by the real clock
    app = await make_app(sim, tmp_path, [("a.jsonl", 2)], clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot)
        clock.advance(65)
        app.monitor.tick()
        first = cell(app, "batch/a.jsonl", "duration")
        clock.advance(30)  # a young job shows whole minutes too: nothing changes yet
        app.monitor.tick()
        young = cell(app, "batch/a.jsonl", "duration")
        clock.advance(3600 + 30)
        app.monitor.tick()
        second = cell(app, "batch/a.jsonl", "duration")
        clock.advance(20)  # within the minute: an hour-long duration shows no seconds,
        app.monitor.tick()  # so the table has nothing to repaint
        third = cell(app, "batch/a.jsonl", "duration")
        # ... and until that minute ends, a tick does not even look at the rows.
        looked = table(app).ticks_that_looked
        clock.advance(10)
        app.monitor.tick()
        quiet = table(app).ticks_that_looked - looked
        clock.advance(35)  # into the next minute (1h 03m 10s)
        app.monitor.tick()
        fourth = cell(app, "batch/a.jsonl", "duration")
        next_minute = table(app).ticks_that_looked - looked - quiet
    assert first == young == "1m"
    assert second == third == "1h 02m"
    assert quiet == 0
    assert fourth == "1h 03m" and next_minute == 1


async def test_enter_opens_detail_and_escape_returns(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.default_plan = JobPlan(0, 0, failed_row_rate=0.3)
    app = await make_app(sim, tmp_path, [("a.jsonl", 20)])
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot)
        await pilot.press("enter")
        assert isinstance(app.screen, JobDetailScreen)
        text = " ".join(rendered(w.content) for w in app.screen.query(Static))
        record = JobFile.load(tmp_path / "job-info.jsonl").records[0]
        assert str(record.batch_name) in text
        assert "20 in all" in text and "failed" in text
        assert "batch/results/a.jsonl" in text
        assert "total" in text  # token usage from the results
        assert "results saved" in text  # the job's own history
        assert "press R to resubmit the failed rows (`gembatch retry`)" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, JobDetailScreen)


async def test_detail_of_a_failed_job_says_what_to_do(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.default_plan = JobPlan(0, 0, outcome="FAILED")
    app = await make_app(sim, tmp_path, [("a.jsonl", 3)])
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot)
        await pilot.press("enter")
        text = " ".join(rendered(w.content) for w in app.screen.query(Static))
        assert "Simulated job failure." in text
        assert "none: the job ended without output" in text and "not saved yet" not in text
        assert "press R to resubmit its requests" in text


async def test_cancel_asks_first_and_cancels_on_yes(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.default_plan = JobPlan(0, 3600)
    app = await make_app(sim, tmp_path, [("a.jsonl", 2)])
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot)
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert not isinstance(app.screen, ConfirmScreen)
        assert all(sim.store.state_of(b) == "RUNNING" for b in sim.store.batches.values())
        await pilot.press("c")
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert cell(app, "batch/a.jsonl", "state") == "⊘ cancelled"
        assert "asked the server to cancel batch/a.jsonl" in log_text(app)


async def test_cancel_on_a_finished_job_explains_instead(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    app = await make_app(sim, tmp_path, [("a.jsonl", 2)])
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await poll(pilot)
        await pilot.press("c")
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("nothing to cancel" in toast for toast in await toasts(pilot))


async def test_filter_cycles_through_groups(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.plans = [
        ("batch/run.jsonl", JobPlan(0, 3600)),
        ("batch/bad.jsonl", JobPlan(0, 0, outcome="FAILED")),
    ]
    app = await make_app(sim, tmp_path, [("ok.jsonl", 1), ("run.jsonl", 1), ("bad.jsonl", 1)])
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot)
        assert table(app).row_count == 3
        await pilot.press("f")
        assert table(app).row_count == 1 and "state: in progress" in status(app)
        await pilot.press("f")
        assert table(app).row_count == 1 and "state: succeeded" in status(app)
        await pilot.press("f")
        assert table(app).row_count == 1 and "state: failed" in status(app)
        await pilot.press("f", "f")
        assert table(app).row_count == 3 and "state:" not in status(app)


async def test_r_while_paused_polls_once_and_stays_paused(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    sim.scenario.default_plan = JobPlan(0, 3600)
    app = await make_app(sim, tmp_path, [("a.jsonl", 1)])
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot)
        await pilot.press("p")
        gets_before = sum(1 for m, p, _ in sim.sim.request_log if m == "GET")
        await poll(pilot)
        assert sum(1 for m, p, _ in sim.sim.request_log if m == "GET") == gets_before + 1
        assert "PAUSED" in status(app) and app.monitor.next_poll_at is None
        assert "polling once now; still paused (p resumes)" in log_text(app)


async def test_pause_stops_and_p_resumes(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.default_plan = JobPlan(0, 3600)
    app = await make_app(sim, tmp_path, [("a.jsonl", 1)])
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot)
        await pilot.press("p")
        assert "PAUSED" in status(app) and app.monitor.next_poll_at is None
        gets_before = sum(1 for m, p, _ in sim.sim.request_log if m == "GET")
        await pilot.press("p")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "PAUSED" not in status(app)
        assert sum(1 for m, p, _ in sim.sim.request_log if m == "GET") == gets_before + 1


async def test_log_toggles_and_help_opens(sim: SimulatorServer, tmp_path: Path) -> None:
    app = await make_app(sim, tmp_path, [("a.jsonl", 1)])
    async with app.run_test(size=SIZE) as pilot:
        log = app.monitor.query_one(EventLog)
        assert log.display
        await pilot.press("l")
        assert not log.display
        await pilot.press("l")
        assert log.display
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        legend = " ".join(rendered(w.content) for w in app.screen.query(Static))
        for symbol in ("◌", "▶", "✔", "✘", "⊘", "∅", "⟳", "(22✘)"):
            assert symbol in legend
        # Each symbol said once, each with one meaning (issue 25): the local queue's ⧗
        # and the server's ◌ are not both just "queued"; "?" and "…" are not states.
        rows = [icon for icon, _ in states.legend()] + [mark for mark, _ in MARKS]
        assert len(rows) == len(set(rows))
        assert "?" not in rows and "…" in rows
        words = [w for _, meaning in states.legend() for w in meaning.split(": ")[0].split(", ")]
        assert len(words) == len(set(words)), words
        assert "queued here" in legend and "queued on the server" in legend
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_the_palette_jumps_to_a_job(sim: SimulatorServer, tmp_path: Path) -> None:
    names = [(f"{n:02d}-job.jsonl", 1) for n in range(30)]
    app = await make_app(sim, tmp_path, names)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.press(*"27-job")
        await wait_for(  # the palette searches in a worker of its own
            pilot,
            lambda: any("27-job" in str(o.prompt) for o in palette_hits(app)),
            "the palette to list 27-job",
        )
        await pilot.press("enter")
        await pilot.pause()
        job = table(app).job_under_cursor
        assert job is not None and job.input_file == "batch/27-job.jsonl"


async def test_markup_in_names_is_shown_literally(sim: SimulatorServer, tmp_path: Path) -> None:
    app = await make_app(sim, tmp_path, [("[red]x[/red].jsonl", 1)])
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot)
        assert cell(app, "batch/[red]x[/red].jsonl", "input") == "batch/[red]x[/red].jsonl"
        assert "[red]x[/red].jsonl: results saved" in log_text(app)


async def test_failed_job_rings_the_bell_and_toasts(
    sim: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.scenario.default_plan = JobPlan(0, 3600)
    app = await make_app(sim, tmp_path, [("a.jsonl", 1)])
    sim.store.force_state(
        str(JobFile.load(tmp_path / "job-info.jsonl").records[0].batch_name), "FAILED"
    )
    bells: list[None] = []
    monkeypatch.setattr(app, "bell", lambda: bells.append(None))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await poll(pilot)
        assert bells, "no bell for a failed job"
        titles = [toast.split("\n")[0] for toast in await toasts(pilot)]
        assert "Job did not succeed" in titles and "Done" in titles
        assert "Jobs finished" not in titles  # the visible log says it; no toast over the table
        banner = app.monitor.query_one("#banner", Static)
        assert banner.display and "The job is done: 1 failed." in rendered(banner.content)


async def test_stop_when_done_exits_with_outcome_code(sim: SimulatorServer, tmp_path: Path) -> None:
    app = await make_app(sim, tmp_path, [("a.jsonl", 2)], stop_when_done=True)
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot)
        await poll(pilot)  # the second cycle records the deletions and finds nothing left
        await pilot.pause()
    assert app.return_code == 0
    assert JobFile.load(tmp_path / "job-info.jsonl").records[0].remote_deleted


async def test_stop_when_done_reports_a_failure_in_the_return_code(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """The process's return code, not only the app's result: scripts read it."""
    sim.scenario.plans = [("batch/bad.jsonl", JobPlan(0, 0, outcome="FAILED"))]
    app = await make_app(sim, tmp_path, [("bad.jsonl", 2)], stop_when_done=True)
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot)
        await poll(pilot)
        await pilot.pause()
    assert app.return_code == 1


async def test_quit_mid_download_leaves_the_job_file_consistent(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    app = await make_app(sim, tmp_path, [("a.jsonl", 3), ("b.jsonl", 3)])
    gate = sim.sim.hold(r":download$")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await wait_for(pilot, lambda: sim.sim.held >= 2, "both downloads to be held")
        await pilot.press("q")
    gate.set()
    job_file = JobFile.load(tmp_path / "job-info.jsonl")
    assert job_file.bad_lines == [] and len(job_file.records) == 2
    assert not list((tmp_path / "batch").rglob("*.part"))
    assert sim.store.batches and not sim.store.deletions  # nothing deleted without results


async def test_bad_key_pauses_with_a_clear_message(sim: SimulatorServer, tmp_path: Path) -> None:
    app = await make_app(sim, tmp_path, [("a.jsonl", 1)])
    sim.scenario.api_key = "rotated"
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot)
        assert "PAUSED" in status(app)
        assert "API key was rejected" in log_text(app)
        assert "test-key" not in log_text(app)
        await pilot.press("q")
    assert app.return_code == 5  # quitting after a rejected key says so to scripts


async def test_job_file_problems_are_shown(sim: SimulatorServer, tmp_path: Path) -> None:
    job_file = await seed_jobs(make_client(sim), tmp_path, [("a.jsonl", 1)])
    with job_file.path.open("a") as handle:
        handle.write("{broken\n")
    app = monitor_app(JobFile.load(job_file.path), make_client(sim))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "job-info.jsonl:2: not valid JSON" in log_text(app)
    assert job_file.path.read_text().endswith("{broken\n")
    assert json.loads(job_file.path.read_text().splitlines()[0])["input_file"] == "batch/a.jsonl"


async def test_finished_jobs_toast_when_the_log_is_hidden(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    sim.scenario.default_plan = JobPlan(0, 3600)
    app = await make_app(sim, tmp_path, [("a.jsonl", 1)])
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await poll(pilot)
        await pilot.press("l")
        job = table(app).job_under_cursor
        assert job is not None
        sim.store.force_state(str(job.batch_name), "SUCCEEDED")
        await poll(pilot)
        assert any(
            toast.startswith("Jobs finished\n") and "batch/a.jsonl" in toast
            for toast in await toasts(pilot)
        )


async def test_ctrl_c_exits_130_and_leaves_the_job_file_consistent(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    app = await make_app(sim, tmp_path, [("a.jsonl", 2)])
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot)
        await pilot.press("ctrl+c")
    assert app.return_code == 130  # an interruption, as in plain mode and the README
    record = JobFile.load(tmp_path / "job-info.jsonl").records[0]
    assert record.results_file == "batch/results/a.jsonl"
    assert record.remote_deleted  # the deletion recorded at quit, not lost


async def test_resize_keeps_every_row_and_the_footer(sim: SimulatorServer, tmp_path: Path) -> None:
    app = await make_app(sim, tmp_path, [(f"{n}.jsonl", 1) for n in range(5)])
    async with app.run_test(size=(120, 40)) as pilot:
        await poll(pilot)
        for size in ((80, 24), (60, 20), (160, 50)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            assert app.size == size
            assert table(app).row_count == 5
            footer = app.monitor.query_one("Footer")
            assert footer.region.bottom == size[1]  # still on the last line


async def test_similar_long_names_can_be_told_apart(sim: SimulatorServer, tmp_path: Path) -> None:
    names = [(f"{n:02d}-overnight-task-with-a-longish-name.jsonl", 1) for n in range(23)]
    app = await make_app(sim, tmp_path, names)
    for size in ((80, 24), (120, 36), (200, 50)):
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            shown = [table(app).get_cell(key, "input").plain for key in table(app).jobs]
            assert len(set(shown)) == 23, shown
            assert all(len(text) <= table(app).label_width for text in shown)
        app = await make_app(sim, tmp_path / str(size[0]), names)


def test_every_theme_gives_each_state_its_own_colour() -> None:
    """One colour per state in every Textual theme (issue 25), ANSI themes included
    (their colours are the terminal's: they once stopped the screen)."""
    from textual.app import App

    from gembatch import states
    from gembatch.tui.widgets.palette import _build

    app: App[None] = App()
    shown = (
        states.Kind.PENDING,
        states.Kind.RUNNING,
        states.Kind.SUCCEEDED,
        states.Kind.FAILED,
        states.Kind.CANCELLED,
        states.Kind.EXPIRED,
    )
    for name in sorted(app.available_themes):
        app.theme = name
        colours = _build(app.get_css_variables())
        seen = {str(getattr(colours.kind(kind).color, "name", None)) for kind in shown}
        assert len(seen) == len(shown), (name, seen)


async def test_at_80_columns_every_total_and_a_failures_reason_show(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """At 80x24 the status bar once read "10 in progress · 4 succeeded · 1 fa…" and the
    log cut a failure's reason off at the edge (issue 25). The countdown keeps its place."""
    reason = "The model refused every request of this job: quota for the project ran out."
    sim.scenario.plans = [("batch/00-job.jsonl", JobPlan(0, 3600, "FAILED", error_message=reason))]
    sim.scenario.default_plan = JobPlan(0, 3600)
    app = await make_app(sim, tmp_path, [(f"{n:02d}-job.jsonl", 10_000) for n in range(12)])
    async with app.run_test(size=(80, 24)) as pilot:
        await poll(pilot)
        failing = next(j for j in table(app).jobs.values() if j.input_file == "batch/00-job.jsonl")
        sim.store.force_state(str(failing.batch_name), "FAILED")
        await poll(pilot)
        totals = app.monitor.query_one(StatusBar).query_one("#totals")
        shown = str(totals.visual)  # type: ignore[attr-defined]
        assert shown.startswith("11 in progress · 0 succeeded · 1 failed")  # (they fit)
        assert totals.size.width >= len(shown)
        assert "next poll in" in app.monitor.query_one(StatusBar).render_text()
        log = app.monitor.query_one(EventLog)
        rendered = list(log.lines)
        assert all(len(line.rstrip()) <= log.size.width for line in rendered)
        assert "quota for the project ran out." in " ".join(line.strip() for line in rendered)
        await pilot.resize_terminal(60, 24)  # no room for the names: the legend's icons
        await pilot.pause()
        shown = str(totals.visual)  # type: ignore[attr-defined]
        assert shown.startswith("11 in progress · 0 ✔ · 1 ✘")
        assert totals.size.width >= len(shown)


async def test_a_row_off_screen_shows_its_new_state_when_scrolled_to(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """Rows off screen build their cells when drawn (issue 24): one that changed while
    out of sight reads right when the cursor gets there, and when drawn."""
    sim.scenario.default_plan = JobPlan(0, 3600)
    app = await make_app(sim, tmp_path, [(f"{n:02d}-job.jsonl", 1) for n in range(40)])
    async with app.run_test(size=(80, 24)) as pilot:
        await poll(pilot)
        last = next(j for j in table(app).jobs.values() if j.input_file == "batch/39-job.jsonl")
        sim.store.force_state(str(last.batch_name), "FAILED")
        await poll(pilot)
        assert table(app).move_to(last.key)  # (as the palette's jump does)
        await pilot.pause()
        row = table(app).get_row_index(last.key) - int(table(app).scroll_offset.y)
        drawn = table(app).render_line(row + 1).text  # (+1: the header)
        assert "39-job" in drawn and "failed" in drawn
        assert "failed" in cell(app, "batch/39-job.jsonl", "state")


async def test_a_row_drawn_before_shows_its_change_when_scrolled_back_to(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """Scrolled away (the wheel: no cursor move), a drawn row changes, and is scrolled back
    to: it shows the change, not the line drawn before."""
    sim.scenario.default_plan = JobPlan(0, 3600)
    app = await make_app(sim, tmp_path, [(f"{n:02d}-job.jsonl", 1) for n in range(40)])
    async with app.run_test(size=(80, 24)) as pilot:
        await poll(pilot)
        first = next(j for j in table(app).jobs.values() if j.input_file == "batch/00-job.jsonl")
        assert "running" in table(app).render_line(1).text
        table(app).scroll_end(animate=False)
        await pilot.pause()
        table(app).upsert(dataclasses.replace(first, state="JOB_STATE_FAILED"))  # one row
        table(app).flush()
        await pilot.pause()
        table(app).scroll_home(animate=False)
        await pilot.pause()
        screen = html.unescape(app.export_screenshot()).replace("\xa0", " ")
        row = next(line for line in screen.split("<text") if "00-job" in line)
        state = screen.split("00-job.jsonl", 1)[1][:400]
        assert "failed" in state and "running" not in state.split("01-job")[0], row
