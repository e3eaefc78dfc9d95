"""Requests sent inside the create call instead of an uploaded file: when it pays, and
how a part's request lines become the SDK's inline source.

The Batch API takes requests inline while the whole create request stays under 20 MB
(ai.google.dev/gemini-api/docs/batch-mode, "Inline requests"; shared table in
docs/real-service.md). Inline jobs need no upload and leave no output file: their
answers come back in the job itself (`inlinedResponses`, read with its own `get`:
the list leaves them out). `gemini.GeminiClient.create_batch` is the only caller of
`sdk_source`, and hands it the SDK's `types`: nothing here imports the SDK.

Embeddings never go inline: an inline embeddings batch carries no key per text (SDK
`_EmbedContentBatch_to_mldev`), so its answers could only be matched by position, and
inline answers come back in any order (python-genai#1909). Through a file each line
keeps its key.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from gembatch.gemini.remote import RequestError, one_line
from gembatch.inputs import read_requests

INLINE_LIMIT_BYTES = 20_000_000  # the service's limit for one create request
# What a part's request lines may weigh to go inline: the SDK's envelope (field names,
# metadata, the batch's own fields) adds to the lines' bytes.
INLINE_MAX_BYTES = 19_000_000

# GenerateContentRequest fields that the SDK's InlinedRequest carries in its `config`
# (with the generation config's own fields), and moves back up on the wire (SDK
# batches.py `_InlinedRequest_to_mldev`, `_GenerateContentConfig_to_mldev`).
_LIFTED = ("systemInstruction", "tools", "toolConfig", "safetySettings", "cachedContent", "labels")
_SNAKE = {
    "system_instruction": "systemInstruction",
    "tool_config": "toolConfig",
    "safety_settings": "safetySettings",
    "cached_content": "cachedContent",
    "generation_config": "generationConfig",
}


# Past this many requests a file is quicker: the SDK turns each inline request into its
# wire form in Python, about 0.4 ms a request here (4.0 s of CPU for 10,000, against
# 4.3 s for the whole run of 10,000 through a file; benchmarks/library.py).
INLINE_MAX_REQUESTS = 1_000


def goes_inline(size: int, count: int, choice: bool | None) -> bool:
    """Whether a part of `count` requests and `size` bytes is sent inline: never over
    the limit; `choice` None picks by count, True whenever it fits, False never."""
    if choice is False or size > INLINE_MAX_BYTES:
        return False
    return choice is True or count <= INLINE_MAX_REQUESTS


def read_lines(path: Path) -> list[dict[str, Any]]:
    """A part's request lines (`{"key", "request"}`), keys made where a line has none."""
    return [json.loads(request.data) for request in read_requests(path)]


def _camel(request: dict[str, Any]) -> dict[str, Any]:
    return {_SNAKE.get(name, name): value for name, value in request.items()}


def inlined_request(line: dict[str, Any]) -> dict[str, Any]:
    """One request line as the SDK's InlinedRequest (JSON shape): contents, one
    `config` holding the generation config and the lifted fields, and the key in
    `metadata` (whose values the SDK types as strings)."""
    request = _camel(line.get("request") or {})
    config = dict(request.get("generationConfig") or {})
    config.update((name, request[name]) for name in _LIFTED if name in request)
    item: dict[str, Any] = {"contents": request.get("contents") or []}
    if config:
        item["config"] = config
    if line.get("key") is not None:
        item["metadata"] = {"key": str(line["key"])}
    return item


def sdk_source(types: Any, lines: list[dict[str, Any]]) -> list[Any]:
    """The SDK's `src` for these lines. Each item is validated from JSON text, so bytes
    (inline data) are read as the base64 the JSON holds, as the file path would."""
    return [
        types.InlinedRequest.model_validate_json(json.dumps(inlined_request(line)))
        for line in lines
    ]


def create_call(
    aio: Any,
    types: Any,
    model: str,
    file_name: str | None,
    display_name: str,
    inline: list[dict[str, Any]] | None,
    embeddings: bool,
) -> Callable[[], Awaitable[Any]]:
    """The create call: from an uploaded file or inline requests (`inline`); or, from
    a file, for embeddings (`batches.create_embeddings`, experimental in the SDK:
    its warning is expected, not news to the user)."""
    if not embeddings:
        try:
            src = file_name if inline is None else sdk_source(types, inline)
        except ValueError as error:  # (pydantic's ValidationError): refused here
            raise RequestError(f"a request cannot be sent: {one_line(str(error))}") from None
        config = types.CreateBatchJobConfig(display_name=display_name)
        return lambda: aio.batches.create(model=model, src=src, config=config)  # type: ignore[no-any-return]
    if inline is not None:  # (`inline`: why embeddings are never sent so)
        raise ValueError("embeddings batches are created from a file")
    src = types.EmbeddingsBatchJobSource(file_name=file_name)
    config = types.CreateEmbeddingsBatchJobConfig(display_name=display_name)
    warnings.filterwarnings("ignore", message=r"batches\.create_embeddings\(\) is experimental")
    return lambda: aio.batches.create_embeddings(model=model, src=src, config=config)  # type: ignore[no-any-return]
