"""Uploading a big input through the SDK: the uploader's memory stays flat.

`files.upload` is handed a counting file object (for the progress bar); the SDK reads
it in 8 MB chunks. This uploads a file of `--mb` megabytes (default 1,900, just under
the 2 GB limit) to a simulator in its own process, and reports the uploader's peak RSS
growth against the file's size, with the upload's rate. Median of `--runs`.

    python benchmarks/upload_memory.py [--mb 1900] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

from _harness import API_KEY, PeakRss, SimSpec, SimulatorProcess, bench_folder, machine, table

from gembatch.gemini.client import GeminiClient

TARGET_MB = 100.0  # "flat": the peak growth, whatever the size of the file


def make_input(path: Path, megabytes: int) -> None:
    line = json.dumps({"key": "k", "request": {"contents": [{"parts": [{"text": "q " * 500}]}]}})
    block = ((line + "\n") * 1000).encode()
    with path.open("wb") as out:
        while out.tell() < megabytes * 1_000_000:
            out.write(block)


def upload(path: Path, url: str) -> tuple[float, int]:
    """Seconds, and the bytes the progress listener saw."""
    seen = [0]

    def progress(done: int, total: int) -> None:
        seen[0] = done

    async def go() -> float:
        client = GeminiClient(api_key=API_KEY, base_url=url)
        try:
            start = time.perf_counter()
            await client.upload_file(path, display_name=path.name, on_progress=progress)
            return time.perf_counter() - start
        finally:
            await client.close()

    return asyncio.run(go()), seen[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1900)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    path = bench_folder("bench-upload-") / "big.jsonl"
    make_input(path, args.mb)
    size = path.stat().st_size
    GeminiClient.prepare()  # the SDK's import (40 MB) is not the upload
    seconds, peaks = [], []
    for _ in range(args.runs):
        # A fresh server each run (it keeps what it is sent).
        with SimulatorProcess(SimSpec()) as (url, _), PeakRss() as peak:
            took, seen = upload(path, url)
        if seen != size:
            raise SystemExit(f"the progress listener saw {seen:,} of {size:,} bytes")
        seconds.append(took)
        peaks.append(peak.growth_mb)
    rate = size / statistics.median(seconds) / 1e6
    worst = max(peaks)
    table(
        f"upload of {size / 1e6:,.0f} MB through files.upload (median of {args.runs}, min-max)",
        [
            (
                "gembatch upload_file",
                f"{statistics.median(seconds):.1f} s ({min(seconds):.1f}-{max(seconds):.1f}), "
                f"{rate:.0f} MB/s",
                f"{worst:.0f} MB ({worst / (size / 1e6):.1%} of the file)",
                f"{'met' if worst < TARGET_MB else 'NOT met'}: target < {TARGET_MB:.0f} MB",
            )
        ],
        ("what", "time", "peak RSS growth", "flat?"),
    )
    if worst >= TARGET_MB:
        sys.exit(1)


if __name__ == "__main__":
    main()
