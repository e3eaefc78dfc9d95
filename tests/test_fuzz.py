"""Generated job files, valid and broken in every way we know of, through load, `status`,
`status --json` and one poll cycle against the simulator: no traceback, documented exit
codes only, one-line messages, and every byte of the file still there."""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gembatch.cli import main, status_count
from gembatch.cli.parser import CODES
from gembatch.jobfile.disk import JobFileError
from gembatch.jobfile.file import JobFile
from gembatch.jobfile.json_line import loads_line
from gembatch.simulator import SimulatorServer
from tests.conftest import API_KEY

STATES = [
    "JOB_STATE_SUCCEEDED",
    "JOB_STATE_FAILED",
    "JOB_STATE_CANCELLED",
    "JOB_STATE_EXPIRED",
    "BATCH_STATE_RUNNING",
    "BATCH_STATE_PENDING",
    "BATCH_STATE_SOMETHING_NEW",
    "",
]
TIMES = ["2026-01-01T10:00:00+00:00", "2026-01-01T10:00:00.123Z", "yesterday", ""]
# Every character, lone surrogates, NULs and terminal escapes included.
text = st.text(st.characters(exclude_categories=()), max_size=12)
anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


def maybe(values: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly the right kind of value, sometimes anything at all."""
    return st.one_of(values, values, anything)


batch = st.fixed_dictionaries(
    {},
    optional={
        "name": maybe(st.from_regex(r"batches/[a-z0-9]{1,8}", fullmatch=True)),
        "state": maybe(st.sampled_from(STATES)),
        "create_time": maybe(st.sampled_from(TIMES)),
        "end_time": maybe(st.sampled_from(TIMES)),
        "model": maybe(st.sampled_from(["models/gemini-2.5-flash", "models/unknown"])),
        "dest": maybe(st.fixed_dictionaries({"file_name": st.just("files/out1")})),
    },
)
counts = st.dictionaries(st.sampled_from(["succeeded", "failed", "pending", "total"]), anything)
usage = st.dictionaries(
    st.sampled_from(["promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount"]),
    maybe(st.integers(0, 10**7)),
)
record = st.fixed_dictionaries(
    {},
    optional={
        "input_file": maybe(text),
        "count": maybe(st.integers(-5, 10**6)),
        "job_name": maybe(st.from_regex(r"batches/[a-z0-9]{1,8}", fullmatch=True)),
        "final_state": maybe(st.sampled_from(STATES)),
        "completed_at": maybe(st.sampled_from(TIMES)),
        "submit_id": maybe(st.from_regex(r"[0-9a-f]{12}", fullmatch=True)),
        "batch": maybe(batch),
        "stats": maybe(counts),
        "usage": maybe(usage),
        "results_file": maybe(text),
        "remote_deleted_at": maybe(st.sampled_from(TIMES)),
        "missing_since": maybe(st.sampled_from(TIMES)),
        "last_error": maybe(text),
        "queued_at": maybe(st.sampled_from(TIMES)),
        "queue_refusals": maybe(st.integers(0, 9)),
        "queue_retry_at": maybe(st.sampled_from(TIMES)),
        "estimate": maybe(st.fixed_dictionaries({"cost_usd": st.floats(0, 10)})),
        "unknown_field": anything,
    },
)
limits = st.fixed_dictionaries(
    {},
    optional={
        "max_cost_usd": maybe(st.floats(-10, 100, allow_nan=False)),
        "max_running": maybe(st.integers(-2, 9)),
    },
)
limits_line = maybe(limits).map(lambda v: json.dumps({"gembatch_limits": v}).encode())
line = st.one_of(
    record.map(lambda r: json.dumps(r).encode()),
    limits_line,
    limits_line.map(lambda data: data[: len(data) // 2]),  # a limits line cut short
    record.map(lambda r: json.dumps(r, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    st.binary(max_size=30),
    st.integers(1, 3000).map(lambda depth: b"[" * depth),
    st.integers(4000, 6000).map(lambda digits: b'{"count": ' + b"7" * digits + b"}"),
    st.sampled_from([b"", b"   ", b"null", b"[]", b'"text"', b"{", b"{}"]),
)
ending = st.sampled_from([b"\n", b"\n", b"\r\n", b"\r"])
job_files = st.tuples(
    st.booleans(), st.lists(st.tuples(line, ending), max_size=6), st.booleans()
).map(
    lambda parts: (
        (b"\xef\xbb\xbf" if parts[0] else b"")
        + b"".join(body + end for body, end in parts[1])
        + (b"" if parts[2] else b"\n")
    )
)


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def check(code: int, err: str, path: Path) -> None:
    assert code in CODES, (code, err)
    for message in err.splitlines():
        assert message.startswith("gembatch: "), err
    if code == 4 and err:
        assert str(path) in err or "no jobs" in err or "lock" in err, err


@pytest.fixture
def folders(tmp_path: Path) -> Iterator[Iterator[Path]]:
    def fresh() -> Iterator[Path]:
        for number in range(1_000_000):
            folder = tmp_path / str(number)
            folder.mkdir()
            yield folder

    yield fresh()


@settings(
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=job_files)
def test_status_survives_any_job_file(folders: Iterator[Path], data: bytes) -> None:
    path = next(folders) / "job-info.jsonl"
    path.write_bytes(data)
    for argv in (["status"], ["status", "--json"], ["status", "--list"]):
        code, out, err = run(["--job-info", str(path), *argv])
        check(code, err, path)
        if argv[-1] == "--json" and code != 4:
            assert json.loads(out)["exit_code"] == code
    assert path.read_bytes() == data


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=job_files)
# Found by this test (2026-12-08): a results path holding a NUL byte, named in the
# summary's "results in" line (`Path.resolve` refuses it).
@example(data=b'{"submit_id": "000000000000", "results_file": "\\u0000/"}\n')
def test_a_poll_cycle_survives_any_job_file(
    folders: Iterator[Path], sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch, data: bytes
) -> None:
    """The simulator knows none of these jobs: one cycle sees one 404 each, which is
    not enough to change a record, so the file must come out byte for byte."""
    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", sim.base_url)
    path = next(folders) / "job-info.jsonl"
    path.write_bytes(data)
    code, _out, err = run(["--job-info", str(path), "poll", "--once", "--plain"])
    check(code, err, path)
    assert path.read_bytes() == data
    assert not sim.store.deletions


def old_reading(data: bytes) -> object:
    """How a job-file line was read before msgspec: the standard library alone."""
    return json.loads(data.strip().decode("utf-8-sig"))


@settings(max_examples=500, deadline=None)
@given(data=line, end=ending)
def test_a_line_reads_as_the_json_module_reads_it(data: bytes, end: bytes) -> None:
    """msgspec reads a job file's lines first; what it reads, and what it refuses to,
    must come out as `json` says (whole numbers past 64 bits, BOMs, lone surrogates,
    NaN, white space only), except that a line nested over 500 deep is too deep."""
    data += end
    try:
        expected: object = old_reading(data)
    except (ValueError, RecursionError) as problem:
        expected = type(problem)
    if data.count(b"[") > 500:  # (only `[[[...` lines nest this deep here)
        # Too deep whoever reads it, however deep the reader's own stack already is:
        # `json` alone would answer by how much recursion the caller left it.
        expected = RecursionError
    try:
        got: object = loads_line(data)
    except (ValueError, RecursionError) as problem:
        got = type(problem)
    if isinstance(expected, type) and issubclass(expected, ValueError):
        assert isinstance(got, type) and issubclass(got, ValueError), got
    else:
        assert got == expected


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(parts=st.lists(job_files, min_size=2, max_size=12))
def test_status_in_two_halves_says_what_one_pass_says(
    folders: Iterator[Path], parts: list[bytes]
) -> None:
    """A big job file is counted by two processes, one per half: the counts, the cost,
    the queue, and the line numbers of lines that do not parse (in either half) must be
    those of a single pass."""
    path = next(folders) / "job-info.jsonl"
    path.write_bytes(b"".join(part if part.endswith(b"\n") else part + b"\n" for part in parts))
    assert counted(path, split_from=0) == counted(path, split_from=10**12)


def counted(path: Path, split_from: int) -> status_count.Counted | str:
    """What `status` counts in `path` (in two halves from `split_from` bytes), or why
    the file cannot be counted."""
    try:
        return status_count.count_jobs(JobFile(path), {}, keep=False, split_from=split_from)
    except JobFileError as problem:
        return str(problem)


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda path: os.mkfifo(path), "it is a FIFO"),
        (lambda path: path.mkdir(), "it is a folder"),
        (lambda path: path.write_text("id,prompt\n" + "1,hello\n" * 1000), "a CSV"),
        (lambda path: path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" * 100), "binary data"),
    ],
)
def test_what_is_not_a_job_file_is_one_line_from_every_command(
    tmp_path: Path, make: Callable[[Path], object], why: str
) -> None:
    """Decided from the first bytes (a FIFO is not even opened: it would hang), exit 4,
    one line, nothing written."""
    path = tmp_path / "job-info.jsonl"
    make(path)
    before = sorted(p.name for p in tmp_path.iterdir())
    for argv in (["status"], ["status", "--json"], ["poll", "--once"], ["retry"], ["cleanup"]):
        code, _, err = run(["--job-info", str(path), *argv])
        assert code == 4, (argv, err)
        assert err.count("\n") == 1 and "is not a job file" in err and why in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
