"""What the simulated service reads and answers: input lines, inline requests, and the
responses (with the token counts `countTokens` and the usage agree on)."""

from __future__ import annotations

import json
import zlib
from typing import Any

from gembatch.simulator.errors import ApiError
from gembatch.simulator.scenario import JobPlan


def parse_input_lines(data: bytes) -> list[dict[str, Any]]:
    requests = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise ApiError(400, f"Invalid JSON in input file at line {number}.") from None
        if isinstance(obj, dict) and "request" in obj:
            # Extra top-level fields come back in the output line (go-genai#513, §0.4).
            extra = {k: v for k, v in obj.items() if k not in ("key", "request")}
            requests.append({"key": obj.get("key"), "request": obj["request"], "extra": extra})
        else:
            requests.append({"key": None, "request": obj})
    return requests


def inline_request(item: Any, index: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ApiError(400, f"requests[{index}] is not an object.")
    metadata = item.get("metadata") or {}
    return {"key": metadata.get("key"), "request": item.get("request", {})}


def response_for(plan: JobPlan, model: str, request: dict[str, Any]) -> dict[str, Any]:
    """The answer the simulator gives a request: text about its prompt (JSON for
    structured output), with the usage it bills."""
    body = request.get("request")
    prompt = _first_text(body)
    text = f"Simulated answer to: {prompt[:60]}"
    config = body.get("generationConfig") if isinstance(body, dict) else None
    if isinstance(config, dict) and config.get("responseMimeType") == "application/json":
        # Structured output: the service answers with JSON text in the same part, shaped
        # by the schema when one is given (`responseJsonSchema` or `responseSchema`).
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        value = (
            instance_of(schema, prompt)
            if isinstance(schema, dict)
            else {"answer": text, "prompt_chars": len(prompt)}
        )
        text = json.dumps(value)
    if plan.response_bytes:
        text += " " + "x" * plan.response_bytes
    prompt_count = prompt_tokens(body) + int(request.get("media_tokens") or 0)
    answer_tokens = max(1, len(text) // 4)
    return {
        "candidates": [
            {
                "content": {"parts": [{"text": text}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": prompt_count,
            "candidatesTokenCount": answer_tokens,
            "totalTokenCount": prompt_count + answer_tokens,
        },
        "modelVersion": model.removeprefix("models/"),
    }


def embedding_for(plan: JobPlan, model: str, request: dict[str, Any]) -> dict[str, Any]:
    """An EmbedContentResponse: one vector, the same for the same text. Its length is
    the request's `outputDimensionality`, else gemini-embedding-001's default of 3,072
    (ai.google.dev/gemini-api/docs/embeddings); embeddings carry no usage."""
    body = request.get("request")
    size = body.get("outputDimensionality") if isinstance(body, dict) else None
    size = size if isinstance(size, int) and size > 0 else 3072
    seed = zlib.crc32(_first_text(body).encode())
    values = [round(((seed * (n + 7919)) % 20011) / 10005.5 - 1.0, 6) for n in range(size)]
    return {"embedding": {"values": values}}


def instance_of(schema: dict[str, Any], prompt: str, defs: dict | None = None) -> Any:
    """A value that fits a JSON schema (as pydantic writes them: `$defs`, `$ref`,
    `anyOf`) or the API's own schema (upper-case `type`s): what a model constrained by
    that schema answers. Strings quote the prompt, so answers differ per request."""
    defs = defs if defs is not None else schema.get("$defs") or schema.get("definitions") or {}
    if "$ref" in schema:
        return instance_of(defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {}), prompt, defs)
    for key in ("anyOf", "oneOf", "allOf"):
        options = [o for o in schema.get(key) or [] if o.get("type") != "null"]
        if options:
            return instance_of(options[0], prompt, defs)
    if schema.get("enum"):
        return schema["enum"][0]
    kind = str(schema.get("type") or ("object" if "properties" in schema else "string")).lower()
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: instance_of(sub, prompt, defs) for name, sub in properties.items()}
    if kind == "array":
        return [instance_of(schema.get("items") or {}, prompt, defs)]
    if kind in ("number", "integer"):
        return len(prompt) if kind == "integer" else len(prompt) + 0.5
    if kind == "boolean":
        return len(prompt) % 2 == 0
    return f"about {prompt[:40]}"


def prompt_tokens(request: Any) -> int:
    """One rule for the prompt's tokens, for countTokens and for the usage it bills: a
    token per 4 characters of the prompt's text, plus of the system instruction's text
    and of the tools and the response schema as JSON (the real service bills those too;
    its REST `countTokens` counts them when given the whole `generateContentRequest`,
    shared/gemini-batch-api.md §0.14)."""
    extra = 0
    if isinstance(request, dict):
        system = request.get("systemInstruction") or request.get("system_instruction")
        extra += len(_all_text(system))
        tools = request.get("tools")
        extra += len(json.dumps(tools)) if tools else 0
        config = request.get("generationConfig") or request.get("generation_config") or {}
        schema = (
            config.get("responseSchema") or config.get("responseJsonSchema")
            if isinstance(config, dict)
            else None
        )
        extra += len(json.dumps(schema)) if schema else 0
    return max(1, (len(_first_text(request)) + extra) // 4)


def _all_text(content: Any) -> str:
    parts = content.get("parts") if isinstance(content, dict) else None
    return "".join(str(p.get("text", "")) for p in parts or [] if isinstance(p, dict))


def _first_text(request: Any) -> str:
    try:
        if isinstance(request, dict) and "content" in request:  # an EmbedContentRequest
            return str(request["content"]["parts"][0]["text"])
        return str(request["contents"][0]["parts"][0]["text"])
    except (KeyError, IndexError, TypeError):
        return ""
