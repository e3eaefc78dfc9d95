"""Input JSONL files: validation, keys, and splitting into parts under the API's limits.

Every request line gets a key: its own `key` if it has one, otherwise one made from its
line number (`line-00000042`), so results can always be joined back to the input. The
same function decides keys for validation, splitting, merging and retries.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gembatch.atomic import AtomicFile
from gembatch.errors import BadInput

# The Files API takes 2 GB per file; leave room for the keys we may add.
DEFAULT_MAX_BYTES = 1_900_000_000

# On a record: its input file is uploaded with keys made for the lines without one.
KEYS_ADDED = "keys_added"


class InputError(BadInput):
    """An input file cannot be submitted; the message names the file and line."""


@dataclass(frozen=True)
class RequestLine:
    """One request of an input file, with the key its result will carry."""

    line_number: int
    key: str
    data: bytes  # the line as it will be uploaded (with its key), newline included
    had_key: bool


@dataclass
class PartPlan:
    """One file to upload: the input itself, or a part written next to it."""

    path: Path
    first_line: int
    count: int = 0
    size: int = 0


@dataclass
class InputPlan:
    """What submitting one input takes: its parts, and whether they must be written."""

    source: Path
    requests: int
    split: bool  # in parts, each written beside the input
    parts: list[PartPlan] = field(default_factory=list)
    # Some lines get a key made for them: a lone part is uploaded from a keyed copy made
    # at upload time (`write_keyed`), so no copy is left beside the input (issue 25).
    adds_keys: bool = False


def generated_key(line_number: int) -> str:
    return f"line-{line_number:08d}"


def read_requests(path: Path) -> Iterator[RequestLine]:
    """Every request line of an input, with its key; raises InputError on a bad line."""
    for number, raw in raw_lines(path):
        yield _request_line(path, number, raw)


def raw_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """The input's lines that are not blank, with their line numbers."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (IsADirectoryError, PermissionError) as error:
        raise InputError(f"{path}: cannot read it ({error.strerror})") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.isspace():  # (no copy of the line, as strip() would make)
                yield number, raw


def _checked(path: Path, number: int, raw: bytes) -> tuple[dict[str, Any], Any, str | None]:
    """The one rule for a request line: the object, its request, and its own key."""
    # `path:number` is written into messages only: formatting a Path per line cost a
    # fifth of validating a 1 GB input.
    try:
        obj = json.loads(raw)
    except UnicodeDecodeError:
        raise InputError(f"{path}:{number}: not UTF-8 text; save the file as UTF-8") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{path}:{number}: not valid JSON ({error.msg})") from None
    if type(obj) is not dict:
        raise InputError(f"{path}:{number}: each line must be a JSON object")
    if "request" in obj:
        request = obj["request"]
        key = obj.get("key")
        if key is not None and type(key) is not str:
            raise InputError(f'{path}:{number}: "key" must be a string, not {type(key).__name__}')
    else:
        request, key = obj, None
    if type(request) is not dict or (
        type(request.get("contents")) is not list and type(request.get("content")) is not dict
    ):
        raise InputError(
            f'{path}:{number}: a request needs "contents" (a list; "content" for an '
            'embedding); see the Batch API input format: {"key": ..., "request": '
            '{"contents": [...]}}'
        )
    return obj, request, key


def _request_line(path: Path, number: int, raw: bytes) -> RequestLine:
    obj, request, key = _checked(path, number, raw)
    if key is not None:  # already keyed: uploaded exactly as written
        data = raw if raw.endswith(b"\n") else raw + b"\n"
        return RequestLine(number, key, data, True)
    # A key is added; any other fields beside "request" are kept.
    extra = (
        {name: value for name, value in obj.items() if name != "request"}
        if ("request" in obj)
        else {}
    )
    body: dict[str, Any] = {"key": generated_key(number), **extra, "request": request}
    data = (json.dumps(body, ensure_ascii=False) + "\n").encode()
    return RequestLine(number, str(body["key"]), data, False)


def plan_input(path: Path, max_requests: int | None, max_bytes: int) -> InputPlan:
    """Validate every line and decide the parts; nothing is written yet.

    The lean loop of `read_requests` for the common case (a line with its own key): a
    1 GB input is millions of lines, and each microsecond per line is seconds.
    """
    keys = _KeySet()
    parts: list[PartPlan] = []
    total = 0
    adds_keys = False
    part: PartPlan | None = None
    for number, raw in raw_lines(path):
        _, _, key = _checked(path, number, raw)
        if key is None:  # a key is made for it: the line grows
            line = _request_line(path, number, raw)
            key, size, adds_keys = line.key, len(line.data), True
        else:
            size = len(raw) + (raw[-1] != 10)  # (10: a newline)
        keys.add(key)
        if size > max_bytes:
            raise InputError(
                f"{path}:{number}: one request is larger than the "
                f"{max_bytes:,}-byte limit of an input file"
            )
        if (
            part is None
            or (max_requests is not None and part.count >= max_requests)
            or part.size + size > max_bytes
        ):
            part = PartPlan(path, number)
            parts.append(part)
        part.count += 1
        part.size += size
        total += 1
    if total == 0:
        raise InputError(f"{path}: no requests in it")
    keys.check_unique(path)
    if len(parts) > 1:
        _name_parts(path, parts)
    return InputPlan(path, total, len(parts) > 1, parts, adds_keys)


def _name_parts(source: Path, parts: list[PartPlan]) -> None:
    """Each part's file beside its input: `big.part-01-of-12.jsonl`."""
    width = len(str(len(parts)))
    for number, part in enumerate(parts, start=1):
        part.path = part_path(source, f"part-{number:0{width}d}-of-{len(parts)}")


class _KeySet:
    """Whether an input's keys are unique, in 8 bytes a key instead of a dict's ~100.

    Each key's hash goes to one of 256 arrays; at the end a bucket whose hashes repeat
    is looked at again, keys and line numbers this time (a repeat is nearly always a
    real duplicate; a 64-bit hash collision is told apart there and let pass).
    """

    BUCKETS = 256

    def __init__(self) -> None:
        self.buckets = [array("q") for _ in range(self.BUCKETS)]

    def add(self, key: str) -> None:
        digest = hash(key)
        self.buckets[digest & 255].append(digest)

    def check_unique(self, path: Path) -> None:
        repeated: set[int] = set()
        for bucket in self.buckets:
            if len(set(bucket)) == len(bucket):
                continue
            seen: set[int] = set()
            for digest in bucket:
                if digest in seen:
                    repeated.add(digest)
                seen.add(digest)
        if not repeated:
            return
        first: dict[str, int] = {}
        for line in read_requests(path):
            if hash(line.key) in repeated:
                previous = first.setdefault(line.key, line.line_number)
                if previous != line.line_number:
                    raise InputError(
                        f"{path}:{line.line_number}: key {line.key!r} repeats line "
                        f"{previous}; keys must be unique to match results"
                    )


def part_path(source: Path, label: str) -> Path:
    """`batch/001.jsonl` + `part-1-of-3` → `batch/001.part-1-of-3.jsonl`."""
    return source.with_name(f"{source.stem}.{label}{source.suffix or '.jsonl'}")


def write_parts(plan: InputPlan) -> None:
    """Write the planned parts next to the input, each atomically."""
    if not plan.split:
        return
    requests = read_requests(plan.source)
    for part in plan.parts:
        with AtomicFile(part.path) as handle:
            for _ in range(part.count):
                handle.write(next(requests).data)


def write_keyed(source: Path, dest: Path) -> None:
    """Every request of `source` as uploaded, keys made where a line has none."""
    with dest.open("wb") as handle:
        for request in read_requests(source):
            handle.write(request.data)


def write_selected(source: Path, keys: set[str], dest: Path) -> int:
    """Write the requests of `source` whose keys are in `keys` to `dest` (for retries)."""
    written = 0
    with AtomicFile(dest) as handle:
        for request in read_requests(source):
            if request.key in keys:
                handle.write(request.data)
                written += 1
    return written
