"""A run's answers, in the order of its inputs, read from the results on disk.

Rows are joined by key, never by position: the service returns them in any order
(python-genai#1909, docs/real-service.md). The results of every job of the input
(parts and retries) are read through the merge's own index, so a row that succeeded in
a retry wins over its earlier failure, as in `gembatch export`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gembatch.results import merge
from gembatch.results.export import NO_RESULT
from gembatch.results.index import parse_row


@dataclass
class Answer:
    """One prompt's outcome.

    `text`: the response's text (all parts joined); `parsed`: that text read into the
    run's `response_model` (None without one, or when it did not fit: `error` says
    why); `error`: why there is no answer (None on success); `usage`: the response's
    `usageMetadata` (token counts); `raw`: the whole result line."""

    key: str
    text: str | None = None
    parsed: Any = None
    error: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """An answer (that fits the response model, when there is one)."""
        return self.error is None


@dataclass
class Embedding:
    """One text's embedding: `values` (None when it failed, with `error` saying why)."""

    key: str
    values: list[float] | None = None
    error: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """A vector came back for this text."""
        return self.error is None


def result_lines(keys: list[str], files: list[Path]) -> list[bytes | None]:
    """Each key's result line (None where there is none yet), in the order of `keys`."""
    index = merge.index_results(files)
    handles = [path.open("rb") for path in files]
    try:
        lines: list[bytes | None] = []
        for key in keys:
            found = index.get(key)
            lines.append(merge.line_at(handles[found[0]], found[1]) if found else None)
        return lines
    finally:
        for handle in handles:
            handle.close()


def answer_of(key: str, line: bytes | None, model: type | None) -> Answer:
    if line is None:
        return Answer(key, error=NO_RESULT)
    row = parse_row(0, line)
    response = row.item.get("response")
    usage = response.get("usageMetadata") if isinstance(response, dict) else None
    answer = Answer(
        key,
        text=row.text if row.ok else None,
        error=None if row.ok else row.error,
        finish_reason=row.finish_reason or None,
        usage=usage if isinstance(usage, dict) else {},
        raw=row.item,
    )
    if row.ok and model is not None:
        try:
            answer.parsed = model.model_validate_json(row.text)  # type: ignore[attr-defined]
        except ValueError as error:  # (pydantic's ValidationError)
            first = str(error).splitlines()
            answer.error = f"the answer does not fit {model.__name__}: {' '.join(first[:3])}"
    return answer


def embedding_of(key: str, line: bytes | None) -> Embedding:
    if line is None:
        return Embedding(key, error=NO_RESULT)
    item = json.loads(line)
    response = item.get("response") if isinstance(item, dict) else None
    embedding = response.get("embedding") if isinstance(response, dict) else None
    values = embedding.get("values") if isinstance(embedding, dict) else None
    if not isinstance(values, list):
        return Embedding(key, error=parse_row(0, line).error or "no embedding", raw=item)
    return Embedding(key, values=values, raw=item)
