"""The check of a results file as it streams in says what reading it line by line with
the `json` module says, however the download cuts it into chunks.

The check reads most chunks in one msgspec call (`results_check._LineChecker`); these
tests hold it to an oracle written here, line by line with `json`, on generated files
that mix ordinary lines with blank ones, lines only `json` reads, broken lines and lines
holding two values.
"""

from __future__ import annotations

import io
import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gembatch.results.check import (
    USAGE_FIELDS,
    ResultsProblem,
    ResultsSummary,
    VerifyingFile,
    summarise,
)

usage_values = st.one_of(st.integers(0, 10**6), st.just(True), st.just(2.5), st.just(2**70))
usage = st.dictionaries(st.sampled_from([*USAGE_FIELDS, "other"]), usage_values, max_size=4)
answer = st.builds(
    lambda key, used: json.dumps(
        {"key": key, "response": {"candidates": [{"text": "}{ \n"}], "usageMetadata": used}}
    ),
    st.text(max_size=5),
    usage,
)
failure = st.builds(
    lambda key: json.dumps({"key": key, "error": {"code": 400, "message": "bad"}}), st.text()
)
odd = st.sampled_from(
    [
        "",  # a blank line
        "  \r",  # white space only
        "[1, 2]",  # not an object: a line, not a failure
        '{"response": {"x": NaN}}',  # only `json` reads it
        '{"response": null}',
        '{"key": "k", "status": "DONE"}',  # a user's own field, no response: failed
        '{"response": {"usageMetadata": {"promptTokenCount": 3}}}\r',
        '{"response": ',  # broken
        '{"key": 1} {"key": 2}',  # two values on one line: broken
        "\ufeff{}",  # a byte order mark
    ]
)
results_lines = st.lists(st.one_of(answer, answer, failure, odd), max_size=40)


def oracle(lines: list[bytes]) -> ResultsSummary | str:
    """Line by line with `json` (from bytes, as a file is read): the summary, or the
    problem it raises."""
    summary = ResultsSummary()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            return f"results line {number} is not valid JSON"
        summary.lines += 1
        if isinstance(item, dict):
            summary.failed_rows += "response" not in item
            response = item.get("response")
            used = response.get("usageMetadata") if isinstance(response, dict) else None
            for name, value in used.items() if isinstance(used, dict) else ():
                if name in USAGE_FIELDS and isinstance(value, int):
                    summary.usage[name] = summary.usage.get(name, 0) + value
    return summary


def stream(data: bytes, cuts: list[int]) -> ResultsSummary | str:
    target = VerifyingFile(io.BytesIO())
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    for start, end in itertools.pairwise(bounds):
        target.write(data[start:end])
    target.finish()
    try:
        return target.result()
    except ResultsProblem as problem:
        return str(problem)


def as_read(result: Any) -> Any:
    return (
        (result.lines, result.failed_rows, result.usage)
        if isinstance(result, ResultsSummary)
        else result
    )


@settings(max_examples=300, deadline=None)
@given(
    lines=results_lines,
    ending=st.sampled_from(["", "\n"]),
    cuts=st.lists(st.integers(0, 10**6), max_size=6),
)
def test_a_streamed_check_says_what_json_says_line_by_line(
    lines: list[str], ending: str, cuts: list[int]
) -> None:
    data = ("\n".join(lines) + ending).encode()
    expected = oracle(data.split(b"\n"))
    assert as_read(stream(data, cuts)) == as_read(expected)
    try:
        whole = summarise(io.BytesIO(data), None)
    except ResultsProblem as problem:
        assert str(problem) == expected
    else:
        assert as_read(whole) == as_read(expected)


def test_a_large_file_in_big_chunks_is_counted_exactly() -> None:
    """The fast path (whole chunks of ordinary lines) with a bad line deep inside one:
    the line number is the file's, not the chunk's."""
    good = json.dumps({"key": "k", "response": {"usageMetadata": {"totalTokenCount": 7}}})
    lines = [good] * 5000
    assert as_read(stream(("\n".join(lines) + "\n").encode(), [70_000])) == (
        5000,
        0,
        {"totalTokenCount": 35_000},
    )
    lines[3210] = '{"response": oops}'
    data = ("\n".join(lines) + "\n").encode()
    assert stream(data, [70_000]) == "results line 3211 is not valid JSON"
