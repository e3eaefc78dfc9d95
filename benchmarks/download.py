"""Download: one large results file (1 GB by default).

gembatch's whole path (SDK streaming download, line-by-line verification, fsync, rename)
against a plain streamed copy with fsync from the same server to disk, and the server's
own ceiling (the file read and thrown away). The server writes the output to disk once
and sends it with sendfile, so that it is not what is measured. Each side runs in a
fresh process so its peak memory can be read on its own.

Target (issue 24): gembatch >= 0.8x the plain copy, CPU <= 2x its CPU, memory growth
< 50 MB.

    python benchmarks/download.py [--rows 100000] [--row-bytes 10000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from _harness import (
    API_KEY,
    SimSpec,
    SimulatorProcess,
    bench_folder,
    machine,
    table,
    write_job_file,
)

HERE = Path(__file__).resolve().parent

PLAIN_COPY = """
import asyncio, json, os, sys, time
sys.path.insert(0, {here!r})
from _harness import current_rss_mb, peak_rss_mb
import aiohttp

async def main():
    url, dest = sys.argv[1], sys.argv[2]
    before = current_rss_mb()
    start, cpu = time.perf_counter(), time.process_time()
    written = 0
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={{"x-goog-api-key": {key!r}}}) as response:
            if dest == "-":  # the server's ceiling: read and discard
                async for chunk in response.content.iter_chunked(1 << 20):
                    written += len(chunk)
            else:
                with open(dest, "wb") as handle:
                    async for chunk in response.content.iter_chunked(1 << 20):
                        handle.write(chunk)
                        written += len(chunk)
                    handle.flush()
                    os.fsync(handle.fileno())
    elapsed = time.perf_counter() - start
    print(json.dumps({{"seconds": elapsed, "bytes": written, "rss_before": before,
                      "cpu": time.process_time() - cpu,
                      "rss_peak": peak_rss_mb()}}))

asyncio.run(main())
"""

GEMBATCH = """
import asyncio, json, sys, time
sys.path.insert(0, {here!r})
from _harness import current_rss_mb, peak_rss_mb
from gembatch.engine.loop import Engine, EngineOptions
from gembatch.gemini.client import GeminiClient
from gembatch.jobfile.file import JobFile

async def main():
    url, job_file_path = sys.argv[1], sys.argv[2]
    engine = Engine(JobFile.load(job_file_path), GeminiClient(api_key={key!r}, base_url=url),
                    EngineOptions(keep_remote=True))
    GeminiClient.prepare()  # the SDK's import (built lazily) is not the download
    before = current_rss_mb()
    start, cpu = time.perf_counter(), time.process_time()
    await engine.run_cycle()
    elapsed = time.perf_counter() - start
    record = engine.job_file.records[0]
    assert record.results_file, record.data
    path = engine.base / record.results_file
    print(json.dumps({{"seconds": elapsed, "bytes": path.stat().st_size, "rss_before": before,
                      "cpu": time.process_time() - cpu,
                      "rss_peak": peak_rss_mb(), "lines": record.data["results_lines"]}}))

asyncio.run(main())
"""


def run(script: str, *args: str) -> dict:
    code = script.format(here=str(HERE), key=API_KEY)
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--row-bytes", type=int, default=10_000)
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        metavar="MB/S",
        help="pace the server like a network link of this speed",
    )
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    rate = args.rate * 1e6 if args.rate else None
    spec = SimSpec(result_rows=args.rows, response_bytes=args.row_bytes, download_bytes_per_s=rate)
    results: dict[str, list[dict]] = {
        "server ceiling (read, discard)": [],
        "plain streamed copy + fsync": [],
        "gembatch (download+verify)": [],
    }
    with SimulatorProcess(spec) as (url, names):
        output = f"files/batch-{names[0].split('/')[1]}"
        for number in range(args.runs):  # interleaved; each side in a fresh process and folder
            folder = bench_folder("bench-download-")
            job_file = write_job_file(folder, names, state="JOB_STATE_PENDING")
            source = f"{url}/v1beta/{output}:download?alt=media"
            results["server ceiling (read, discard)"].append(run(PLAIN_COPY, source, "-"))
            # Whichever side writes second pays for the first one's gigabyte still being
            # written back by the kernel (up to 2x here): each side's file is removed
            # before the other runs, and the order alternates from run to run.
            sides = {
                "plain": (PLAIN_COPY, source, str(folder / "plain.jsonl")),
                "ours": (GEMBATCH, url, str(job_file)),
            }
            measured = {}
            for side in ("plain", "ours") if number % 2 == 0 else ("ours", "plain"):
                measured[side] = run(*sides[side])
                for path in folder.rglob("*.jsonl"):
                    if path != job_file:
                        path.unlink()
            ours, plain = measured["ours"], measured["plain"]
            assert ours["bytes"] == plain["bytes"], (ours, plain)
            assert ours["lines"] == args.rows
            results["plain streamed copy + fsync"].append(plain)
            results["gembatch (download+verify)"].append(ours)
    plain_median = statistics.median(r["seconds"] for r in results["plain streamed copy + fsync"])
    rows = []
    for name, runs in results.items():
        seconds = [r["seconds"] for r in runs]
        median = statistics.median(seconds)
        size = runs[0]["bytes"]
        growth = max(r["rss_peak"] - r["rss_before"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        rows.append(
            (
                name,
                f"{size / 1e9:.2f} GB",
                f"{median:.1f}s ({min(seconds):.1f}-{max(seconds):.1f})",
                f"{size / median / 1e6:.0f} MB/s",
                f"{plain_median / median:.2f}",
                f"{cpu:.2f} s",
                f"{growth:.1f} MB",
            )
        )
    link = f"link paced at {args.rate:.0f} MB/s" if args.rate else "unpaced loopback"
    table(
        f"download of one results file ({link}; median of {args.runs}, min-max)",
        rows,
        ("what", "size", "time", "throughput", "vs plain", "CPU", "peak RSS growth"),
    )


if __name__ == "__main__":
    main()
