"""What the job file records of a part's media uploads (`media` on its record: each
file's path, sha256, bytes and MIME type, the marker put in its display name, and once
uploaded its name, URI and expiry; `deleted` once gone), and the rules read from it:
which uploads may be named again, which may be deleted, what `status` shows. Light:
`status` and the cleanup import it without the upload machinery (`intake.media`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gembatch import states
from gembatch.formatting import byte_size, parse_time
from gembatch.jobfile.file import JobRecord

MEDIA = "media"
# An upload is named again while it has this long to live: a job may take 24 h (the
# Batch API's target turnaround), and the service reads media when it runs the request.
REUSE_LEFT_S = 25 * 3600


def with_media(records: Iterable[JobRecord]) -> list[JobRecord]:
    """The records that name uploads. One not parsed yet (a long history's) is judged
    by its line, not parsed: a part is created in a file of a million records."""
    return [
        r
        for r in records
        if not (r.cold and r.original_line is not None and b'"media"' not in r.original_line)
        and r.data.get(MEDIA)
    ]


def _entries(records: Iterable[JobRecord]) -> list[dict[str, Any]]:
    return [e for r in with_media(records) for e in r.data[MEDIA] if isinstance(e, dict)]


def alive(records: Iterable[JobRecord], now: float) -> dict[str, dict[str, Any]]:
    """Uploads that may be named again, by sha256: named by a job that has not ended
    (so no cleanup deletes them meanwhile: `deletable` keeps what such a job names),
    not deleted, and with `REUSE_LEFT_S` left to live."""
    holders = with_media(records)
    entries = [e for r in holders for e in r.data[MEDIA] if isinstance(e, dict)]
    deleted = {e.get("name") for e in entries if e.get("deleted")}
    held = {
        e.get("name")
        for r in holders
        if not states.is_terminal(r.effective_state)
        for e in r.data[MEDIA]
        if isinstance(e, dict)
    }
    found: dict[str, dict[str, Any]] = {}
    for entry in entries:
        expires = parse_time(entry.get("expires"))
        name = entry.get("name")
        named = name and name in held and name not in deleted
        if named and expires is not None and expires - now >= REUSE_LEFT_S:
            found[str(entry.get("sha256"))] = entry
    return found


def expire_soon(record: JobRecord, now: float) -> bool:
    """Some upload the part names has under `REUSE_LEFT_S` to live: too little for a
    job created now (a part whose create was put off keeps its input's upload)."""
    return any(
        (parse_time(e.get("expires")) or now) - now < REUSE_LEFT_S
        for e in record.data.get(MEDIA) or []
        if isinstance(e, dict) and e.get("name")
    )


def stored_bytes(records: Iterable[JobRecord], now: float) -> int:
    """What this job file's uploads still on the server take of the Files storage."""
    on_server: dict[str, int] = {}
    for entry in _entries(records):
        if (parse_time(entry.get("expires")) or 0.0) > now:
            tally([entry], on_server)
    return sum(size for size in on_server.values() if size > 0)


def deletable(record: JobRecord, records: list[JobRecord]) -> list[str]:
    """The record's uploads no other record still needs: each one named only by jobs
    that have ended (the service reads media while it runs a request)."""
    mine = {e.get("name") for e in record.data.get(MEDIA) or [] if not e.get("deleted")}
    mine.discard(None)
    for other in records:
        if other is record or states.is_terminal(other.effective_state):
            continue
        mine -= {e.get("name") for e in other.data.get(MEDIA) or [] if isinstance(e, dict)}
    return sorted(str(name) for name in mine)


def sizes_of(record: JobRecord) -> dict[str, int]:
    """The record's uploads by name, with their bytes."""
    return {
        str(e["name"]): int(e.get("bytes") or 0)
        for e in record.data.get(MEDIA) or []
        if isinstance(e, dict) and e.get("name")
    }


def mark_deleted(record: JobRecord, names: list[str]) -> None:
    for entry in record.raw.get(MEDIA) or []:
        if entry.get("name") in names:
            entry["deleted"] = True


def tally(entries: list[Any], on_server: dict[str, int]) -> None:
    """Add a record's uploads that were not deleted to `on_server` (name: bytes); one
    deleted by any record is taken back out."""
    for entry in entries:
        name = entry.get("name") if isinstance(entry, dict) else None
        if name and entry.get("deleted"):
            on_server[name] = -1  # (deleted: kept as a mark, left out by `on_server`)
        elif name and on_server.get(name) != -1:
            on_server[name] = int(entry.get("bytes") or 0)


def on_server_line(on_server: dict[str, int]) -> str:
    """`media: 40 files (1.2 MB) on the server, deleted once ...`, or ""."""
    sizes = [size for size in on_server.values() if size >= 0]
    if not sizes:
        return ""
    return (
        f"media: {len(sizes):,} uploaded files ({byte_size(sum(sizes))}) on the server, "
        "deleted once their jobs have ended and their results are saved"
    )
