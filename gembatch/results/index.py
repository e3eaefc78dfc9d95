"""Random access to a results file of any size: where each line starts, and the few
lines on screen parsed on demand.

A 100,000-line file is indexed in a single pass over its bytes (no line is parsed), so
the results browser shows its first screen at once and keeps only what it shows.
"""

from __future__ import annotations

import json
from array import array
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

CHUNK = 1 << 20
PARSED_KEPT = 2048  # rows kept parsed: a few screens either side


@dataclass(frozen=True)
class ResultRow:
    """One request's outcome, as the browser lists it."""

    number: int  # 0-based line in the file
    key: str
    ok: bool
    error: str
    finish_reason: str
    tokens: int | None
    text: str  # the response's text (all parts joined)
    item: dict[str, Any] = field(compare=False, hash=False)

    @property
    def first_line(self) -> str:
        return self.text.strip().split("\n", 1)[0] if self.text else ""


def parse_row(number: int, line: bytes) -> ResultRow:
    """Whatever a line holds; a line that is not a JSON object says so as its error."""
    try:
        item = json.loads(line)
    except ValueError:
        item = None
    if not isinstance(item, dict):
        return ResultRow(number, "", False, "not a JSON object", "", None, "", {})
    # The same rule as results._check_line: only a `response` is a success.
    response = item.get("response")
    ok = "response" in item
    error = "" if ok else _error_text(item)
    candidate = _first_candidate(response)
    usage = response.get("usageMetadata") if isinstance(response, dict) else None
    tokens = usage.get("totalTokenCount") if isinstance(usage, dict) else None
    return ResultRow(
        number=number,
        key=str(item.get("key", "")),
        ok=ok,
        error=error,
        finish_reason=str(candidate.get("finishReason") or ""),
        tokens=tokens if isinstance(tokens, int) else None,
        text=_text_of(candidate),
        item=item,
    )


def _error_text(item: dict) -> str:
    for name in ("error", "status"):
        value = item.get(name)
        if isinstance(value, dict):
            return str(value.get("message") or value.get("code") or value)
        if value:
            return str(value)
    return "no response"


def _first_candidate(response: object) -> dict:
    if not isinstance(response, dict):
        return {}
    candidates = response.get("candidates")
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
        return candidates[0]
    return {}


def _text_of(candidate: dict) -> str:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        return ""
    return "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))


class ResultsIndex:
    """Line offsets of one results file, and an LRU of parsed rows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offsets = array("q")  # start of each line; one more entry for the end
        self._handle: BinaryIO = path.open("rb")
        self._parsed: OrderedDict[int, ResultRow] = OrderedDict()
        self._build()

    @property
    def rows_parsed(self) -> int:
        """How many rows are held parsed (a screenful or so, never the whole file)."""
        return len(self._parsed)

    def _build(self) -> None:
        offsets, handle, position = self.offsets, self._handle, 0
        offsets.append(0)
        while chunk := handle.read(CHUNK):
            start = 0
            while (newline := chunk.find(b"\n", start)) != -1:
                offsets.append(position + newline + 1)
                start = newline + 1
            position += len(chunk)
        if offsets[-1] != position:  # a last line without its newline
            offsets.append(position)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def line(self, number: int) -> bytes:
        start, end = self.offsets[number], self.offsets[number + 1]
        self._handle.seek(start)
        return self._handle.read(end - start)

    def row(self, number: int) -> ResultRow:
        row = self._parsed.get(number)
        if row is None:
            row = parse_row(number, self.line(number))
            self._parsed[number] = row
            if len(self._parsed) > PARSED_KEPT:
                self._parsed.popitem(last=False)
        else:
            self._parsed.move_to_end(number)
        return row

    def failed_rows(self) -> list[int]:
        """Numbers of the rows without a response: one pass over the file, in a stream
        of its own (the screen may read rows meanwhile)."""
        failed = []
        with self.path.open("rb") as handle:
            for number, line in enumerate(handle):
                if number >= len(self):
                    break
                if b'"response"' not in line or not parse_row(number, line).ok:
                    failed.append(number)
        return failed

    def close(self) -> None:
        self._handle.close()


def find_request(input_path: Path, key: str) -> dict | None:
    """The request line with this key in an input file, or None (a stream, not a load)."""
    from gembatch.inputs import InputError, read_requests

    try:
        for request in read_requests(input_path):
            if request.key == key:
                found = json.loads(request.data)
                return found if isinstance(found, dict) else None
    except (InputError, OSError, ValueError):
        return None
    return None
