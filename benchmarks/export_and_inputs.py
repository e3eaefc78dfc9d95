"""Runs of any size: validating and splitting an input, and exporting results as a
table, each against a bare loop doing the least the same job needs; and a dry run
(validation plus a 200-request token sample counted by a simulator in its own process)
against validation alone. Measured in the same run (median of 3, interleaved), with
each step's peak RSS growth.

    python benchmarks/export_and_inputs.py [--rows 1000000] [--input-mb 1024]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _harness import API_KEY, PeakRss, SimSpec, SimulatorProcess, bench_folder, machine, table

from gembatch import prices
from gembatch.gemini.client import GeminiClient
from gembatch.inputs import plan_input
from gembatch.intake import estimate
from gembatch.results.export import rows, write


class Sink(io.StringIO):
    """Discards what is written (the disk is not what is measured)."""

    def write(self, text: str) -> int:
        return len(text)


def make_input(path: Path, megabytes: int) -> int:
    line = {"key": "", "request": {"contents": [{"parts": [{"text": "q " * 200}]}]}}
    count = 0
    with path.open("w") as out:
        while out.tell() < megabytes * 1_000_000:
            line["key"] = f"k{count:08d}"
            out.write(json.dumps(line) + "\n")
            count += 1
    return count


def make_results(source: Path, results: Path, count: int) -> None:
    with source.open("w") as inputs, results.open("w") as out:
        for n in range(count):
            key = f"k{n:08d}"
            request = {"contents": [{"parts": [{"text": f"question {n}"}]}]}
            inputs.write(json.dumps({"key": key, "request": request}) + "\n")
            if n % 10 == 9:
                out.write(json.dumps({"key": key, "error": {"message": "quota"}}) + "\n")
                continue
            response = {
                "candidates": [
                    {"content": {"parts": [{"text": f"answer {n}"}]}, "finishReason": "STOP"}
                ],
                "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 3},
            }
            out.write(json.dumps({"key": key, "response": response}) + "\n")


def bare_validation(path: Path) -> None:
    with path.open("rb") as handle:
        for line in handle:
            json.loads(line)


def bare_export(source: Path, results: Path) -> None:
    """Read, parse, join by key, write: the least a correct export does."""
    by_key = {}
    with results.open("rb") as handle:
        for line in handle:
            item = json.loads(line)
            by_key[item["key"]] = item
    writer = csv.writer(Sink())
    with source.open("rb") as handle:
        for line in handle:
            request = json.loads(line)
            item = by_key.get(request["key"], {})
            writer.writerow([request["key"], json.dumps(item.get("response"))])


def timed(action: Callable[[], object]) -> tuple[float, float]:
    """Seconds, and the peak RSS growth in MB."""
    with PeakRss() as peak:
        start = time.perf_counter()
        action()
        seconds = time.perf_counter() - start
    return seconds, peak.growth_mb


def dry_run(path: Path, url: str) -> None:
    """What `submit --dry-run` does for one input: plan, then count a sample's tokens."""

    async def go() -> None:
        client = GeminiClient(api_key=API_KEY, base_url=url)
        try:
            plan = plan_input(path, None, 2_000_000_000)
            model = "gemini-2.5-flash"
            await estimate.estimate(plan, path.name, client, model, prices.price_for(model), None)
        finally:
            await client.close()

    asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--input-mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    folder = bench_folder("bench-export-")
    big = folder / "big.jsonl"
    requests = make_input(big, args.input_mb)
    source, results = folder / "q.jsonl", folder / "q.results.jsonl"
    make_results(source, results, args.rows)
    validate = "gembatch: validate and plan parts"
    with SimulatorProcess(SimSpec()) as (url, _):
        cases: dict[str, Callable[[], object]] = {
            "bare json.loads over the input": lambda: bare_validation(big),
            validate: lambda: plan_input(big, None, 2_000_000_000),
            "gembatch: dry run, 200 sampled": lambda: dry_run(big, url),
            "bare read-parse-join-write": lambda: bare_export(source, results),
            "gembatch export to CSV": lambda: write(rows(source, [results]), Sink(), "csv"),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        growth: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, action in cases.items():
                seconds, grown = timed(action)
                times[name].append(seconds)
                growth[name].append(grown)
    out = []
    # (baseline, ours, target, how the target reads): speed as a share of the baseline's,
    # except the dry run, whose time is held against validation's.
    pairs = (
        ("bare json.loads over the input", validate, 0.70, "speed"),
        (validate, "gembatch: dry run, 200 sampled", 2.0, "time"),
        ("bare read-parse-join-write", "gembatch export to CSV", 0.50, "speed"),
    )
    shown: set[str] = set()
    for base, ours, target, kind in pairs:
        ratio = statistics.median(times[base]) / statistics.median(times[ours])
        verdict = (
            f"{ratio:.2f} of the bare loop's speed (target ≥ {target:.2f})"
            if kind == "speed"
            else f"{1 / ratio:.2f}x validation's time (target < {target:.1f}x)"
        )
        for name in (base, ours):
            if name in shown and name != ours:
                continue
            shown.add(name)
            values = times[name]
            out.append(
                (
                    name,
                    f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})",
                    f"{max(growth[name]):.0f} MB",
                    verdict if name == ours else "",
                )
            )
    size = big.stat().st_size / 1e6
    table(
        f"input: {size:,.0f} MB, {requests:,} requests; export: {args.rows:,} rows, every 10th "
        f"failed (median of {args.runs}, min-max)",
        out,
        ("what", "time", "peak RSS growth", "against its baseline"),
    )


if __name__ == "__main__":
    sys.exit(main())
