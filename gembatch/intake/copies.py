"""The copies a part is sent from, in the job file's hidden folder: a keyed copy (for
an input whose lines get keys made for them) and a resolved copy (its local media
named by their uploads' URIs). Each is made when the part is sent and removed once
the part is uploaded or created; `sweep` removes what a killed run left."""

from __future__ import annotations

import contextlib
import glob
from collections.abc import Iterator
from pathlib import Path

from gembatch.inputs import KEYS_ADDED, write_keyed
from gembatch.jobfile.disk import hidden_folder
from gembatch.jobfile.file import JobFile, JobRecord

KINDS = ("upload", "media")  # keyed, resolved


def copy_path(job_file: JobFile, kind: str, submit_id: str) -> Path:
    real = job_file.real_path
    return hidden_folder(real) / f"{real.name}.{kind}-{submit_id}.jsonl"


@contextlib.contextmanager
def as_uploaded(job_file: JobFile, record: JobRecord, path: Path) -> Iterator[Path]:
    """The file to upload for a part: itself (or its resolved copy), or for an input
    whose lines get keys made for them, a keyed copy, gone afterwards."""
    if not record.data.get(KEYS_ADDED) or path.parent == hidden_folder(job_file.real_path):
        yield path  # (a resolved copy has its keys already)
        return
    copy = copy_path(job_file, "upload", str(record.submit_id))
    copy.parent.mkdir(exist_ok=True)
    try:
        write_keyed(path, copy)
        yield copy
    finally:
        copy.unlink(missing_ok=True)


def sweep(job_file: JobFile) -> None:
    """Copies a killed run left (up to 2 GB each): those of parts that are uploaded,
    created or gone. One whose part still waits may be another process's, in the
    middle of sending it: it stays."""
    waiting = {
        str(r.submit_id)
        for r in job_file.records
        if r.submit_id and not r.data.get("uploaded_file_name") and not r.batch_name
    }
    folder = hidden_folder(job_file.real_path)
    if not folder.is_dir():
        return
    for kind in KINDS:
        stem = f"{job_file.real_path.name}.{kind}-"
        for copy in folder.glob(f"{glob.escape(stem)}*.jsonl"):
            if copy.name[len(stem) : -len(".jsonl")] not in waiting:
                copy.unlink(missing_ok=True)
