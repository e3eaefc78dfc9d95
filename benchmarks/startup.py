"""Start-up: `gembatch --help` and `gembatch status` on a 1,000-job file.

The floor measured in the same run is the bare interpreter (`python -c pass`); heavy
modules (the SDK, Textual) must be imported only by the commands that need them.

    python benchmarks/startup.py [--runs 15] [--jobs 1000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import machine, table, write_job_file


def timed_runs(command: list[str], runs: int, cwd: Path) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    folder = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    write_job_file(folder, [f"batches/job{n:05d}" for n in range(args.jobs)])
    python = sys.executable
    floor = timed_runs([python, "-c", "pass"], args.runs, folder)
    rows = [("python -c pass (floor)", f"{floor:.3f}s", "1.0x", "")]
    for label, command, target in (
        ("gembatch --help", [python, "-m", "gembatch", "--help"], "under 0.3 s"),
        (
            f"gembatch status ({args.jobs:,} jobs)",
            [python, "-m", "gembatch", "status"],
            "under 0.5 s",
        ),
        (
            f"gembatch status --json ({args.jobs:,} jobs)",
            [python, "-m", "gembatch", "status", "--json"],
            "",
        ),
    ):
        seconds = timed_runs(command, args.runs, folder)
        rows.append((label, f"{seconds:.3f}s", f"{seconds / floor:.1f}x", target))
    table(f"start-up (median of {args.runs} runs)", rows, ("command", "time", "vs floor", "target"))


if __name__ == "__main__":
    main()
