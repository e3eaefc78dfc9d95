"""Restarting on a long history: whole commands, start to exit, against `status`.

A history file as a long-lived project has it: records of about 700 bytes, finished and
handled (90% succeeded and saved, 10% failed), plus 10 jobs running on a simulator in
its own process. Each command runs as a fresh process (`/usr/bin/time` gives its peak
RSS), interleaved with `gembatch status` on the same file, the baseline.

    python benchmarks/restart.py [--sizes 1000 10000 100000] [--runs 3]

Targets (issue 24): `poll --plain --once` within 1.5x `status` on the same file; peak
RSS < 120 MB at 100k records and < 400 MB at 1M; the plain output sized by the run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _harness import SimSpec, SimulatorProcess, bench_folder, gembatch_env, machine, table

LIVE = 10


def write_history(path: Path, handled: int, live: list[str]) -> None:
    with path.open("w") as out:
        for n in range(handled):
            ok = n % 10 != 0
            batch = {
                "name": f"batches/{n:036d}",
                "display_name": f"gembatch-in{n:07d}-[gb:{n:012x}]",
                "state": "JOB_STATE_SUCCEEDED" if ok else "JOB_STATE_FAILED",
                "create_time": "2026-11-05T10:00:00.123456Z",
                "end_time": "2026-11-05T11:00:00.123456Z",
                "model": "models/gemini-2.5-flash",
            }
            record: dict = {
                "input_file": f"inputs/in{n:07d}.jsonl",
                "count": 100,
                "submit_id": f"{n:012x}",
                "batch": batch,
                "usage": {"promptTokenCount": 12345, "candidatesTokenCount": 23456},
                "remote_deleted_at": "2026-11-05T11:01:00Z",
            }
            if ok:
                record["results_file"] = f"inputs/results/in{n:07d}.jsonl"
            else:
                record["last_error"] = "the job failed as a whole: INTERNAL"
            out.write(json.dumps(record) + "\n")
        for n, name in enumerate(live):
            out.write(
                json.dumps({"input_file": f"live/{n}.jsonl", "count": 1, "batch": {"name": name}})
                + "\n"
            )


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Seconds, peak RSS (MB) and lines printed by one whole command."""
    start = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 2:  # ten jobs still running: "not finished"
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-300:]}")
    rss = int(done.stderr.strip().splitlines()[-1]) / 1024
    return seconds, rss, len(done.stdout.splitlines())


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    import os

    gembatch = [sys.executable, "-m", "gembatch"]
    commands = {"status": ["status"], "poll --plain --once": ["poll", "--plain", "--once"]}
    rows = []
    with SimulatorProcess(SimSpec(running_jobs=LIVE)) as (url, names):
        env = {**os.environ, **gembatch_env(url)}
        for size in args.sizes:
            folder = bench_folder(f"bench-restart-{size}-")
            write_history(folder / "job-info.jsonl", size, names)
            seen: dict[str, list[tuple[float, float, int]]] = {name: [] for name in commands}
            for _ in range(args.runs):  # interleaved: the baseline sees the same machine
                for name, command in commands.items():
                    seen[name].append(timed([*gembatch, *command], folder, env))
            base = statistics.median(s for s, _, _ in seen["status"])
            for name in commands:
                seconds = [s for s, _, _ in seen[name]]
                ratio = statistics.median(seconds) / base
                rss = max(r for _, r, _ in seen[name])
                lines = seen[name][0][2]
                rows.append(
                    (
                        f"{size:,} + {LIVE} live",
                        name,
                        spread(seconds),
                        f"{ratio:.2f}x",
                        f"{rss:.0f} MB",
                        str(lines),
                    )
                )
    table(
        f"whole commands, median of {args.runs} (min-max); ratio against status",
        rows,
        ("history", "command", "time", "vs status", "peak RSS", "lines"),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
