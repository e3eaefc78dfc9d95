"""Reading one job-file line: msgspec where it can, the standard `json` where it must,
with one verdict for both (`tests/test_fuzz.py` holds them to it)."""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

_decode = msgspec.json.Decoder().decode
# Lines parsed so far in this process: what a run costs grows with this, which a test
# counts (one parse per record at load, one for the work list; none per cycle).
parses = 0


# Both readers give up where the interpreter's recursion limit does, and how much of it
# is left depends on how deep the caller is: one line could read as a record in one
# process and as too deep in another (`status` counts a big file in two). A line is
# judged too deep by its own nesting, whoever reads it.
MAX_DEPTH = 500
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def _too_deep(line: bytes) -> bool:
    if line.count(b"[") + line.count(b"{") <= MAX_DEPTH:  # (every usual record)
        return False
    depth = deepest = 0
    for byte in _STRING.sub(b"", line):  # brackets inside strings do not nest
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest > MAX_DEPTH


class Blank(ValueError):
    """A line of nothing but white space."""


def loads_line(line: bytes) -> Any:
    """What one job-file line holds, as the standard `json` module reads it.

    msgspec reads the lines of a job file five times as fast, and it accepts only
    strict JSON in UTF-8, which `json` reads to the same value (whole numbers of any
    size included). Anything it refuses (a byte order mark, NaN, a lone surrogate, a
    number past a float's range, white space JSON does not know, a broken line) is
    read by `json`, whose verdict stands.
    """
    global parses
    parses += 1
    if _too_deep(line):
        raise RecursionError(line)
    try:
        return _decode(line)
    except msgspec.DecodeError:
        pass
    text = line.strip()
    if not text:
        raise Blank(line)
    return json.loads(text.decode("utf-8-sig"))


def json_reason(exc: ValueError) -> str:
    """Why a line is not JSON, in a few words."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg.removesuffix(' at')}, column {exc.colno}"
    return "a number too long to read" if "digits" in str(exc) else exc.__class__.__name__
