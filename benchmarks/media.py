"""Building and uploading a batch over a folder of files: `gembatch submit --prompt`
(the whole command, from start to exit) against a bare SDK loop over the same files.

The bare loop is what a script author writes with google-genai alone: upload each file
in turn, write the request JSONL naming the uploads, upload it and create the batch.
It records nothing, so a kill midway leaks every upload made so far; gembatch hashes
each file (one upload per content), records every upload before sending it, and
uploads eight at once. Both talk to one simulator in its own process, over loopback.

    python benchmarks/media.py [--files 1000] [--runs 3] [--kb 20] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _harness import API_KEY, bench_folder, machine, simulator_process, table

MODEL = "gemini-2.5-flash"
PROMPT = "Describe this image in one line"


def make_folder(folder: Path, count: int, kb: int) -> list[Path]:
    """`count` different PNG-named files of `kb` KB each."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        path = folder / f"img-{n:05d}.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + n.to_bytes(8, "big") + os.urandom(kb * 1024))
        paths.append(path)
    return paths


BARE_SCRIPT = """
import json, sys
from pathlib import Path
from google import genai
from google.genai import types

url, folder, prompt, model = sys.argv[1:5]
client = genai.Client(http_options=types.HttpOptions(base_url=url, api_version="v1beta"))
lines = []
for path in sorted(Path(folder).iterdir()):
    uploaded = client.files.upload(file=path, config=types.UploadFileConfig(mime_type="image/png"))
    part = {"fileData": {"fileUri": uploaded.uri, "mimeType": "image/png"}}
    request = {"contents": [{"role": "user", "parts": [{"text": prompt}, part]}]}
    lines.append(json.dumps({"key": path.name, "request": request}))
Path("requests.jsonl").write_text("\\n".join(lines) + "\\n")
uploaded = client.files.upload(
    file="requests.jsonl", config=types.UploadFileConfig(mime_type="application/json")
)
client.batches.create(model=model, src=str(uploaded.name))
"""


def bare_sdk(url: str, folder: Path, work: Path) -> None:
    """The bare loop as a script of its own: a whole process, as gembatch's is."""
    script = work / "bare.py"
    script.write_text(BARE_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), url, str(folder), PROMPT, MODEL],
        cwd=work, env=_env(url), capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def _env(url: str) -> dict[str, str]:
    return {**os.environ, "GEMINI_API_KEY": API_KEY, "GOOGLE_GEMINI_BASE_URL": url}


def gembatch_submit(url: str, folder: Path, work: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gembatch", "submit", "--prompt", PROMPT, str(folder)],
        cwd=work, env=_env(url), capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def timed(action, url: str, files: object, prefix: str) -> float:
    work = bench_folder(prefix)
    started = time.perf_counter()
    action(url, files, work)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kb", type=int, default=20)
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds the server takes per call"
    )
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with simulator_process("--pending", "3600", "--latency", str(args.latency)) as url:
        folder = bench_folder("media-")
        make_folder(folder / "images", args.files, args.kb)
        bare, ours = [], []
        for _ in range(args.runs):  # interleaved: a slow moment hits both alike
            bare.append(timed(bare_sdk, url, folder / "images", "bare-"))
            ours.append(timed(gembatch_submit, url, folder / "images", "ours-"))
        b, o = statistics.median(bare), statistics.median(ours)
        table(
            f"{args.files:,} files of {args.kb} KB, {args.latency * 1000:.0f} ms a call: "
            "built, uploaded, created "
            f"(median of {args.runs}, min-max)",
            [(
                "bare SDK loop", f"{b:.2f} s ({min(bare):.2f}-{max(bare):.2f})", "1.00x",
            ), (
                "gembatch submit --prompt", f"{o:.2f} s ({min(ours):.2f}-{max(ours):.2f})",
                f"{o / b:.2f}x",
            )],
            ("", "time", "ratio"),
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
