"""One rewrite of the job file from its entries: unchanged lines copied from where they
are, changed records serialised, and then every record pointed at the file just written
(so the file it came from can go, and its lines are not held in memory)."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from gembatch.jobfile.disk import atomic_write, entry_bytes
from gembatch.jobfile.line_source import LineMoved, LineSource, chunks, span_length
from gembatch.jobfile.records import Entry, JobRecord, apply_patch


class WrittenMeanwhile(Exception):
    """The job file changed while it was rewritten (another program wrote into it in
    place): the rewrite was not put in place; merge with the disk again."""


def rewrite(
    path: Path,
    entries: Sequence[Entry],
    unchanged: Callable[[], bool],
    before_replace: Callable[[], None] | None = None,
) -> tuple[tuple[int, bytes], LineSource | None]:
    """Write `entries` to `path` atomically, if `unchanged()` still holds just before
    the rename (else `WrittenMeanwhile`); the length and SHA-1 written, and the new
    file, which the records now read their lines from (None where they keep them)."""
    layout = array("q")  # where each entry's line starts in the new file, then the end
    serialised: list[tuple[JobRecord, bytes]] = []

    def pieces() -> Iterator[tuple[LineSource | None, int, bytes | None]]:
        at = 0
        for entry in entries:
            layout.append(at)
            if isinstance(entry, JobRecord):
                source, packed, line = entry.line_in()
                if line is not None and entry.touched:
                    serialised.append((entry, line))
            else:
                source, packed, line = None, 0, entry_bytes(entry)
            at += span_length(packed) if line is None else len(line)
            yield source, packed, line
        layout.append(at)

    written_file: LineSource | None = None

    def at_no_return(tmp_name: str) -> None:
        nonlocal written_file
        if before_replace is not None:
            before_replace()
        if not unchanged():
            raise WrittenMeanwhile(str(path))
        written_file = LineSource.open(tmp_name, str(path))

    try:
        written = atomic_write(path, chunks(pieces()), before_replace=at_no_return)
    except LineMoved:  # (cut short in place while copied from: merge with it again)
        if unchanged():
            raise
        raise WrittenMeanwhile(str(path)) from None
    for record, line in serialised:
        record.mark_saved(line)
    if written_file is not None:
        written_file.cover(*written)
        for n, entry in enumerate(entries):
            if isinstance(entry, JobRecord):
                entry.refer(written_file, layout[n], layout[n + 1] - layout[n])
    return written, written_file


def lay_over(ours: list[JobRecord], disk_entries: list[Entry]) -> list[Entry]:
    """Our records laid over the disk's entries, matched by key: a changed one keeps
    its changes over the disk's fields, an unchanged one takes the disk's line; whatever
    others added is kept, and a record they removed stays removed unless we changed it."""
    our_by_key = dict(zip(_unique_keys(ours), ours, strict=True))
    disk_records = [e for e in disk_entries if isinstance(e, JobRecord)]
    disk_key_of = dict(zip(map(id, disk_records), _unique_keys(disk_records), strict=True))
    merged: list[Entry] = []
    used: set[str] = set()
    for entry in disk_entries:
        mine = None
        if isinstance(entry, JobRecord):
            key = disk_key_of[id(entry)]
            mine = our_by_key.get(key)
        if mine is None:
            merged.append(entry)  # a bad line, or a record someone else added
            continue
        assert isinstance(entry, JobRecord)  # only records have keys
        used.add(key)
        _take_disk_line(mine, entry)
        merged.append(mine)
    for key, record in our_by_key.items():
        if key in used:
            continue
        if record.original_line is None or record.changes():  # new, or changed since
            record.original_line = None
            record._touched = True
            merged.append(record)
    return merged


def _take_disk_line(mine: JobRecord, disk: JobRecord) -> None:
    patch = mine.changes()
    if patch:
        mine._raw = disk.data
        apply_patch(mine._raw, patch)
        mine.original_line = disk.original_line
        mine._touched = True  # serialised afresh
        return
    if not mine.cold:  # (a cold one stays cold: a history is not parsed whole here)
        mine._raw = disk.data
    mine.take_line(disk)


def _unique_keys(records: list[JobRecord]) -> list[str]:
    seen: dict[str, int] = {}
    keys = []
    for record in records:
        base = record.key
        seen[base] = seen.get(base, 0) + 1
        keys.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return keys
