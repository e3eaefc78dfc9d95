"""What moves with the clock on the monitor (ETAs, durations, the run's elapsed time):
each text is drawn again when it changes, never later, and the monitor does no work
for it in between (a monitor left running overnight should idle like a daemon)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gembatch.clock import FrozenClock
from gembatch.engine.loop import EngineOptions
from gembatch.gemini.client import GeminiClient, RetryPolicy
from gembatch.jobfile.file import JobFile, JobRecord
from gembatch.jobfile.view import JobView
from gembatch.report import progress
from gembatch.tui.widgets import overview
from gembatch.tui.widgets.job_table import JobTable
from tests.conftest import monitor_app

NOW = 1_795_430_000.0


def running(n: int, total: int, done: int, age_s: int) -> dict[str, Any]:
    created = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(NOW - age_s))
    return {
        "input_file": f"batch/{n}.jsonl",
        "batch": {"name": f"batches/b{n}", "state": "JOB_STATE_RUNNING", "create_time": created},
        "stats": {"total": total, "succeeded": done},
    }


jobs = st.builds(
    lambda n, total, share, age: running(n, total, max(1, int(total * share)), age),
    st.integers(0, 99),
    st.integers(2, 10**6),
    st.floats(0.001, 0.999),
    st.integers(1, 30 * 86400),
)
# Moments before the predicted change; not its last microseconds, which the float
# seconds of a 2026 clock (about 0.2 µs apart) cannot tell from the change itself.
moments = st.lists(st.floats(0, 0.999), min_size=1, max_size=5)


@given(record=jobs, fractions=moments)
def test_a_job_eta_holds_until_it_says_and_moves_right_after(
    record: dict[str, Any], fractions: list[float]
) -> None:
    job = JobView.of(JobRecord(raw=record))
    wait = progress.eta_changes_in(job, NOW)

    def shown(at: float) -> str:
        return progress.eta_text(progress.job_eta(job, at))

    for fraction in fractions:  # never later than the text changes ...
        assert shown(NOW + fraction * wait) == shown(NOW)
    total, done = record["stats"]["total"], record["stats"]["succeeded"]
    grows = (total - done) / done  # ETA seconds a second while the counts stand still
    assert shown(NOW + wait + 0.001 + 1 / grows) != shown(NOW)  # ... and not long before it


@given(records=st.lists(jobs, min_size=1, max_size=4), fractions=moments)
def test_the_run_line_holds_until_it_says(
    records: list[dict[str, Any]], fractions: list[float]
) -> None:
    run = progress.RunProgress.of([JobView.of(JobRecord(raw=r)) for r in records], {})
    wait = run.changes_in(NOW)
    # 0 when an ETA sits exactly on a half minute: rounded to even now, it reads the next
    # minute an instant later (hypothesis found 6,990 s: 116.5 minutes).
    assert wait >= 0
    first = overview.line(run, NOW).plain
    for fraction in fractions:
        assert overview.line(run, NOW + fraction * wait).plain == first


async def test_the_monitor_redraws_etas_when_they_change_and_sleeps_between(tmp_path: Path) -> None:
    """Two jobs a quarter done after 2 and 3 hours: ETAs of ~6h 00m and ~9h 00m, which
    grow by 3 seconds a second while no poll brings new counts; durations and the run's
    elapsed time show minutes."""
    path = tmp_path / "job-info.jsonl"
    path.write_text(
        "\n".join(json.dumps(r) for r in (running(1, 400, 100, 7200), running(2, 400, 100, 10800)))
        + "\n"
    )
    clock = FrozenClock(NOW)
    client = GeminiClient(api_key="k", base_url="http://127.0.0.1:9", retry=RetryPolicy(attempts=1))
    app = monitor_app(JobFile.load(path, clock), client, EngineOptions(interval_s=3600))
    async with app.run_test(size=(120, 20)) as pilot:
        await pilot.pause()
        table = app.monitor.query_one(JobTable)
        overview_strip = app.monitor.overview

        def etas() -> tuple[str, str, str]:
            strip = str(app.monitor.overview.render())
            return table.get_cell("batch:batches/b1", "eta").plain, strip.split(" · ")[0], strip

        row, run_eta, _ = etas()
        assert "~6h 00m" in row and "ETA ~9h 00m" in run_eta
        # The run's ETA (the older job's, 32,400 s) next rounds up at 32,430 s: in 10 s.
        built = overview_strip.lines_built
        clock.advance(9)
        app.monitor.tick()
        assert overview_strip.lines_built == built  # nothing to draw: not even built
        assert etas()[:2] == (row, run_eta)
        clock.advance(2)
        app.monitor.tick()
        await pilot.pause()
        assert overview_strip.lines_built == built + 1
        assert "ETA ~9h 01m" in etas()[1]
        # The other job's ETA (21,600 s) reaches 21,630 s after 10 s: its row moved too.
        assert "~6h 01m" in etas()[0]
