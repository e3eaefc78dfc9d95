"""The monitor's newer keys, driven with Pilot against a real engine and the simulator:
`/` to filter, sorting, the palette's actions, retry from the screen, the live detail
screen, the overview strip and the results browser."""

from __future__ import annotations

import json
import time
from pathlib import Path

from textual.app import App
from textual.widgets import Static

from gembatch.jobfile.file import JobFile
from gembatch.simulator import JobPlan, SimulatorServer
from gembatch.tui.screens.confirm import ConfirmScreen
from gembatch.tui.screens.detail import JobDetailScreen
from gembatch.tui.screens.results import ResultDetailScreen, ResultsScreen
from gembatch.tui.widgets.filter_bar import FilterBar
from gembatch.tui.widgets.overview import Overview
from gembatch.tui.widgets.results_view import ResultsView
from tests.conftest import wait_for
from tests.test_app import (
    SIZE,
    cell,
    log_text,
    make_app,
    palette_hits,
    poll,
    rendered,
    status,
    table,
)


def shown_names(app) -> list[str]:
    return [
        str(row.key.value) and table(app).jobs[str(row.key.value)].input_file
        for row in table(app).ordered_rows
    ]


async def test_slash_filters_by_name_and_escape_clears(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    names = [(f"{n:02d}-job.jsonl", 1) for n in range(12)]
    app = await make_app(sim, tmp_path, names)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"1-j")
        await pilot.pause()
        bar = app.monitor.query_one(FilterBar)
        assert bar.display and bar.value == "1-j"
        assert shown_names(app) == ["batch/01-job.jsonl", "batch/11-job.jsonl"]
        assert "filter: '1-j'" in status(app)
        await pilot.press("enter")  # back to the table; the filter stays, and shows
        assert app.focused is table(app) and bar.display
        assert table(app).row_count == 2
        await pilot.press("slash", "escape")
        await pilot.pause()
        assert table(app).row_count == 12 and not bar.display
        assert "filter:" not in status(app)
        # An applied filter (typed, then Enter): Escape on the table clears it too.
        await pilot.press("slash", *"1-j", "enter")
        await pilot.pause()
        assert app.focused is table(app) and table(app).row_count == 2
        await pilot.press("escape")
        await pilot.pause()
        assert table(app).row_count == 12 and not bar.display
        assert "filter:" not in status(app)


async def test_sort_by_state_puts_problems_first(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.plans = [
        ("batch/b-run.jsonl", JobPlan(0, 3600)),
        ("batch/c-bad.jsonl", JobPlan(0, 0, outcome="FAILED")),
    ]
    app = await make_app(sim, tmp_path, [("a-ok.jsonl", 1), ("b-run.jsonl", 1), ("c-bad.jsonl", 1)])
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot)
        await pilot.press("s")
        assert shown_names(app) == ["batch/c-bad.jsonl", "batch/b-run.jsonl", "batch/a-ok.jsonl"]
        assert "sort: state" in status(app)
        await pilot.press("s", "s", "s")  # duration, end time, name
        assert "sort: name" in status(app)
        assert shown_names(app) == ["batch/a-ok.jsonl", "batch/b-run.jsonl", "batch/c-bad.jsonl"]


async def test_palette_shows_names_as_written_and_offers_actions(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    sim.scenario.default_plan = JobPlan(0, 0, outcome="FAILED")
    app = await make_app(sim, tmp_path, [("012-[red]not-markup.jsonl", 2)])
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot)
        await pilot.press("ctrl+p", *"markup")
        await wait_for(pilot, lambda: palette_hits(app), "the palette to list hits")
        prompts = [str(hit.prompt) for hit in palette_hits(app)]
        assert any("012-[red]not-markup.jsonl" in p for p in prompts), prompts
        await pilot.press(*["backspace"] * 6, *"resubmit")
        await wait_for(
            pilot,
            lambda: any("Resubmit" in str(h.prompt) for h in palette_hits(app)),
            "the palette to offer Resubmit",
        )
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")


async def test_retry_from_the_monitor_resubmits_a_failed_job(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    sim.scenario.plans = [("batch/a.jsonl", JobPlan(0, 0, outcome="FAILED"))]
    app = await make_app(sim, tmp_path, [("a.jsonl", 3)])
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot)
        assert cell(app, "batch/a.jsonl", "state") == "✘ failed"
        await pilot.press("R")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: table(app).row_count == 2, "the resubmitted job's row")
        assert "batch/a.jsonl: retrying 3 failed rows" in log_text(app)
        await poll(pilot)  # the resubmitted job finishes; its results fill in the merge
        await wait_for(pilot, lambda: "merged" in log_text(app), "the merged results to be written")
    records = JobFile.load(tmp_path / "job-info.jsonl").records
    assert len(records) == 2
    assert records[1].data["source_file"] == "batch/a.jsonl" and records[1].request_count == 3
    merged = (tmp_path / "batch/results/a.jsonl").read_text().splitlines()
    assert len(merged) == 3 and all("response" in json.loads(line) for line in merged)


async def test_detail_screen_updates_live(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.default_plan = JobPlan(0, 3600)
    app = await make_app(sim, tmp_path, [("a.jsonl", 2)])

    def detail_text() -> str:
        return " ".join(rendered(w.content) for w in app.screen.query(Static))

    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot)
        await pilot.press("enter")
        assert isinstance(app.screen, JobDetailScreen)
        assert "▶ running" in detail_text() and "Ended" not in detail_text()
        sim.store.clock = lambda: time.time() + 7200  # the job finishes on the server
        app.monitor.start_cycle()  # the monitor polls behind the open detail screen
        await wait_for(
            pilot, lambda: "✔ succeeded" in detail_text(), "the open detail to show the new state"
        )
        assert "Ended" in detail_text() and "batch/results/a.jsonl" in detail_text()


async def test_results_browser_lists_rows_filters_failed_and_opens_one(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    sim.scenario.default_plan = JobPlan(0, 0, failed_row_rate=0.3)
    app = await make_app(sim, tmp_path, [("a.jsonl", 40)])
    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot)
        await pilot.press("v")
        assert isinstance(app.screen, ResultsScreen)
        view = app.screen.query_one(ResultsView)
        lines = (tmp_path / "batch/results/a.jsonl").read_text().splitlines()
        failed = [n for n, line in enumerate(lines) if "response" not in json.loads(line)]
        assert view.count == 40 and failed
        await pilot.press("f")  # failed rows only: found in a thread
        await wait_for(pilot, lambda: view.shown is not None, "the failed rows")
        assert view.shown == failed and view.count == len(failed)
        first_failed = json.loads(lines[failed[0]])
        await pilot.press("enter")
        assert isinstance(app.screen, ResultDetailScreen)
        text = " ".join(rendered(w.content) for w in app.screen.query(Static))
        assert first_failed["key"] in text and "failed:" in text
        assert '"contents"' in text  # the request, joined from the input by its key
        await pilot.press("escape", "escape")
        assert app.screen is app.monitor


async def test_results_browser_reads_only_what_it_shows(tmp_path: Path) -> None:
    """100,000 rows: indexed in one pass, and only the rows on screen are parsed."""
    path = tmp_path / "big.jsonl"
    row = {"response": {"candidates": [{"content": {"parts": [{"text": "x"}]}}]}}
    with path.open("w") as out:
        for n in range(100_000):
            out.write(json.dumps({"key": f"k{n}", **row}) + "\n")
    screen = ResultsScreen(path, None, "big")

    class Browser(App[None]):
        def on_mount(self) -> None:
            self.push_screen(screen)

    async with Browser().run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        view = screen.query_one(ResultsView)
        assert view.count == 100_000
        assert screen.index.rows_parsed <= 30  # one screen, not the file
        await pilot.press("end")
        await pilot.pause()
        assert view.cursor == 99_999 and view.row_at(view.cursor).key == "k99999"
        assert screen.index.rows_parsed <= 60


async def test_overview_shows_the_run_at_a_glance(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.plans = [("batch/slow.jsonl", JobPlan(0, 3600))]
    app = await make_app(sim, tmp_path, [("fast.jsonl", 6), ("slow.jsonl", 4)])
    async with app.run_test(size=(160, 30)) as pilot:
        await poll(pilot)
        text = str(app.monitor.query_one(Overview).render())
        # fast: 6 of 6 done; slow: the simulator reports no progress yet
        assert "60%" in text and "6/10 requests" in text and "1/2 jobs done" in text
        assert "ETA: no progress yet" in text and "$" in text and "tokens" in text
        # A narrow terminal crops the end: the cost comes before the detail (issue 25).
        assert text.index("jobs done") < text.index("$") < text.index("requests")
        # At 80 columns the bar narrows, and the cost still shows whole (issue 25).
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        shown = app.monitor.query_one(Overview)
        text = str(shown.render())
        assert text.index("tokens") + len("tokens") <= shown.content_region.width


async def test_log_grows_to_full_screen_and_back(sim: SimulatorServer, tmp_path: Path) -> None:
    # Enough jobs that the table takes most of the screen (the log gets what it leaves).
    app = await make_app(sim, tmp_path, [(f"{n:02d}.jsonl", 1) for n in range(30)])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        small = app.monitor.event_log.size.height
        await pilot.press("L")
        await pilot.pause()
        assert app.monitor.event_log.size.height > small
        await pilot.press("L")
        await pilot.pause()
        assert not table(app).display and app.monitor.event_log.size.height > SIZE[1] // 2
        await pilot.press("L")
        await pilot.pause()
        assert table(app).display and app.monitor.event_log.size.height == small
        # The table has the keys again (the full-screen log had taken the focus): the
        # cursor is not dimmed, and Enter, c and R act on the row the eye is on.
        assert app.focused is table(app)


async def test_footer_shows_enter_and_the_palette_and_modals_show_their_own_keys(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    app = await make_app(sim, tmp_path, [("a.jsonl", 1)])
    async with app.run_test(size=(160, 30)) as pilot:
        await poll(pilot)

        def footer_keys() -> set[str]:
            return {b.description for (_, b, _, _) in app.screen.active_bindings.values() if b.show}

        assert {"Details", "Poll", "Filter", "Results", "Retry"} <= footer_keys()
        await pilot.press("question_mark")
        assert "Poll" not in footer_keys() and "Close" in footer_keys()


async def test_rows_repaint_with_their_new_values(sim: SimulatorServer, tmp_path: Path) -> None:
    """The table renders only changed rows again: what it draws must still be current."""
    sim.scenario.default_plan = JobPlan(0, 3600)
    app = await make_app(sim, tmp_path, [("a.jsonl", 2), ("b.jsonl", 2), ("c.jsonl", 2)])

    def drawn() -> list[str]:
        jobs = table(app)
        return [jobs.render_line(y).text for y in range(1, 1 + jobs.row_count)]

    async with app.run_test(size=SIZE) as pilot:
        await poll(pilot)
        before = drawn()
        assert all("▶ running" in line for line in before), before
        for batch in list(sim.store.batches.values()):
            if "b.jsonl" not in batch.display_name:
                sim.store.force_state(batch.name, "SUCCEEDED")
        await poll(pilot)
        after = drawn()
    assert "✔ succeeded" in after[0] and "2/2" in after[0]
    assert "▶ running" in after[1]  # unchanged, drawn from the cache
    assert "✔ succeeded" in after[2] and after[2] != before[2]


async def test_what_matters_fits_at_80_and_120_columns(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """No sideways scrolling for what matters (issue 25): at 120 columns the results or
    the reason are on screen, progress shows done of total and failed rows in one
    cell; at 80 the footer still offers Enter, help, quit and the palette."""
    sim.scenario.plans = [("*bad*", JobPlan(0, 0, outcome="FAILED"))]
    app = await make_app(sim, tmp_path, [("good.jsonl", 3), ("bad.jsonl", 2)])
    async with app.run_test(size=(120, 36)) as pilot:
        await poll(pilot)
        jobs = table(app)
        shown = [str(column.key.value) for column in jobs.ordered_columns]
        assert shown[:4] == ["input", "state", "progress", "duration"] and "results" in shown
        used = sum(column.width + 2 for column in jobs.ordered_columns)
        assert used <= 120 - 2  # (the scrollbar)
        assert cell(app, "batch/good.jsonl", "progress").endswith(" 3/3")
        assert cell(app, "batch/bad.jsonl", "results").startswith("! ")  # the reason
        line = next(
            jobs.render_line(y).text for y in range(1, 3) if "bad.jsonl" in jobs.render_line(y).text
        )
        assert "! " in line  # drawn, not only in the table's data
    narrow = await make_app(sim, tmp_path / "narrow", [("a.jsonl", 1)])
    async with narrow.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        on_screen = {
            str(getattr(key, "description", ""))
            for key in narrow.screen.query("FooterKey")
            if key.region.width and key.region.right <= 80
        }
        assert {"Details", "Help", "Quit", "palette"} <= on_screen, on_screen
