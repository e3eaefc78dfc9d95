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


def timed_run(command: list[str], cwd: Path, expected: int) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != expected:  # a fast failure is not a fast start
        raise SystemExit(
            f"{' '.join(command[1:])} exited {done.returncode}, expected {expected}: "
            f"{done.stderr.decode(errors='replace').strip()[:300]}"
        )
    return seconds


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f}s ({min(values):.3f}-{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    python = sys.executable
    # (label, command, exit code it must give, target); status says 2: jobs in progress.
    commands = [
        ("python -c pass (floor)", [python, "-c", "pass"], 0, ""),
        ("gembatch --help", [python, "-m", "gembatch", "--help"], 0, "under 0.3 s"),
        (
            f"gembatch status ({args.jobs:,} jobs)",
            [python, "-m", "gembatch", "status"],
            2,
            "under 0.5 s",
        ),
        (
            f"gembatch status --json ({args.jobs:,} jobs)",
            [python, "-m", "gembatch", "status", "--json"],
            2,
            "",
        ),
    ]
    times: dict[str, list[float]] = {label: [] for label, *_ in commands}
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as name:
        folder = Path(name)
        write_job_file(folder, [f"batches/job{n:05d}" for n in range(args.jobs)])
        for _ in range(args.runs):  # interleaved: the floor shares every noisy moment
            for label, command, expected, _target in commands:
                times[label].append(timed_run(command, folder, expected))
    floor = statistics.median(times[commands[0][0]])
    rows = [
        (label, spread(times[label]), f"{statistics.median(times[label]) / floor:.1f}x", target)
        for label, _command, _expected, target in commands
    ]
    table(
        f"start-up (median of {args.runs} interleaved runs, min-max; exit codes checked)",
        rows,
        ("command", "time", "vs floor", "target"),
    )


if __name__ == "__main__":
    main()
