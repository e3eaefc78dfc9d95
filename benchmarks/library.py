"""The library's overhead per request: `gembatch.Run.map` against a bare SDK loop over
the same simulator (its own process, jobs that finish at once, rows in any order).

The bare loop is what a script author writes with google-genai alone: write the
requests, upload (or send inline), create, `get` until done, download (or read the
inline answers), and join the rows to the prompts by key. It keeps no job file, checks
nothing, resumes nothing and deletes nothing; the library does all of that, and the
difference per request is what it costs.

    python benchmarks/library.py [--sizes 100 1000 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from _harness import API_KEY, bench_folder, machine, simulator_process, table

import gembatch
from gembatch.gemini.inline import INLINE_MAX_REQUESTS

MODEL = "gemini-2.5-flash"
INTERVAL_S = 0.05


def prompts(count: int) -> list[str]:
    return [f"summarise document {n:06d} in one line" for n in range(count)]


def bare_sdk(url: str, folder: Path, count: int) -> list[str]:
    """Answers in prompt order, with the SDK alone."""
    from google import genai
    from google.genai import types

    client = genai.Client(
        api_key=API_KEY, http_options=types.HttpOptions(base_url=url, api_version="v1beta")
    )
    texts = prompts(count)
    if count <= INLINE_MAX_REQUESTS:  # the same choice the library makes
        src: object = [
            types.InlinedRequest(
                contents=[types.Content(role="user", parts=[types.Part(text=t)])],
                metadata={"key": str(n)},
            )
            for n, t in enumerate(texts)
        ]
    else:
        path = folder / f"bare-{count}.jsonl"
        with path.open("w") as out:
            for n, text in enumerate(texts):
                request = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
                out.write(json.dumps({"key": str(n), "request": request}) + "\n")
        uploaded = client.files.upload(
            file=path, config=types.UploadFileConfig(mime_type="application/jsonl")
        )
        src = uploaded.name
    job = client.batches.create(model=MODEL, src=src)  # type: ignore[arg-type]
    while not job.done:
        time.sleep(INTERVAL_S)
        job = client.batches.get(name=job.name)
    by_key: dict[str, str] = {}
    if job.dest.inlined_responses:
        for item in job.dest.inlined_responses:
            by_key[item.metadata["key"]] = item.response.text
    else:
        data = client.files.download(file=job.dest.file_name)
        for line in data.splitlines():
            row = json.loads(line)
            by_key[row["key"]] = row["response"]["candidates"][0]["content"]["parts"][0]["text"]
    return [by_key[str(n)] for n in range(count)]


def library(url: str, folder: Path, count: int) -> list[str]:
    run = gembatch.Run(
        folder / "job-info.jsonl", api_key=API_KEY, base_url=url, interval=INTERVAL_S,
        progress=False,
    )  # fmt: skip
    return [answer.text or "" for answer in run.map(prompts(count))]


def timed(action, url: str, count: int, prefix: str) -> float:
    folder = bench_folder(prefix)
    started = time.perf_counter()
    answers = action(url, folder, count)
    seconds = time.perf_counter() - started
    assert len(answers) == count and answers[-1].endswith(f"{count - 1:06d} in one line")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with simulator_process("--pending", "0", "--running", "0") as url:
        rows = []
        for count in args.sizes:
            bare = [timed(bare_sdk, url, count, "bare-") for _ in range(args.runs)]
            ours = [timed(library, url, count, "lib-") for _ in range(args.runs)]
            b, o = statistics.median(bare), statistics.median(ours)
            how = "inline" if count <= INLINE_MAX_REQUESTS else "file"
            rows.append(
                (
                    f"{count:,} ({how})",
                    f"{b:.2f} s",
                    f"{o:.2f} s",
                    f"{o / b:.2f}x",
                    f"{(o - b) / count * 1000:+.3f} ms",
                )
            )
        table(
            f"Run.map against a bare SDK loop (median of {args.runs})",
            rows,
            ("requests", "bare SDK", "gembatch", "ratio", "per request"),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
