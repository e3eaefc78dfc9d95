"""`gembatch export`: an input's results as a table, driven end to end through the CLI
(submit and poll over real HTTP against the simulator, then export)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from gembatch import exit_codes
from gembatch.simulator import JobPlan, SimulatorServer
from tests.conftest import run_cli as run


def submitted_and_polled(sim: SimulatorServer, folder: Path, count: int) -> list[str]:
    """An input whose keys are not in sorted order, asking for JSON answers; its keys."""
    keys = [f"q-{(n * 7) % count:03d}" for n in range(count)]
    lines = [
        {
            "key": key,
            "request": {
                "contents": [{"role": "user", "parts": [{"text": f"question {key}"}]}],
                "generationConfig": {"responseMimeType": "application/json"},
            },
        }
        for key in keys
    ]
    (folder / "batch").mkdir()
    (folder / "batch/questions.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert run("submit", "batch/questions.jsonl", cwd=folder, sim=sim).returncode == 0
    run("poll", "--plain", cwd=folder, sim=sim)
    return keys


def test_export_has_one_row_per_request_in_input_order(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    sim.scenario.default_plan = JobPlan(0, 0, failed_row_rate=0.3)
    keys = submitted_and_polled(sim, tmp_path, 40)
    result = run("export", "batch/questions.jsonl", "--format", "csv", cwd=tmp_path, sim=sim)
    assert result.returncode == exit_codes.EXIT_SOME_FAILED, result.stderr  # some rows failed
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["key"] for row in table] == keys
    failed = [row for row in table if row["status"] == "failed"]
    assert failed and all(row["error"] and not row["response"] for row in failed)
    ok = [row for row in table if row["status"] == "ok"]
    assert ok and all(row["prompt"] == f"question {row['key']}" for row in ok)
    parsed = json.loads(ok[0]["response_json"])  # structured output, parsed
    assert parsed["prompt_chars"] == len(ok[0]["prompt"])
    assert all(int(row["prompt_tokens"]) > 0 and row["finish_reason"] == "STOP" for row in ok)
    assert f"wrote 40 rows to stdout, {len(failed)} failed rows" in result.stderr


def test_export_jsonl_to_a_file(sim: SimulatorServer, tmp_path: Path) -> None:
    keys = submitted_and_polled(sim, tmp_path, 12)
    result = run(
        "export",
        "batch/questions.jsonl",
        "--format",
        "jsonl",
        "-o",
        "out.jsonl",
        cwd=tmp_path,
        sim=sim,
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [row["key"] for row in rows] == keys
    assert all(row["response_json"]["answer"].startswith("Simulated") for row in rows)
    assert not list(tmp_path.glob(".out.jsonl.*"))  # no temp file left


def test_export_before_any_result_says_what_to_do(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.default_plan = JobPlan(0, 3600)
    (tmp_path / "batch").mkdir()
    line = {"contents": [{"parts": [{"text": "hi"}]}]}
    (tmp_path / "batch/a.jsonl").write_text(json.dumps(line) + "\n")
    assert run("submit", "batch/a.jsonl", cwd=tmp_path, sim=sim).returncode == 0
    result = run("export", "batch/a.jsonl", cwd=tmp_path, sim=sim)
    assert result.returncode == exit_codes.EXIT_SOME_FAILED
    assert result.stderr.count("\n") == 1 and "no results on disk yet" in result.stderr
    assert "Traceback" not in result.stderr


def export_parquet(sim: SimulatorServer, folder: Path, **env: str) -> subprocess.CompletedProcess:
    args = ("export", "batch/questions.jsonl", "--format", "parquet", "-o", "out.parquet")
    return run(*args, cwd=folder, sim=sim, env=env)


def test_parquet_export_is_a_table_in_input_order(sim: SimulatorServer, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")  # in the test extra: CI has it
    sim.scenario.default_plan = JobPlan(0, 0, failed_row_rate=0.3)
    keys = submitted_and_polled(sim, tmp_path, 30)
    result = export_parquet(sim, tmp_path)
    assert result.returncode == exit_codes.EXIT_SOME_FAILED, result.stderr  # some rows failed
    table = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [row["key"] for row in table] == keys
    ok = [row for row in table if row["status"] == "ok"]
    failed = [row for row in table if row["status"] == "failed"]
    assert ok and failed and all(row["error"] and row["response"] is None for row in failed)
    assert all(isinstance(row["prompt_tokens"], int) and row["prompt_tokens"] > 0 for row in ok)
    assert json.loads(ok[0]["response_json"])["prompt_chars"] == len(ok[0]["prompt"])


def test_parquet_without_pyarrow_is_one_line_and_writes_nothing(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    submitted_and_polled(sim, tmp_path, 5)
    # A `pyarrow` first on the path that cannot be imported: as on a machine without it.
    blocker = tmp_path / "without-pyarrow/pyarrow"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('No module named pyarrow')\n")
    path = os.pathsep.join([str(blocker.parent), os.environ["PYTHONPATH"]])
    result = export_parquet(sim, tmp_path, PYTHONPATH=path)
    assert result.returncode == exit_codes.EXIT_BAD_INPUT
    assert result.stderr.count("\n") == 1 and "pip install 'gembatch[parquet]'" in result.stderr
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_streams_in_bounded_memory(fmt: str) -> None:
    """200,000 rows through the writer: memory stays flat (rows are never gathered)."""
    import tracemalloc

    from gembatch.results.export import COLUMNS, write

    class Sink:
        def write(self, text: str) -> int:
            return len(text)

    def rows():  # type: ignore[no-untyped-def]
        for n in range(200_000):
            row = dict.fromkeys(COLUMNS)
            row.update(key=str(n), status="ok", prompt="p" * 100, response="r" * 400)
            yield row

    tracemalloc.start()
    try:
        report = write(rows(), Sink(), fmt)  # type: ignore[arg-type]
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.rows == 200_000
    assert peak < 2_000_000, peak  # a few rows' worth, not 200,000 (about 100 MB)
