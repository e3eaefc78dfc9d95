"""`gembatch status` on big job files: 100,000 and 1,000,000 records.

Every figure is a whole process. The baseline, measured in the same run and
interleaved with the others, is the least any reader of the file must do: a bare
Python loop calling `json.loads` on each line. Beside it, the same count that
`status` makes, done in one pass in one process (`status_count.count_part`), shows
what the two halves on two cores bring. Peak RSS is the largest of the process and
the children it waited for.

    python benchmarks/status.py [--sizes 100000 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _harness import machine, table

BARE = (
    "import json, sys\n"
    "with open(sys.argv[1], 'rb') as lines:\n"
    "    for line in lines:\n"
    "        json.loads(line)\n"
)
ONE_PASS = (
    "import sys\n"
    "from pathlib import Path\n"
    "from gembatch.cli.status_count import count_part\n"
    "from gembatch.jobfile.file import JobFile\n"
    "count_part(JobFile(Path(sys.argv[1])), {}, False)\n"
)


def record(n: int) -> dict:
    """A long-lived file's mix: mostly finished and handled jobs, some failed, some
    running, a few queued under a budget."""
    batch = {
        "name": f"batches/job{n:07d}",
        "display_name": f"batch/{n:07d}.jsonl",
        "model": "models/gemini-2.5-flash",
        "state": "JOB_STATE_SUCCEEDED",
        "create_time": "2026-01-05T10:00:00+00:00",
        "end_time": "2026-01-05T11:00:00+00:00",
        "dest": {"file_name": f"files/out{n:07d}"},
    }
    body: dict = {
        "input_file": f"batch/{n:07d}.jsonl",
        "count": 500,
        "uploaded_file_name": f"files/in{n:07d}",
        "batch": batch,
        "stats": {"total": 500, "succeeded": 497, "failed": 3},
    }
    kind = n % 100
    if kind < 90:
        body.update(
            results_file=f"batch/results/{n:07d}.jsonl",
            results_lines=500,
            failed_rows=3,
            remote_deleted_at="2026-01-05T11:05:00+00:00",
            usage={"promptTokenCount": 51200, "candidatesTokenCount": 80400},
        )
    elif kind < 95:
        batch.update(state="JOB_STATE_FAILED")
        body.update(last_error="Simulated job failure. (code 13)")
    elif kind < 99:
        batch.update(state="JOB_STATE_RUNNING")
        del batch["end_time"]
        body["stats"] = {"total": 500, "succeeded": 120, "pending": 380}
    else:
        del body["batch"]
        body.update(submit_id=f"q{n:07d}", queued_at="2026-01-05T10:00:00+00:00")
        body["estimate"] = {"input_tokens": 51200, "output_tokens": 0, "cost_usd": 0.01}
    return body


def write_file(folder: Path, size: int) -> None:
    with (folder / "job-info.jsonl").open("w") as out:
        out.write(json.dumps({"gembatch_limits": {"max_cost_usd": 10**6}}) + "\n")
        for n in range(size):
            out.write(json.dumps(record(n)) + "\n")


# Run by a small fresh interpreter: a child's peak RSS counts from its fork, so forked
# from this process (the simulator's imports, the file written) every figure would start
# at this process's size.
MEASURE = (
    "import resource, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "seconds = time.perf_counter() - start\n"
    "print(code, seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def timed(command: list[str], cwd: Path, expected: int) -> tuple[float, float]:
    """Seconds and peak RSS (MB, of the process and the children it waited for) of one
    whole process; its exit code must be `expected`."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], cwd=cwd, capture_output=True, text=True
    )
    code, seconds, peak_kb = done.stdout.split()
    if int(code) != expected:
        raise SystemExit(f"{' '.join(command[1:3])} exited {code}, expected {expected}")
    return float(seconds), int(peak_kb) / 1024


def spread(values: list[float], unit: str, digits: int) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:.{digits}f} {unit} ({low:.{digits}f}-{high:.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    python = sys.executable
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-status-") as name:
        for size in args.sizes:
            folder = Path(name) / str(size)
            folder.mkdir()
            writer = multiprocessing.get_context("spawn").Process(
                target=write_file, args=(folder, size)
            )
            writer.start()  # in a child, so this process stays small
            writer.join()
            path = folder / "job-info.jsonl"
            # (label, command, exit code): status says 2, since jobs are in progress.
            commands = [
                ("bare json.loads loop (baseline)", [python, "-c", BARE, str(path)], 0),
                ("the same count in one pass", [python, "-c", ONE_PASS, str(path)], 0),
                ("gembatch status", [python, "-m", "gembatch", "status"], 2),
            ]
            seen: dict[str, list[tuple[float, float]]] = {label: [] for label, *_ in commands}
            for _ in range(args.runs):  # interleaved: each shares the same noisy moments
                for label, command, expected in commands:
                    seen[label].append(timed(command, folder, expected))
            base = statistics.median(s for s, _ in seen[commands[0][0]])
            mb = path.stat().st_size / 1e6
            for label, *_ in commands:
                times = [s for s, _ in seen[label]]
                rss = max(r for _, r in seen[label])
                ratio = statistics.median(times) / base
                rows.append(
                    (
                        f"{size:,} ({mb:.0f} MB)",
                        label,
                        spread(times, "s", 2),
                        f"{ratio:.2f}x",
                        f"{rss:.0f} MB",
                    )
                )
    table(
        f"status on big job files (median of {args.runs} interleaved runs, min-max; "
        "exit codes checked); target: 1M records under 8 s",
        rows,
        ("records", "what", "time", "vs baseline", "peak RSS"),
    )


if __name__ == "__main__":
    main()
