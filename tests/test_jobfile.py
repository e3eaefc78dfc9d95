"""The job file: compatibility, preservation of what we do not understand, atomicity."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gembatch import states
from gembatch.jobfile.file import JobFile, JobFileError, JobRecord, PollerBusyError
from tests.conftest import unprivileged

EXAMPLE = Path(__file__).resolve().parent.parent / "job-info.jsonl.example"


def test_example_loads_both_record_forms() -> None:
    job_file = JobFile.load(EXAMPLE)
    names = [record.batch_name for record in job_file.records]
    assert names == ["batches/xyz001", "batches/xyz002", "batches/xyz003"]
    assert job_file.records[0].request_count == 120
    assert job_file.records[0].is_terminal
    assert not job_file.records[1].is_terminal
    assert job_file.records[2].state is None  # old form: state unknown until checked
    assert not job_file.records[2].is_terminal


def test_rewrite_without_changes_is_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "job-info.jsonl"
    shutil.copy(EXAMPLE, path)
    job_file = JobFile.load(path)
    job_file.records[0].raw["touched"] = True
    job_file.records[0].raw.pop("touched")
    job_file.save()
    assert path.read_bytes() == EXAMPLE.read_bytes()


def test_rewrite_changes_only_the_changed_record(tmp_path: Path) -> None:
    path = tmp_path / "job-info.jsonl"
    shutil.copy(EXAMPLE, path)
    job_file = JobFile.load(path)
    job_file.records[1].ensure_batch()["state"] = "JOB_STATE_SUCCEEDED"
    job_file.save()
    before = EXAMPLE.read_bytes().splitlines()
    after = path.read_bytes().splitlines()
    assert after[0] == before[0] and after[2] == before[2]
    changed = json.loads(after[1])
    assert changed["batch"]["state"] == "JOB_STATE_SUCCEEDED"
    assert changed["note"] == "fields gembatch does not know are kept"


def test_old_form_record_gains_batch_object_beside_job_name(tmp_path: Path) -> None:
    path = tmp_path / "job-info.jsonl"
    shutil.copy(EXAMPLE, path)
    job_file = JobFile.load(path)
    job_file.records[2].ensure_batch()["state"] = "JOB_STATE_RUNNING"
    job_file.save()
    record = json.loads(path.read_bytes().splitlines()[2])
    assert record["job_name"] == "batches/xyz003"
    assert record["batch"] == {"name": "batches/xyz003", "state": "JOB_STATE_RUNNING"}


def test_bad_lines_are_kept_in_place_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "job-info.jsonl"
    good = EXAMPLE.read_bytes().splitlines(keepends=True)
    broken = b'{"input_file": "batch/9.jsonl", "batch": {"name": "batc\n'
    not_object = b"[1, 2, 3]\n"
    path.write_bytes(good[0] + broken + good[1] + not_object + b"\xff\xfe garbage\n" + good[2])
    job_file = JobFile.load(path)
    assert len(job_file.records) == 3
    messages = job_file.bad_line_messages()
    assert [m.split(":")[1] for m in messages] == ["2", "4", "5"]
    assert all(str(path) in m for m in messages)
    job_file.records[0].ensure_batch()["state"] = "JOB_STATE_FAILED"
    job_file.save()
    lines = path.read_bytes().splitlines(keepends=True)
    assert lines[1] == broken and lines[3] == not_object and lines[4] == b"\xff\xfe garbage\n"
    assert json.loads(lines[0])["batch"]["state"] == "JOB_STATE_FAILED"


def test_save_merges_a_record_another_process_appended(tmp_path: Path) -> None:
    path = tmp_path / "job-info.jsonl"
    shutil.copy(EXAMPLE, path)
    ours = JobFile.load(path)
    theirs = JobFile.load(path)
    theirs.append(JobRecord(raw={"input_file": "batch/004.jsonl", "job_name": "batches/new"}))
    ours.records[0].raw["results_file"] = "batch/results/001.jsonl"
    ours.save()
    merged = JobFile.load(path)
    assert [r.batch_name for r in merged.records][-1] == "batches/new"
    assert merged.records[0].results_file == "batch/results/001.jsonl"


def test_save_keeps_a_field_another_process_set_on_the_same_record(tmp_path: Path) -> None:
    path = tmp_path / "job-info.jsonl"
    shutil.copy(EXAMPLE, path)
    ours = JobFile.load(path)
    theirs = JobFile.load(path)
    theirs.records[1].raw["cancel_requested_at"] = "2026-01-01T00:00:00+00:00"
    theirs.save()
    ours.records[1].ensure_batch()["state"] = "JOB_STATE_CANCELLED"
    ours.save()
    record = JobFile.load(path).records[1]
    assert record.raw["cancel_requested_at"] == "2026-01-01T00:00:00+00:00"
    assert record.state == "JOB_STATE_CANCELLED"


def test_refresh_picks_up_new_records(tmp_path: Path) -> None:
    path = tmp_path / "job-info.jsonl"
    shutil.copy(EXAMPLE, path)
    poller = JobFile.load(path)
    JobFile.load(path).append(JobRecord(raw={"input_file": "b/5.jsonl", "job_name": "batches/5"}))
    new = poller.refresh()
    assert [r.batch_name for r in new] == ["batches/5"]
    assert poller.refresh() == []  # nothing changed on disk since


def test_folder_instead_of_file_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(JobFileError, match="is a folder"):
        JobFile.load(tmp_path)


def test_unwritable_folder_gives_a_clear_error(tmp_path: Path) -> None:
    """Runs as an ordinary user would, even under root (as in CI): see `unprivileged`."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    script = textwrap.dedent(f"""
        from gembatch.jobfile.file import JobFile, JobFileError, JobRecord
        job_file = JobFile.load({str(folder / "job-info.jsonl")!r})
        job_file.entries.append(JobRecord(raw={{"input_file": "x"}}))
        try:
            job_file.save()
        except JobFileError as problem:
            print(problem)
    """)
    try:
        done = subprocess.run(
            [*unprivileged(), sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        folder.chmod(0o700)
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.strip()
        == f"cannot write in {folder}: permission denied; the job file was not changed"
    )
    assert not (folder / "job-info.jsonl").exists()


def test_second_poller_is_told_who_holds_the_file(tmp_path: Path) -> None:
    path = tmp_path / "job-info.jsonl"
    shutil.copy(EXAMPLE, path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys
            from gembatch.jobfile.file import JobFile
            with JobFile.load({str(path)!r}).poller_lock():
                print("locked", flush=True)
                sys.stdin.read()
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with (
            pytest.raises(PollerBusyError, match=f"process {holder.pid}"),
            JobFile.load(path).poller_lock(),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()
    # A killed holder leaves no lock behind.
    with JobFile.load(path).poller_lock():
        pass


WRITER = textwrap.dedent("""
    import sys
    from gembatch.jobfile.file import JobFile
    path, rounds = sys.argv[1], int(sys.argv[2])
    job_file = JobFile.load(path)
    print("ready", flush=True)
    for n in range(rounds):
        for record in job_file.records:
            record.raw["counter"] = n
            record.raw["padding"] = "x" * (n % 7) * 500
        job_file.save()
""")


def test_killed_writer_always_leaves_old_or_new_file(tmp_path: Path) -> None:
    path = tmp_path / "job-info.jsonl"
    records = [
        json.dumps({"input_file": f"b/{n}.jsonl", "job_name": f"batches/{n}"}) for n in range(300)
    ]
    path.write_text("\n".join(records) + "\n")
    rng = random.Random(1234)
    kills = 0
    for _ in range(40):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), "100000"], stdout=subprocess.PIPE, text=True
        )
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        try:
            writer.wait(timeout=rng.uniform(0.0, 0.25))
        except subprocess.TimeoutExpired:
            writer.send_signal(signal.SIGKILL)
            kills += 1
        writer.wait()
        job_file = JobFile.load(path)
        assert job_file.bad_lines == [], "a kill left a torn line"
        assert len(job_file.records) == 300
        counters = {record.raw.get("counter") for record in job_file.records}
        assert len(counters) == 1, "a kill left a mix of old and new records"
    assert kills >= 30
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # Temp files from killed writers may remain; the job file never depends on them.
    assert all(name.startswith(".job-info.jsonl.") for name in leftovers)


@pytest.mark.parametrize(
    ("state", "terminal", "kind"),
    [
        ("JOB_STATE_SUCCEEDED", True, states.Kind.SUCCEEDED),
        ("BATCH_STATE_SUCCEEDED", True, states.Kind.SUCCEEDED),
        ("JOB_STATE_RUNNING", False, states.Kind.RUNNING),
        ("BATCH_STATE_PENDING", False, states.Kind.PENDING),
        ("BATCH_STATE_EXPIRED", True, states.Kind.EXPIRED),
        ("JOB_STATE_CANCELLED", True, states.Kind.CANCELLED),
        ("JOB_STATE_PARTIALLY_SUCCEEDED", True, states.Kind.SUCCEEDED),
        ("BATCH_STATE_SOMETHING_NEW", False, states.Kind.UNKNOWN),
        ("JOB_STATE_UNSPECIFIED", False, states.Kind.UNKNOWN),
        (None, False, states.Kind.UNKNOWN),
    ],
)
def test_states_both_spellings_and_unknowns(
    state: str | None, terminal: bool, kind: states.Kind
) -> None:
    assert states.is_terminal(state) is terminal
    assert states.info(state).kind is kind


def test_unknown_state_is_shown_as_written() -> None:
    assert states.info("BATCH_STATE_SOMETHING_NEW").label == "SOMETHING_NEW"
    assert states.sdk_spelling("BATCH_STATE_SOMETHING_NEW") == "BATCH_STATE_SOMETHING_NEW"
    assert states.sdk_spelling("BATCH_STATE_RUNNING") == "JOB_STATE_RUNNING"


def test_job_file_under_a_regular_file_gives_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(JobFileError, match=r"not-a-folder/job-info\.jsonl: Not a directory"):
        JobFile.load(blocker / "job-info.jsonl")


def test_record_keeps_its_identity_when_it_gains_a_batch_name(tmp_path: Path) -> None:
    job_file = JobFile.load(tmp_path / "job-info.jsonl")
    job_file.append(JobRecord(raw={"input_file": "a.jsonl", "submit_id": "abc123abc123"}))
    job_file.records[0].ensure_batch()["name"] = "batches/new"
    job_file.save()
    job_file.save()
    assert [r.batch_name for r in JobFile.load(job_file.path).records] == ["batches/new"]


def test_appended_records_are_taken_in_without_losing_ours(tmp_path: Path) -> None:
    path = tmp_path / "job-info.jsonl"
    shutil.copy(EXAMPLE, path)
    ours = JobFile.load(path)
    with path.open("ab") as handle:  # another tool appends a line and a broken line
        handle.write(b'{"input_file": "b/9.jsonl", "job_name": "batches/nine"}\n{oops\n')
    ours.records[0].raw["results_file"] = "batch/results/001.jsonl"
    ours.save()
    reread = JobFile.load(path)
    assert [r.batch_name for r in reread.records][-1] == "batches/nine"
    assert reread.records[0].results_file == "batch/results/001.jsonl"
    assert [bad.line_number for bad in reread.bad_lines] == [5]
    assert path.read_bytes().endswith(b"{oops\n")


def test_unfinished_last_line_is_not_mistaken_for_an_append(tmp_path: Path) -> None:
    path = tmp_path / "job-info.jsonl"
    path.write_bytes(EXAMPLE.read_bytes().rstrip(b"\n"))
    ours = JobFile.load(path)
    with path.open("ab") as handle:
        handle.write(b'\n{"input_file": "b/9.jsonl", "job_name": "batches/nine"}\n')
    assert [r.batch_name for r in ours.refresh()] == ["batches/nine"]
    assert len(ours.records) == 4 and ours.bad_lines == []


def test_loaded_records_stay_cold_until_changed(tmp_path: Path) -> None:
    """A record keeps only its line until something changes it: a job file of finished
    jobs costs about its size in memory, and an untouched line is written back as is."""
    path = tmp_path / "job-info.jsonl"
    lines = [
        b'{"input_file": "a.jsonl", "batch": {"name": "batches/a", "state": "JOB_STATE_RUNNING"}}'
        b"\n",
        b'{"batch":{"name":"batches/b","state":"JOB_STATE_SUCCEEDED"},"input_file":"b.jsonl"}\n',
    ]
    path.write_bytes(b"".join(lines))
    job_file = JobFile.load(path)
    first, second = job_file.records
    assert first.cold and second.cold
    assert first.batch_name == "batches/a" and first.state == "JOB_STATE_RUNNING"
    assert first.cold  # reading does not keep the parsed object
    first.ensure_batch()["state"] = "JOB_STATE_SUCCEEDED"
    assert not first.cold
    job_file.save()
    again = JobFile.load(path)
    assert again.records[0].state == "JOB_STATE_SUCCEEDED"
    assert path.read_bytes().splitlines(keepends=True)[1] == lines[1]  # byte for byte


def test_locks_live_in_one_hidden_folder_and_an_older_pollers_lock_is_honoured(
    tmp_path: Path,
) -> None:
    """Nothing beside the user's job file but the job file (issue 25); a lock left there
    by an older version is removed, one it still holds keeps this poller out."""
    path = tmp_path / "job-info.jsonl"
    path.write_text(json.dumps({"input_file": "a.jsonl", "batch": {"name": "batches/a"}}) + "\n")
    (tmp_path / "job-info.jsonl.lock").write_text("")  # left by an older gembatch
    job_file = JobFile.load(path)
    with job_file.poller_lock():
        job_file.records[0].raw["note"] = "saved under the write lock"
        job_file.save()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".gembatch", "job-info.jsonl"]

    legacy = tmp_path / "job-info.jsonl.poll.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(legacy)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(PollerBusyError), job_file.poller_lock():
            pass
    finally:
        holder.kill()
        holder.wait()
    with job_file.poller_lock():  # its holder gone, the old lock is a leftover
        pass
    assert not legacy.exists()


HOLD_LOCK = """
import sys, filelock
lock = filelock.FileLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
sys.stdin.read()
"""
