"""A loaded job file's unchanged records read their lines back from the file they came
from (a long history is not held in memory twice). Every gembatch writer replaces the
file by rename, which leaves that file as it was; these are the cases where another
program writes into it in place, and what a run must still never lose or mix up."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gembatch.errors import BadInput
from gembatch.jobfile.file import JobFile, JobRecord

EXAMPLE = Path(__file__).resolve().parent.parent / "job-info.jsonl.example"


def _names(path: Path) -> list[str | None]:
    return [JobRecord(json.loads(line)).batch_name for line in path.read_bytes().splitlines()]


def _rewrite_in_place(path: Path, data: bytes) -> None:
    with path.open("r+b") as handle:  # (same inode: no rename, as an editor may do)
        handle.truncate()
        handle.write(data)


def _shifted(path: Path) -> bytes:
    """The file with a new first line (every other line moves) and the third record's
    state changed by hand."""
    lines = path.read_bytes().splitlines(keepends=True)
    third = json.loads(lines[2])
    third["batch"] = {**third.get("batch", {}), "name": "batches/xyz003", "state": "X_BY_HAND"}
    new = json.dumps({"input_file": "b/0.jsonl", "batch": {"name": "batches/first"}})
    return b"".join([new.encode() + b"\n", lines[0], lines[1], json.dumps(third).encode() + b"\n"])


def test_lines_read_back_after_another_process_replaced_the_file(tmp_path: Path) -> None:
    path = tmp_path / "job-info.jsonl"
    shutil.copy(EXAMPLE, path)
    ours = JobFile.load(path)
    theirs = JobFile.load(path)
    theirs.records[2].raw["note"] = "theirs"
    theirs.append(JobRecord(raw={"input_file": "b/4.jsonl", "job_name": "batches/four"}))
    # Ours still reads the lines it loaded (the file it read is still open)...
    assert [r.batch_name for r in ours.records] == [
        "batches/xyz001",
        "batches/xyz002",
        "batches/xyz003",
    ]
    ours.records[0].raw["results_file"] = "batch/results/001.jsonl"
    ours.save()
    merged = JobFile.load(path)
    # ...and its save keeps what the other process wrote.
    assert [r.batch_name for r in merged.records][-1] == "batches/four"
    assert merged.records[2].data["note"] == "theirs"
    assert merged.records[0].results_file == "batch/results/001.jsonl"


def test_a_rewrite_in_place_under_a_loaded_file_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "job-info.jsonl"
    shutil.copy(EXAMPLE, path)
    job_file = JobFile.load(path)
    job_file.records[0].raw["results_file"] = "batch/results/001.jsonl"
    _rewrite_in_place(path, _shifted(path))  # every line we did not change has moved
    job_file.save()
    assert _names(path) == ["batches/first", "batches/xyz001", "batches/xyz002", "batches/xyz003"]
    again = JobFile.load(path)
    assert again.records[1].results_file == "batch/results/001.jsonl"  # ours
    assert again.records[3].state == "X_BY_HAND"  # theirs


def test_a_record_changed_after_an_in_place_rewrite_is_refused_not_mixed_up(
    tmp_path: Path,
) -> None:
    path = tmp_path / "job-info.jsonl"
    shutil.copy(EXAMPLE, path)
    job_file = JobFile.load(path)
    second = job_file.records[1]
    shifted = _shifted(path)
    _rewrite_in_place(path, shifted)
    # Where the second record's line was, another record's bytes are now: changing it
    # would lay this change over the wrong job.
    with pytest.raises(BadInput, match=r"job-info.jsonl was rewritten in place"):
        second.raw["results_file"] = "batch/results/002.jsonl"
    assert path.read_bytes() == shifted
    # Read again, the records are the disk's, and a change lands on the right job.
    job_file.refresh()
    assert job_file.records[0].batch_name == "batches/first"
    job_file.records[2].raw["results_file"] = "batch/results/002.jsonl"
    job_file.save()
    assert JobFile.load(path).records[2].results_file == "batch/results/002.jsonl"
    assert JobFile.load(path).records[2].batch_name == "batches/xyz002"


def test_an_append_in_place_while_the_file_is_rewritten_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "job-info.jsonl"
    shutil.copy(EXAMPLE, path)
    job_file = JobFile.load(path)
    job_file.records[0].raw["results_file"] = "batch/results/001.jsonl"
    appended: list[bool] = []

    def another_program_appends() -> None:  # (between our write and our rename)
        if not appended:
            with path.open("ab") as handle:
                handle.write(b'{"input_file": "b/9.jsonl", "job_name": "batches/nine"}\n')
            appended.append(True)

    job_file.save(before_replace=another_program_appends)
    assert _names(path) == ["batches/xyz001", "batches/xyz002", "batches/xyz003", "batches/nine"]
    assert JobFile.load(path).records[0].results_file == "batch/results/001.jsonl"


def test_a_change_to_one_of_two_copies_of_a_job_is_refused_after_an_in_place_rewrite(
    tmp_path: Path,
) -> None:
    """Two lines for one job (copied by hand): after another program rewrote the file
    in place, which copy a change was made to can no longer be told; the save refuses
    with one line rather than put it on the other copy."""
    path = tmp_path / "job-info.jsonl"
    copies = [json.dumps({"batch": {"name": "batches/dup"}, "n": n}) + "\n" for n in (1, 2)]
    path.write_text("".join(copies))
    job_file = JobFile.load(path)
    job_file.records[1].raw["mine"] = True  # the second copy
    theirs = json.dumps({"batch": {"name": "batches/new"}}) + "\n" + "".join(copies)
    _rewrite_in_place(path, theirs.encode())
    with pytest.raises(BadInput, match=r"job-info.jsonl was rewritten in place"):
        job_file.save()
    assert path.read_text() == theirs
