"""Prompts as the request lines of an input file (`{"key", "request"}`, the REST JSON
the Batch API reads): what a program hands `Run.map` or `Run.embed`, and what
`gembatch submit --prompt` / `gembatch prepare` build from files, lines and tables
(`intake.sources`).

A prompt may be a string, a GenerateContentRequest-shaped dict (camelCase, as on the
wire, or snake_case: both are read by the service), or an SDK `types` object (a
`Content`, a list of them, or an `InlinedRequest`). Fields the caller sets are passed
through untouched; the run's own settings (system instruction, tools, generation
config, response schema) fill only what a request leaves unset.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gembatch.errors import BadInput

KeyOf = Callable[[Any], object]


@dataclass
class Shared:
    """What every request of a run gets unless it says otherwise."""

    system_instruction: Any = None
    tools: Any = None
    generation_config: dict[str, Any] = field(default_factory=dict)
    response_model: type | None = None  # a pydantic model: the response schema

    def apply(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.system_instruction is not None and not _has(request, "systemInstruction"):
            request["systemInstruction"] = _content(self.system_instruction, role=None)
        if self.tools is not None and "tools" not in request:
            request["tools"] = _plain(self.tools)
        config = self._config()
        if config:
            key = "generation_config" if "generation_config" in request else "generationConfig"
            request[key] = {**config, **(request.get(key) or {})}
        return request

    def _config(self) -> dict[str, Any]:
        config = dict(_plain(self.generation_config) or {})
        if self.response_model is not None:
            config.setdefault("responseMimeType", "application/json")
            config.setdefault("responseJsonSchema", schema_of(self.response_model))
        return config


def schema_of(model: type) -> dict[str, Any]:
    """A pydantic model's JSON schema, as `responseJsonSchema` takes it."""
    try:
        schema = model.model_json_schema()  # type: ignore[attr-defined]
    except AttributeError:
        raise BadInput(f"response_model must be a pydantic model, not {model!r}") from None
    return dict(schema)


def request_lines(
    prompts: Iterable[Any], key: KeyOf | None, shared: Shared
) -> tuple[list[str], list[bytes]]:
    """The keys and the JSONL lines of `prompts`, in their order; keys must be unique."""
    keys: list[str] = []
    lines: list[bytes] = []
    seen: set[str] = set()
    for index, prompt in enumerate(prompts):
        name = str(key(prompt)) if key is not None else str(index)
        if name in seen:
            raise BadInput(f"two prompts have the key {name!r}: keys must be unique")
        seen.add(name)
        request = shared.apply(to_request(prompt, index))
        keys.append(name)
        lines.append(_line(name, request, index))
    if not keys:
        raise BadInput("no prompts given: there is nothing to run")
    return keys, lines


def embed_lines(texts: Iterable[Any], settings: dict[str, Any]) -> tuple[list[str], list[bytes]]:
    """EmbedContentRequests (`content` plus the run's settings), keyed by position."""
    keys: list[str] = []
    lines: list[bytes] = []
    for index, text in enumerate(texts):
        request = {"content": _content(text, role=None), **settings}
        keys.append(str(index))
        lines.append(_line(str(index), request, index))
    if not keys:
        raise BadInput("no texts given: there is nothing to embed")
    return keys, lines


def to_request(prompt: Any, index: int) -> dict[str, Any]:
    """One prompt as a GenerateContentRequest dict (a copy: the caller's is untouched)."""
    if isinstance(prompt, str):
        return {"contents": [_content(prompt)]}
    if isinstance(prompt, dict):
        if "contents" not in prompt:
            raise BadInput(f"prompt {index} is a dict without 'contents'; see docs/library.md")
        return json.loads(json.dumps(prompt, default=_not_json(index)))
    plain = _plain(prompt)
    if isinstance(plain, dict) and "contents" in plain:  # an InlinedRequest
        request = {"contents": plain["contents"]}
        config = dict(plain.get("config") or {})
        for lifted in ("systemInstruction", "tools", "toolConfig", "safetySettings"):
            if lifted in config:
                request[lifted] = config.pop(lifted)
        if config:
            request["generationConfig"] = config
        return request
    if isinstance(plain, dict) and "parts" in plain:  # a Content
        return {"contents": [plain]}
    if isinstance(plain, list) and all(isinstance(c, dict) and "parts" in c for c in plain):
        return {"contents": plain}
    raise BadInput(
        f"prompt {index} is a {type(prompt).__name__}: give a string, a request dict "
        "or an SDK Content / InlinedRequest"
    )


def _line(key: str, request: dict[str, Any], index: int) -> bytes:
    try:
        text = json.dumps({"key": key, "request": request}, ensure_ascii=False)
    except (TypeError, ValueError) as error:
        raise BadInput(f"prompt {index} cannot be written as JSON: {error}") from None
    return (text + "\n").encode()


def _content(value: Any, role: str | None = "user") -> dict[str, Any]:
    """A Content from a string, a dict or an SDK object."""
    if isinstance(value, str):
        content: dict[str, Any] = {"parts": [{"text": value}]}
        if role:
            content["role"] = role
        return content
    plain = _plain(value)
    if isinstance(plain, dict) and "parts" in plain:
        return plain
    raise BadInput(f"{value!r} is not text or a Content")


def _has(request: dict[str, Any], camel: str) -> bool:
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return camel in request or snake in request


def _plain(value: Any) -> Any:
    """SDK `types` objects (pydantic models) as the JSON the wire carries."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _not_json(index: int) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if hasattr(value, "model_dump"):
            return _plain(value)
        raise BadInput(f"prompt {index} holds a {type(value).__name__}, which is not JSON")

    return convert
