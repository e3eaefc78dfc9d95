"""Money is shown one way, and a comparison never contradicts itself."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from gembatch.prices import dollars
from gembatch.simulator import SimulatorServer
from tests.conftest import run_cli

amounts = st.floats(min_value=0.0001, max_value=100_000, allow_nan=False)


@given(amounts, amounts)
def test_two_different_amounts_never_read_the_same(a: float, b: float) -> None:
    """ "estimated at $1.13, more than the whole $1.13 budget" cannot be printed."""
    if round(a, 10) != round(b, 10):
        assert dollars(a, b) != dollars(b, a)


def test_an_amount_keeps_the_digits_it_has() -> None:
    assert [dollars(x) for x in (1.135, 1.132, 70, 0.07, 0.0734, 1234.5)] == [
        "$1.135",
        "$1.132",
        "$70.00",
        "$0.0700",
        "$0.0734",
        "$1,234.50",
    ]


def test_submit_without_files_confirms_the_old_and_new_limits(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    (tmp_path / "job-info.jsonl").write_text("")
    first = run_cli("submit", "--max-cost", "1.135", cwd=tmp_path, sim=sim)
    assert first.returncode == 0, first.stderr
    assert "budget: none → $1.135; jobs at once: no limit (unchanged)" in first.stdout
    second = run_cli("submit", "--max-cost", "2", "--max-running", "3", cwd=tmp_path, sim=sim)
    assert "budget: $1.135 → $2.00; jobs at once: no limit → 3" in second.stdout


def test_counts_read_as_words_one_way() -> None:
    """One plural rule for every count a user reads (issue 25): never "(1 lines)"."""
    from gembatch.engine.events import ResultsSaved
    from gembatch.engine.plain import describe
    from gembatch.jobfile.view import JobView

    job = JobView(
        "k", "batch/a.jsonl", "batches/x", "JOB_STATE_SUCCEEDED", 1, 1, 1,
        None, None, "batch/results/a.jsonl", False, None, None,
    )  # fmt: skip
    one = describe(ResultsSaved(job, "batch/results/a.jsonl", 1, 1))
    assert one == ["⇩ batch/a.jsonl: results saved to batch/results/a.jsonl (1 line, 1 failed row)"]
    many = describe(ResultsSaved(job, "batch/results/a.jsonl", 1200, 2))
    assert many[0].endswith("(1,200 lines, 2 failed rows)")


def test_numbers_read_one_way_in_one_log() -> None:
    """A log once said "3000/3000" beside "3,000 rows" (issue 25): every count a user
    reads has its thousands separated."""
    from gembatch.engine.events import JobUpdated, ResultsSaved
    from gembatch.engine.plain import describe
    from gembatch.jobfile.view import JobView

    job = JobView(
        "k", "batch/a.jsonl", "batches/x", "JOB_STATE_SUCCEEDED", 3000, 3000, 72,
        None, None, "batch/results/a.jsonl", False, None, None,
    )  # fmt: skip
    (changed,) = describe(JobUpdated(job, "JOB_STATE_RUNNING"))
    assert changed.endswith("running → succeeded  3,000/3,000")
    (saved,) = describe(ResultsSaved(job, "batch/results/a.jsonl", 3000, 72))
    assert "(3,000 lines, 72 failed rows)" in saved
