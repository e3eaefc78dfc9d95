"""From a folder and a prompt to a batch: requests made from files, lines and tables,
local media uploaded when their part is created and deleted after its results are
saved (gembatch.intake.sources, gembatch.intake.media), against the simulator."""

from __future__ import annotations

import json
import signal
import struct
import subprocess
import zlib
from pathlib import Path

from gembatch.jobfile.file import JobFile
from gembatch.results.export import NO_RESULT
from gembatch.simulator import JobPlan, SimulatorServer
from tests.conftest import GEMBATCH, cli_env, read_jsonl, run_cli, started_cli, wait_until

SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "pages": {"type": "integer"}},
}


def png(width: int, height: int) -> bytes:
    """A real (tiny, grey) PNG of that size."""
    rows = b"".join(b"\x00" + b"\x80" * (width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))


def pdf(pages: int, text: str) -> bytes:
    objects = b"".join(b"%d 0 obj << /Type /Page >> endobj\n" % n for n in range(pages))
    return b"%PDF-1.4\n% " + text.encode() + b"\n" + objects + b"%%EOF\n"


def make_folder(folder: Path, each: int = 20) -> list[str]:
    """`each` text files, PNGs and PDFs, all different; their keys, in path order."""
    folder.mkdir(parents=True)
    for n in range(each):
        (folder / f"note-{n:02d}.txt").write_text(f"note {n}: the meeting moved to room {n}")
        (folder / f"scan-{n:02d}.png").write_bytes(png(40 + n, 30))
        (folder / f"invoice-{n:02d}.pdf").write_bytes(pdf(1 + n % 3, f"invoice {n}"))
    return sorted(f"{folder.name}/{p.name}" for p in folder.iterdir())


def media_on_server(sim: SimulatorServer) -> list[str]:
    with sim.store.lock:
        return [
            f.display_name for f in sim.store.files.values() if f.display_name.startswith("[gbm:")
        ]


def test_a_folder_and_a_prompt_run_end_to_end_with_nothing_left_on_the_server(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    keys = make_folder(tmp_path / "docs")
    (tmp_path / "invoice.schema.json").write_text(json.dumps(SCHEMA))
    submit = run_cli(
        "submit", "--prompt", "Give the title", "docs", "--schema", "invoice.schema.json",
        "--name", "docs", cwd=tmp_path, sim=sim,
    )  # fmt: skip
    assert submit.returncode == 0, submit.stderr
    assert "60 requests, 40 media files" in submit.stdout
    assert "uploaded 4 of 40 media files" in submit.stdout  # a line a tenth
    assert "uploaded 40 of 40 media files" in submit.stdout
    poll = run_cli("poll", "--plain", "--interval", "0.05", cwd=tmp_path, sim=sim)
    assert poll.returncode == 0, poll.stdout + poll.stderr
    rows = read_jsonl(tmp_path / "batch/results/docs.jsonl")
    assert [row["key"] for row in rows] == keys  # each answer joined to its file, in order
    for row in rows:
        answer = json.loads(row["response"]["candidates"][0]["content"]["parts"][0]["text"])
        assert set(answer) == {"title", "pages"}
    assert media_on_server(sim) == []  # every upload deleted once its results were saved
    record = JobFile.load(tmp_path / "job-info.jsonl").records[0]
    assert len(record.data["media"]) == 40
    assert all(entry["deleted"] for entry in record.data["media"])


def test_prepare_writes_what_submit_sends(sim: SimulatorServer, tmp_path: Path) -> None:
    make_folder(tmp_path / "docs", each=3)
    prepared = run_cli(
        "prepare", "--prompt", "Summarise", "docs", "--system", "Be brief", "-o",
        "batch/docs.jsonl", cwd=tmp_path, sim=sim,
    )  # fmt: skip
    assert prepared.returncode == 0, prepared.stderr
    written = (tmp_path / "batch/docs.jsonl").read_bytes()
    submit = run_cli(
        "submit", "--prompt", "Summarise", "docs", "--system", "Be brief", "--name", "docs",
        cwd=tmp_path, sim=sim,
    )  # fmt: skip
    assert submit.returncode == 0, submit.stderr
    assert (tmp_path / "batch/docs.jsonl").read_bytes() == written
    # What the server received: the same requests, each local file named by its upload.
    (batch,) = sim.store.batches.values()
    sent = [(r["key"], r["request"]) for r in batch.requests]
    local = [(r["key"], r["request"]) for r in map(json.loads, written.splitlines())]
    assert [key for key, _ in sent] == [key for key, _ in local]
    media = [f for f in sim.store.files.values() if f.display_name.startswith("[gbm:")]
    uploads = {f.display_name.split("] ", 1)[1]: f for f in media}
    for (_, request), (key, original) in zip(sent, local, strict=True):
        part, was = request["contents"][0]["parts"][1], original["contents"][0]["parts"][1]
        if "text" in was:
            assert part == was
        else:
            named = uploads[Path(key).name]
            assert part["fileData"]["fileUri"].endswith(named.name)
            assert was["fileData"]["fileUri"] == f"../{key}"
        assert request["systemInstruction"] == original["systemInstruction"]


def test_two_runs_over_the_same_files_upload_each_file_once(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    sim.scenario.default_plan = JobPlan(pending_s=3600.0, running_s=0.0)  # both stay pending
    make_folder(tmp_path / "docs", each=5)
    for prompt, name in (("Summarise", "first"), ("Translate", "second")):
        result = run_cli(
            "submit", "--prompt", prompt, "docs", "--name", name, cwd=tmp_path, sim=sim
        )
        assert result.returncode == 0, result.stderr
    assert len(media_on_server(sim)) == 10  # 5 PNGs and 5 PDFs, uploaded once for both runs
    assert len(sim.store.batches) == 2
    status = run_cli("status", cwd=tmp_path, sim=sim)
    assert "media: 10 uploaded files" in status.stdout
    for batch in sim.store.batches.values():
        sim.store.force_state(batch.name, "SUCCEEDED")
    poll = run_cli("poll", "--plain", "--interval", "0.05", cwd=tmp_path, sim=sim)
    assert poll.returncode == 0, poll.stdout + poll.stderr
    assert media_on_server(sim) == []


def test_a_file_gone_before_its_upload_leaves_out_its_request_only(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    make_folder(tmp_path / "docs", each=2)
    prepared = run_cli("prepare", "--prompt", "Read", "docs", "-o", "batch/docs.jsonl",
                       cwd=tmp_path, sim=sim)  # fmt: skip
    assert prepared.returncode == 0, prepared.stderr
    (tmp_path / "docs/scan-01.png").unlink()
    submit = run_cli("submit", "batch/docs.jsonl", cwd=tmp_path, sim=sim)
    assert "docs/scan-01.png" in submit.stdout + submit.stderr
    assert "cannot be read" in submit.stdout + submit.stderr
    poll = run_cli("poll", "--plain", "--interval", "0.05", cwd=tmp_path, sim=sim)
    rows = read_jsonl(tmp_path / "batch/results/docs.jsonl")
    assert "docs/scan-01.png" not in {row["key"] for row in rows}
    assert len(rows) == 5
    assert poll.returncode == 0, poll.stdout  # the job succeeded; the row was never sent
    assert media_on_server(sim) == []
    export = run_cli("export", "batch/docs.jsonl", "--format", "jsonl", cwd=tmp_path, sim=sim)
    exported = {row["key"]: row for row in map(json.loads, export.stdout.splitlines())}
    assert list(exported) == sorted(exported)  # every request, in input order
    assert exported["docs/scan-01.png"]["error"] == NO_RESULT


def test_media_deleted_while_its_job_runs_fails_its_row_as_the_service_does(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """The service reads media when it runs a request: a file gone by then fails the
    row with its answer for a missing file (403 PERMISSION_DENIED, "... or it may not
    exist", shared/gemini-batch-api.md §0.1; the batch row's exact shape is not
    documented: the Status shape of §5)."""
    sim.scenario.default_plan = JobPlan(pending_s=3600.0, running_s=0.0)
    make_folder(tmp_path / "docs", each=1)
    assert run_cli("submit", "--prompt", "Read", "docs", cwd=tmp_path, sim=sim).returncode == 0
    (upload,) = [f for f in sim.store.files.values() if f.display_name.endswith("scan-00.png")]
    sim.store.delete_file(upload.file_id)
    (batch,) = sim.store.batches.values()
    sim.store.force_state(batch.name, "SUCCEEDED")
    poll = run_cli("poll", "--plain", "--interval", "0.05", cwd=tmp_path, sim=sim)
    assert "1 failed row" in poll.stdout, poll.stdout
    rows = read_jsonl(next((tmp_path / "batch/results").glob("*.jsonl")))
    (failed,) = [row for row in rows if "error" in row]
    assert failed["key"] == "docs/scan-00.png"
    assert failed["error"]["status"] == "PERMISSION_DENIED"
    assert "may not exist" in failed["error"]["message"]


def test_kill_9_during_media_uploads_then_again_uploads_each_file_once(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """Killed at whatever moment the fifth upload call has been answered (a start or a
    finished file): any instant must do, a finished upload the record never learned of
    included (found again by the marker in its display name)."""
    make_folder(tmp_path / "docs", each=4)
    submit = started_cli(sim, tmp_path, "submit", "--prompt", "Read", "docs", "--name", "docs")
    sim.sim.wait_for(r"POST /upload", count=5)
    submit.send_signal(signal.SIGKILL)
    submit.wait()
    assert not sim.store.created  # killed before its create
    again = run_cli("submit", "--prompt", "Read", "docs", "--name", "docs", cwd=tmp_path, sim=sim)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(media_on_server(sim)) == 8  # each PNG and PDF on the server once
    poll = run_cli("poll", "--plain", "--interval", "0.05", cwd=tmp_path, sim=sim)
    assert poll.returncode == 0, poll.stdout + poll.stderr
    assert len(read_jsonl(tmp_path / "batch/results/docs.jsonl")) == 12
    assert media_on_server(sim) == []


def test_a_csv_of_ten_thousand_rows_with_a_template_runs_end_to_end(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    rows = ["id,city,country"] + [f"c{n},City {n},Land {n % 7}" for n in range(10_000)]
    (tmp_path / "cities.csv").write_text("\n".join(rows) + "\n")
    submit = run_cli(
        "submit", "--csv", "cities.csv", "--template", "Where is {city} in {country}?",
        "--key-column", "id", "--name", "cities", cwd=tmp_path, sim=sim,
    )  # fmt: skip
    assert submit.returncode == 0, submit.stderr
    poll = run_cli("poll", "--plain", "--interval", "0.05", cwd=tmp_path, sim=sim)
    assert poll.returncode == 0, poll.stdout + poll.stderr
    results = read_jsonl(tmp_path / "batch/results/cities.jsonl")
    assert [row["key"] for row in results] == [f"c{n}" for n in range(10_000)]
    answer = results[1234]["response"]["candidates"][0]["content"]["parts"][0]["text"]
    assert "Where is City 1234 in Land 2?" in answer


def test_lines_and_a_missing_column_say_what_to_do(sim: SimulatorServer, tmp_path: Path) -> None:
    (tmp_path / "questions.txt").write_text("Why is the sky blue?\n\nWhat is rain?\n")
    prepared = run_cli("prepare", "--lines", "questions.txt", cwd=tmp_path, sim=sim)
    assert [json.loads(line)["key"] for line in prepared.stdout.splitlines()] == ["1", "3"]
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    bad = run_cli("prepare", "--csv", "t.csv", "--template", "{c}", cwd=tmp_path, sim=sim)
    assert bad.returncode == 4
    assert bad.stderr.strip().splitlines()[-1].startswith("gembatch: t.csv: no column 'c'")
    # An option that would be passed over, or two sources at once: a usage error.
    unused = run_cli(
        "prepare", "--lines", "questions.txt", "--template", "{a}", cwd=tmp_path, sim=sim
    )
    assert (unused.returncode, unused.stderr.strip()) == (
        64,
        "gembatch: --template goes with --csv FILE",
    )
    both = run_cli("prepare", "--lines", "questions.txt", "--csv", "t.csv", cwd=tmp_path, sim=sim)
    assert both.returncode == 64 and "one source of requests at a time" in both.stderr


def test_the_dry_run_counts_media_by_the_documented_rules(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.pdf").write_bytes(pdf(3, "a"))  # 3 pages: 3 x 258 tokens
    (folder / "b.png").write_bytes(png(1000, 500))  # 2 x 1 tiles of 768 px: 2 x 258
    dry = run_cli("submit", "--prompt", "x" * 40, "docs", "--dry-run", cwd=tmp_path, sim=sim)
    assert dry.returncode == 0, dry.stderr
    assert "2 media files" in dry.stdout
    # 10 tokens of prompt text per request, plus the media.
    assert "input ≈ 1,310 tokens" in dry.stdout
    assert not sim.store.files  # a dry run uploads nothing


def test_kill_9_while_the_poller_cleans_up_leaves_no_media_behind(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    make_folder(tmp_path / "docs", each=4)
    assert run_cli("submit", "--prompt", "Read", "docs", cwd=tmp_path, sim=sim).returncode == 0
    poller = started_cli(sim, tmp_path, "poll", "--plain", "--interval", "0.05")
    sim.sim.wait_for(r"DELETE /v1beta/files", count=2)  # the job deleted, its media going
    poller.send_signal(signal.SIGKILL)
    poller.wait()
    again = run_cli("poll", "--plain", "--interval", "0.05", cwd=tmp_path, sim=sim)
    assert again.returncode == 0, again.stdout + again.stderr
    assert media_on_server(sim) == []
    assert "media:" not in run_cli("status", cwd=tmp_path, sim=sim).stdout


def test_the_library_runs_a_list_of_files_and_a_prompt_into_a_response_model(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """The invoice example: files plus a prompt plus a pydantic model (inline, as a run
    this small is sent: the media named in the create call itself)."""
    from pydantic import BaseModel

    import gembatch
    from tests.conftest import API_KEY

    class Invoice(BaseModel):
        number: str
        total: float

    keys = make_folder(tmp_path / "invoices", each=2)
    run = gembatch.Run(
        tmp_path / "job-info.jsonl", api_key=API_KEY, base_url=sim.base_url, interval=0.05,
        progress=False,
    )  # fmt: skip
    answers = run.map_files([tmp_path / "invoices"], "Extract the invoice", response_model=Invoice)
    assert [a.key for a in answers] == keys
    assert all(isinstance(a.parsed, Invoice) for a in answers)
    (record,) = JobFile.load(tmp_path / "job-info.jsonl").records
    assert record.data.get("inline")
    assert media_on_server(sim) == []


def test_a_queued_part_uploads_its_media_when_created_not_when_queued(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """Uploads live 48 h (`Scenario.file_ttl_s`, here 1 h): a part waiting in the local
    queue has uploaded nothing, and when it is created it does not name an upload with
    less than 25 h to live (its job may take 24): the first run's uploads, still in use,
    are not reused, the files are uploaded again. (With 48 h they are reused: the test
    of two runs above.)"""
    sim.scenario.file_ttl_s = 3600.0
    sim.scenario.default_plan = JobPlan(pending_s=3600.0, running_s=0.0)
    make_folder(tmp_path / "docs", each=2)
    first = run_cli("submit", "--prompt", "A", "docs", "--max-running", "1", cwd=tmp_path, sim=sim)
    second = run_cli("submit", "--prompt", "B", "docs", cwd=tmp_path, sim=sim)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert "1 part queued" in second.stdout
    assert len(media_on_server(sim)) == 4  # the queued part has uploaded nothing yet
    more = run_cli("submit", "--max-running", "2", cwd=tmp_path, sim=sim)  # creates it now
    assert more.returncode == 0, more.stdout + more.stderr
    assert len(sim.store.batches) == 2
    first_record, second_record = JobFile.load(tmp_path / "job-info.jsonl").records
    first_names = {e["name"] for e in first_record.data["media"]}
    second_names = {e["name"] for e in second_record.data["media"]}
    assert len(second_names) == 4 and not first_names & second_names
    assert len(media_on_server(sim)) == 8


def test_media_that_would_pass_the_files_storage_wait_in_the_queue(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """The Files API holds 20 GB a project (docs/real-service.md, Files limits); here
    `files_storage_gb` allows 5 KB, so three parts of one 3 KB image each go one after
    another: each created once the one before has finished and its media are deleted."""
    import os

    Path(os.environ["GEMBATCH_CONFIG"]).write_text("files_storage_gb = 0.000005\n")
    folder = tmp_path / "scans"
    folder.mkdir()
    for n in range(3):
        (folder / f"scan-{n}.png").write_bytes(png(10, 10)[:33] + os.urandom(3000))
    submit = run_cli(
        "submit", "--prompt", "Read", "scans", "--max-requests", "1", cwd=tmp_path, sim=sim
    )
    assert submit.returncode == 0, submit.stdout + submit.stderr
    assert "its 3 parts are queued" in submit.stdout
    assert len(media_on_server(sim)) == 1  # the first part created at once, as storage allows
    poll = run_cli("poll", "--plain", "--interval", "0.05", cwd=tmp_path, sim=sim)
    assert poll.returncode == 0, poll.stdout + poll.stderr
    assert "of Files storage allowed (files_storage_gb); it waits" in poll.stdout
    # Said when the queue's hold changes (two parts waiting, then one), not each cycle.
    assert poll.stdout.count("it waits until theirs are deleted") <= 2
    (merged,) = [p for p in (tmp_path / "batch/results").glob("*.jsonl") if ".part-" not in p.name]
    rows = read_jsonl(merged)
    assert sorted(row["key"] for row in rows) == [f"scans/scan-{n}.png" for n in range(3)]
    assert sim.store.peak_stored_bytes < 2 * 3000  # never two images on the server at once
    assert media_on_server(sim) == []


def test_cleanup_shows_and_deletes_the_media_a_kept_job_left(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    make_folder(tmp_path / "docs", each=2)
    assert run_cli("submit", "--prompt", "Read", "docs", cwd=tmp_path, sim=sim).returncode == 0
    poll = run_cli("poll", "--plain", "--keep-remote", "--interval", "0.05", cwd=tmp_path, sim=sim)
    assert poll.returncode == 0, poll.stdout + poll.stderr
    assert len(media_on_server(sim)) == 4  # kept, as asked
    status = run_cli("status", cwd=tmp_path, sim=sim)
    sizes = sum(p.stat().st_size for p in (tmp_path / "docs").iterdir() if p.suffix != ".txt")
    assert f"media: 4 uploaded files ({sizes} B) on the server" in status.stdout
    cleanup = run_cli("cleanup", "-y", cwd=tmp_path, sim=sim)
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert f"and 4 media files ({sizes} B)" in cleanup.stdout
    assert media_on_server(sim) == []
    assert "media:" not in run_cli("status", cwd=tmp_path, sim=sim).stdout


def test_an_upload_deleted_behind_the_job_files_back_is_uploaded_again_not_named(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """An upload the job file calls alive is checked on the server before a part names
    it (a poller that had not yet seen the part may have deleted it): gone, it is
    uploaded again."""
    sim.scenario.default_plan = JobPlan(pending_s=3600.0, running_s=0.0)
    make_folder(tmp_path / "docs", each=2)
    assert run_cli("submit", "--prompt", "A", "docs", cwd=tmp_path, sim=sim).returncode == 0
    (scan,) = [f for f in sim.store.files.values() if f.display_name.endswith("scan-00.png")]
    sim.store.delete_file(scan.file_id)
    second = run_cli("submit", "--prompt", "B", "docs", cwd=tmp_path, sim=sim)
    assert second.returncode == 0, second.stdout + second.stderr
    assert len(media_on_server(sim)) == 4  # three named again, the deleted one anew
    _, record = JobFile.load(tmp_path / "job-info.jsonl").records
    (entry,) = [e for e in record.data["media"] if e["file"] == "docs/scan-00.png"]
    assert entry["name"] != scan.name and entry["name"] in {
        f.name for f in sim.store.files.values()
    }


def test_uploads_are_recorded_when_another_process_rewrites_the_job_file_meanwhile(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """A poller (or the monitor) rewrites the job file while a submit uploads media:
    the submit's save merges with the disk, and every upload's name still lands."""
    sim.scenario.default_plan = JobPlan(pending_s=3600.0, running_s=0.0)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes/a.txt").write_text("first input")
    assert run_cli("submit", "--prompt", "A", "notes", cwd=tmp_path, sim=sim).returncode == 0
    make_folder(tmp_path / "docs", each=2)
    release = sim.sim.hold(r"POST /upload", times=1)  # the first media upload waits
    submit = subprocess.Popen(
        [*GEMBATCH, "submit", "--prompt", "B", "docs"],
        cwd=tmp_path, env=cli_env(sim), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    wait_until(lambda: sim.sim.held or submit.poll() is not None, "the upload to be held")
    assert submit.poll() is None, submit.communicate()
    other = JobFile.load(tmp_path / "job-info.jsonl")
    other.records[0].raw["seen_by_another_process"] = True  # a rewrite, not an append
    other.save()
    release.set()
    out, err = submit.communicate(timeout=120)
    assert submit.returncode == 0, out + err
    first, second = JobFile.load(tmp_path / "job-info.jsonl").records
    assert first.data["seen_by_another_process"]
    assert len(second.data["media"]) == 4
    assert all(entry.get("name") for entry in second.data["media"])
