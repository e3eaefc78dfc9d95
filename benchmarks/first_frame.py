"""The monitor's first frame on a long history: `gembatch poll` as users start it, in tmux.

A history as a long-lived project has it (`restart.py`'s records: finished, saved and
cleaned up, 90% succeeded) plus 10 jobs running on a simulator in its own process. Each
run starts `gembatch poll --interval 300` in a fresh 120x36 tmux window and reads the
pane every 10 ms: the first frame is the first time anything is on it, "all read" the
first time the overview counts every job (the file read and gone over), "every row in"
when the status bar's "loading earlier jobs" has gone (RSS then: the monitor as it
stays). The baseline,
in the same run: a bare Textual app that draws one line, started the same way.

    python benchmarks/first_frame.py [--sizes 1000 100000 1000000] [--runs 3]

Targets (issue 24): a first frame in under 1 s at any history size; at 1M records the
monitor's RSS under 500 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from _harness import SimSpec, SimulatorProcess, bench_folder, gembatch_env, machine, table
from monitor_idle import start, tmux
from restart import spread, write_history

LIVE = 10
ROWS_LOADING = "loading earlier jobs"  # the status bar's note while history rows arrive
FLOOR_APP = """
from textual.app import App
from textual.widgets import Static


class Floor(App):
    def compose(self):
        yield Static("the floor")


Floor().run()
"""


def watch(
    name: str, command: str, folder: Path, env: dict[str, str], marks: list[str], gone: str = ""
) -> list:
    """Seconds from a fresh start to the first frame and to each of `marks` on screen,
    and the peak RSS (MB) by then; with `gone`, then the seconds until it is no longer
    on screen (the last rows in) and the peak RSS by then."""
    time.sleep(0.2)  # (the last session's end takes its tmux server down meanwhile)
    begun = time.perf_counter()
    pid = start(name, command, folder, env)
    seen: list[float | None] = [None] * (1 + len(marks))
    try:
        while None in seen and time.perf_counter() - begun < 300:
            screen = tmux("capture-pane", "-p", "-t", name)
            now = time.perf_counter() - begun
            for n, shown in enumerate([bool(screen.strip()), *(m in screen for m in marks)]):
                if shown and seen[n] is None:
                    seen[n] = now
            time.sleep(0.01)
        peak = _peak_rss_mb(pid)
        after = []
        while gone and None not in seen and time.perf_counter() - begun < 600:
            if gone not in tmux("capture-pane", "-p", "-t", name):
                after = [time.perf_counter() - begun, _peak_rss_mb(pid)]
                break
            time.sleep(0.05)
    finally:
        tmux("kill-session", "-t", name)
    if None in seen or (gone and not after):
        raise SystemExit(f"{command}: not all of {marks} shown in 300 s, or {gone!r} stayed")
    return [*seen, peak, *after]


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is not installed", file=sys.stderr)
        return 1
    print(f"machine: {machine()}")
    rows = []
    with SimulatorProcess(SimSpec(running_jobs=LIVE)) as (url, names):
        env = {**gembatch_env(url), "TERM": "xterm-256color", "PATH": os.environ["PATH"]}
        for size in args.sizes:
            folder = bench_folder(f"bench-first-frame-{size}-")
            (folder / "floor.py").write_text(FLOOR_APP)
            write_history(folder / "job-info.jsonl", size, names)
            floor, ours = [], []
            for _ in range(args.runs):  # interleaved: the baseline sees the same machine
                floor.append(watch("floor", f"{sys.executable} floor.py", folder, env, []))
                command = f"{sys.executable} -m gembatch poll --interval 300"
                marks = [f"/{size + LIVE:,} jobs"]
                ours.append(watch("gembatch", command, folder, env, marks, ROWS_LOADING))
            label = f"{size:,} + {LIVE} live"
            rows.append((label, "bare Textual app", spread([f[0] for f in floor]), "", "", ""))
            rows.append(
                (
                    label,
                    "gembatch poll",
                    *(spread([run[n] for run in ours]) for n in range(2)),
                    f"{max(run[2] for run in ours):.0f} MB",
                    f"{spread([run[3] for run in ours])}, {max(run[4] for run in ours):.0f} MB",
                )
            )
            (folder / "job-info.jsonl").unlink()  # (a million records: 700 MB)
    table(
        f"start to the first frame and to all read, 120x36 in tmux (median of {args.runs}, "
        "min-max)",
        rows,
        ("history", "what", "first frame", "all read", "peak RSS by then", "every row in, RSS"),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
