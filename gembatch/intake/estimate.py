"""What a submit would cost, before anything is uploaded: `gembatch submit --dry-run`.

Every line is validated and the parts planned exactly as a real submit does. Input
tokens come from the service's own `countTokens` on a sample of requests spread evenly
through the input, extrapolated to all of them with a 95% interval (exact when every
request is sampled). Output tokens cannot be known in advance: they are the caller's
`--expect-output-tokens` per request, or left out of the cost (and said so).
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from gembatch import prices
from gembatch.gemini.client import GeminiClient
from gembatch.inputs import InputPlan, raw_lines
from gembatch.intake.local_media import file_data_parts, files_named, is_local
from gembatch.intake.sources import mime_of
from gembatch.media_tokens import file_tokens

SAMPLE = 200
CONCURRENCY = 8
Z_95 = 1.96


@dataclass
class Estimate:
    """One input's (or the run's) size, tokens and cost."""

    label: str
    parts: int
    requests: int
    size: int
    sampled: int
    input_tokens: float
    input_margin: float  # +/- at 95%
    output_tokens: int | None
    dollars: float | None
    dollars_margin: float | None
    counted: tuple[str, ...] = ("contents",)  # the parts of the requests counted
    media_files: int = 0  # local media the requests name, to be uploaded
    media_bytes: int = 0

    def line(self) -> str:
        from gembatch.formatting import byte_size, plural

        exact = not self.input_margin or not self.input_tokens
        share = "" if exact else f" ±{self.input_margin / self.input_tokens:.1%}"
        sample = "all counted" if self.sampled == self.requests else f"{self.sampled} sampled"
        sample += f"; counted: {', '.join(self.counted)}"
        text = (
            f"{self.label}: {plural(self.requests, 'request')} in {plural(self.parts, 'part')}, "
            f"{byte_size(self.size)}; input ≈ {self.input_tokens:,.0f} tokens{share} ({sample})"
        )
        if self.media_files:
            text += (
                f"; {plural(self.media_files, 'media file')} ({byte_size(self.media_bytes)}) "
                "to upload, their tokens counted here by the documented rules"
            )
        if self.output_tokens is not None:
            text += f"; output {self.output_tokens:,} tokens (as expected)"
        if self.dollars is not None:
            margin = f" ± {prices.dollars(self.dollars_margin)}" if self.dollars_margin else ""
            text += f"; ≈ {prices.dollars(self.dollars)}{margin} at batch prices"
        return text


def sample_positions(requests: int, size: int) -> set[int]:
    """Up to `size` request positions spread evenly through the input."""
    if requests <= size:
        return set(range(requests))
    return {math.floor(n * requests / size) for n in range(size)}


async def estimate(
    plan: InputPlan,
    label: str,
    client: GeminiClient,
    model: str,
    price: prices.Price | None,
    expect_output: int | None,
    sample: int = SAMPLE,
) -> Estimate:
    requests = _sampled(plan, sample)
    counts = await _token_counts(requests, client, model, LocalMedia(plan.source.parent))
    tokens, margin = extrapolated(counts, plan.requests)
    output = None if expect_output is None else expect_output * plan.requests
    dollars = margin_dollars = None
    if price is not None:
        dollars = (tokens * price.input + (output or 0) * price.output) / 1_000_000
        margin_dollars = margin * price.input / 1_000_000
    return Estimate(
        label,
        len(plan.parts),
        plan.requests,
        sum(part.size for part in plan.parts),
        len(counts),
        tokens,
        margin,
        output,
        dollars,
        margin_dollars,
        tuple(counted_parts(requests)),
        *files_named(plan.source),
    )


def _sampled(plan: InputPlan, sample: int) -> list[dict]:
    """The requests at the sampled positions. Only those lines are parsed: the input
    was validated when it was planned, and a second full parse would double the dry
    run of a 1 GB input."""
    wanted = sample_positions(plan.requests, sample)
    return [
        _request(raw)
        for position, (_, raw) in enumerate(raw_lines(plan.source))
        if position in wanted
    ]


async def _token_counts(
    requests: list[dict], client: GeminiClient, model: str, local: LocalMedia
) -> list[int]:
    """Each request's tokens: `countTokens` for what it sends, local media counted by
    the documented rules (the server cannot see a local file)."""
    slots = asyncio.Semaphore(CONCURRENCY)

    async def count(request: dict) -> int:
        sent, media_tokens = local.split(request)
        async with slots:
            return await client.count_tokens(model, sent) + media_tokens

    return list(await asyncio.gather(*(count(request) for request in requests)))


def extrapolated(counts: list[int], requests: int) -> tuple[float, float]:
    """All the requests' tokens from a sample's counts, and the margin at 95%."""
    margin = 0.0
    if 1 < len(counts) < requests:
        # Sampling without replacement: the finite population correction applies.
        spread = statistics.stdev(counts) / math.sqrt(len(counts))
        correction = math.sqrt((requests - len(counts)) / (requests - 1))
        margin = Z_95 * spread * correction * requests
    return statistics.fmean(counts) * requests, margin


def total(estimates: list[Estimate]) -> Estimate:
    """The run: sums, with independent margins added in quadrature."""
    priced = [e for e in estimates if e.dollars is not None]
    outputs = [e.output_tokens for e in estimates if e.output_tokens is not None]
    return Estimate(
        "total",
        sum(e.parts for e in estimates),
        sum(e.requests for e in estimates),
        sum(e.size for e in estimates),
        sum(e.sampled for e in estimates),
        sum(e.input_tokens for e in estimates),
        math.sqrt(sum(e.input_margin**2 for e in estimates)),
        sum(outputs) if len(outputs) == len(estimates) else None,
        sum(e.dollars or 0.0 for e in priced) if len(priced) == len(estimates) else None,
        math.sqrt(sum((e.dollars_margin or 0.0) ** 2 for e in priced)) if priced else None,
        tuple(dict.fromkeys(part for e in estimates for part in e.counted)),
        sum(e.media_files for e in estimates),
        sum(e.media_bytes for e in estimates),
    )


def _request(line: bytes) -> dict:
    """A line's request, whole: what is counted is what is billed."""
    obj = json.loads(line)
    request = obj.get("request", obj) if isinstance(obj, dict) else {}
    return request if isinstance(request, dict) else {}


COUNTED_PARTS = (
    ("systemInstruction", "system instruction"),
    ("tools", "tools"),
    ("toolConfig", "tool config"),
    ("cachedContent", "cached content"),
)


def counted_parts(requests: list[dict]) -> list[str]:
    """What the sampled requests hold beyond their contents, all of it counted."""
    names = ["contents"]
    for key, name in COUNTED_PARTS:
        if any(key in r or _snake(key) in r for r in requests):
            names.append(name)
    configs = [r.get("generationConfig") or r.get("generation_config") or {} for r in requests]
    if any(
        isinstance(c, dict) and ("responseSchema" in c or "responseJsonSchema" in c)
        for c in configs
    ):
        names.append("response schema")
    return names


def _snake(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


class LocalMedia:
    """The local media requests name: the service cannot count what it has not been
    sent, so their tokens are counted here (`gembatch.media_tokens`) and their parts
    left out of what is sent to `countTokens`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._tokens: dict[Path, int] = {}

    def split(self, request: dict) -> tuple[dict, int]:
        """The request without its local media (in its contents or its system
        instruction), and their tokens."""
        if not any(is_local(_uri(d)) for d in file_data_parts(request)):
            return request, 0
        copy = json.loads(json.dumps(request))
        tokens = 0
        for data in file_data_parts(copy):
            if is_local(_uri(data)):
                tokens += self._tokens_of(self.folder / str(_uri(data)), data)
        for content in _contents(copy):
            kept = [p for p in content.get("parts") or [] if not _local_part(p)]
            content["parts"] = kept or [{"text": ""}]
        return copy, tokens

    def _tokens_of(self, path: Path, data: dict) -> int:
        if path not in self._tokens:
            mime = str(data.get("mimeType") or data.get("mime_type") or mime_of(path))
            try:
                self._tokens[path] = file_tokens(mime, path)
            except OSError:
                self._tokens[path] = 0  # (said when the part is sent: left out)
        return self._tokens[path]


def _contents(request: dict) -> list[dict]:
    system = request.get("systemInstruction") or request.get("system_instruction")
    contents = [c for c in request.get("contents") or [] if isinstance(c, dict)]
    return contents + ([system] if isinstance(system, dict) else [])


def _local_part(part: object) -> bool:
    data = part.get("fileData") or part.get("file_data") if isinstance(part, dict) else None
    return isinstance(data, dict) and is_local(_uri(data))


def _uri(data: dict) -> object:
    return data.get("fileUri") or data.get("file_uri")
