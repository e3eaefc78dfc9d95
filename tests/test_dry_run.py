"""`gembatch submit --dry-run`: the cost before spending, over real HTTP with the SDK's
`countTokens` against the simulator; nothing is uploaded or created."""

from __future__ import annotations

import json
import re
from pathlib import Path

from gembatch import prices
from gembatch.jobfile.file import JobFile
from gembatch.simulator import JobPlan, SimulatorServer
from tests.conftest import run_cli as run


def write_input(path: Path, count: int) -> None:
    """Prompts of very different lengths, so a sample is not trivially exact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for n in range(count):
            text = f"question {n} " + "word " * ((n * 37) % 90)
            out.write(json.dumps({"contents": [{"parts": [{"text": text}]}]}) + "\n")


def test_dry_run_creates_nothing_and_its_estimate_holds(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    sim.scenario.default_plan = JobPlan(0, 0)
    write_input(tmp_path / "batch/q.jsonl", 600)
    dry = run(
        "submit",
        "--dry-run",
        "--sample",
        "100",
        "--expect-output-tokens",
        "20",
        "batch/q.jsonl",
        "--max-requests",
        "250",
        cwd=tmp_path,
        sim=sim,
    )
    assert dry.returncode == 0, dry.stderr
    assert not sim.store.batches and not sim.store.files  # nothing remote
    assert not (tmp_path / "job-info.jsonl").exists() and not list(tmp_path.rglob("*part*"))
    line = dry.stdout.splitlines()[0]
    assert "600 requests in 3 parts" in line and "100 sampled" in line
    found = re.search(r"input ≈ ([\d,]+) tokens ±([\d.]+)%", line)
    assert found, line
    estimated = float(found.group(1).replace(",", ""))
    margin = estimated * float(found.group(2)) / 100
    assert "nothing was uploaded or created" in dry.stdout

    # The real run: what the service bills must fall inside the stated interval.
    assert run("submit", "batch/q.jsonl", cwd=tmp_path, sim=sim).returncode == 0
    run("poll", "--plain", cwd=tmp_path, sim=sim)
    records = JobFile.load(tmp_path / "job-info.jsonl").records
    actual = sum(r.data["usage"]["promptTokenCount"] for r in records)
    assert abs(actual - estimated) <= margin, (actual, estimated, margin)
    assert "$" in line and prices.PRICES_AS_OF in dry.stdout


def test_dry_run_counts_every_request_of_a_small_input_exactly(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    write_input(tmp_path / "a.jsonl", 30)
    dry = run("submit", "--dry-run", "a.jsonl", cwd=tmp_path, sim=sim)
    assert dry.returncode == 0 and "all counted" in dry.stdout and "±" not in dry.stdout
    assert "output tokens are not priced" in dry.stdout
    calls = [c for c in sim.sim.request_log if c[1].endswith(":countTokens")]
    assert len(calls) == 30


def test_dry_run_refuses_bad_lines_and_bad_numbers(sim: SimulatorServer, tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"contents": [}\n')
    dry = run("submit", "--dry-run", "bad.jsonl", cwd=tmp_path, sim=sim)
    assert dry.returncode == 4 and "bad.jsonl:1" in dry.stderr and "Traceback" not in dry.stderr
    zero = run("submit", "--dry-run", "--sample", "0", "bad.jsonl", cwd=tmp_path, sim=sim)
    assert zero.returncode == 64 and "must be at least 1" in zero.stderr  # a usage error


def test_the_estimate_counts_the_whole_request(sim: SimulatorServer, tmp_path: Path) -> None:
    """A system instruction, tools and a response schema are billed as prompt tokens; the
    REST countTokens counts them when given the whole generateContentRequest (the SDK's
    count_tokens refuses them on this backend: shared/gemini-batch-api.md §0.14). The
    estimate of a fully counted input is what is then billed, and says what it counted."""
    sim.scenario.default_plan = JobPlan(0, 0)
    request = {
        "systemInstruction": {"parts": [{"text": "You are a careful classifier. " * 20}]},
        "tools": [{"functionDeclarations": [{"name": "lookup", "description": "x" * 300}]}],
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseSchema": {"type": "OBJECT", "properties": {"label": {"type": "STRING"}}},
        },
    }
    path = tmp_path / "a.jsonl"
    with path.open("w") as out:
        for n in range(12):
            contents = [{"role": "user", "parts": [{"text": f"item {n}"}]}]
            out.write(json.dumps({"key": str(n), "request": {**request, "contents": contents}}))
            out.write("\n")
    dry = run("submit", "--dry-run", "a.jsonl", cwd=tmp_path, sim=sim)
    assert dry.returncode == 0, dry.stderr
    assert "counted: contents, system instruction, tools, response schema" in dry.stdout
    found = re.search(r"input ≈ ([\d,]+) tokens", dry.stdout)
    assert found, dry.stdout
    assert run("submit", "a.jsonl", cwd=tmp_path, sim=sim).returncode == 0
    run("poll", "--plain", cwd=tmp_path, sim=sim)
    (record,) = JobFile.load(tmp_path / "job-info.jsonl").records
    assert record.data["usage"]["promptTokenCount"] == int(found.group(1).replace(",", ""))
