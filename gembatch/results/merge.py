"""Merged results: every part and retry of one input, back in the input's order.

`results/<input name>` gets each successful response in input order, and
`results/<input name>.errors.jsonl` each row that still has no success. The index keeps
only file offsets, never whole results, so memory grows with the key count alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from gembatch.atomic import AtomicFile
from gembatch.inputs import InputError, read_requests
from gembatch.jobfile import lifecycle
from gembatch.jobfile.file import JobRecord
from gembatch.results.files import RESULTS_FOLDER, results_path_for


@dataclass(frozen=True)
class MergeOutcome:
    """What a merge wrote."""

    results_file: Path
    errors_file: Path
    succeeded: int
    failed: int
    # Rows still without a success, by the job whose results hold their last failure:
    # {results file (as the record names it): rows} (a retry's answer takes a row off).
    failed_by_file: dict[str, int] = field(default_factory=dict)


def group_key(record: JobRecord) -> str:
    """Records that share a source input belong together (parts and retries)."""
    source = record.data.get("source_file")
    return source if isinstance(source, str) and source else record.input_file


def groups(records: Iterable[JobRecord]) -> dict[str, list[JobRecord]]:
    """Records by the input they came from."""
    grouped: dict[str, list[JobRecord]] = defaultdict(list)
    for record in records:
        grouped[group_key(record)].append(record)
    return grouped


def groups_to_merge(
    records: Iterable[JobRecord], base: Path
) -> Iterator[tuple[str, list[JobRecord], str]]:
    """(source, its records, signature) for each split or retried input whose jobs have
    all finished with their results on disk, and whose merge is not up to date."""
    for source, group in groups(records).items():
        if not wants_merge(group) or not lifecycle.group_ready(group, base):
            continue
        stamp = signature(group)
        if any(r.data.get("merged_signature") != stamp for r in group):
            yield source, group, stamp


def needs_merge(group: list[JobRecord]) -> bool:
    return len(group) > 1 or any(r.data.get("source_file") for r in group)


def needs_a_look(record: JobRecord) -> bool:
    """A record that can make its group want a merge whatever the group's size (a part
    of a split input, or results in the server's order): `wants_merge` of a group of
    one record without it is False."""
    data = record.data
    return bool(data.get("source_file")) or bool(data.get(SERVER_ORDER))


def wants_merge(group: list[JobRecord]) -> bool:
    """Split or retried inputs, and a lone job's results still in the server's order
    (rows come back in any order, shared/gemini-batch-api.md §0.12)."""
    return len(group) > 1 or any(needs_a_look(record) for record in group)


def in_server_order(group: list[JobRecord]) -> bool:
    """A lone job's results as the server gave them (a split or retried input's are put
    in order by the merge into their own file instead)."""
    return not needs_merge(group) and bool(group[0].data.get(SERVER_ORDER))


# Set on a record whose results file holds the rows as the server gave them.
SERVER_ORDER = "results_in_server_order"


def signature(group: list[JobRecord]) -> str:
    parts = sorted(f"{r.batch_name}={r.results_file}" for r in group)
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def merge_group(
    source: str, group: list[JobRecord], base: Path, folder_name: str = RESULTS_FOLDER
) -> MergeOutcome:
    """Write the merged results and errors files for one source input."""
    source_path = base / source
    if in_server_order(group):
        return order_in_place(source_path, base / str(group[0].results_file))
    dest = results_path_for(source, base, folder_name=folder_name)
    errors_dest = dest.with_name(f"{dest.stem}.errors{dest.suffix or '.jsonl'}")
    ordered = sorted(
        group,
        key=lambda r: (
            bool(r.data.get("retry_of")),
            int(r.data.get("retry_number", 0) or 0),
            int(r.data.get("first_line", 0) or 0),
        ),
    )
    names = [str(r.results_file) for r in ordered if r.results_file]
    files = [base / name for name in names]
    index = index_results(files)
    handles = [path.open("rb") for path in files]
    try:
        outcome = _write(source_path, index, handles, dest, errors_dest)
    finally:
        for handle in handles:
            handle.close()
    left = Counter(names[number] for number, _, ok in index.values() if not ok)
    outcome.failed_by_file.update({name: left.get(name, 0) for name in names})
    return outcome


NO_RESULT = "no result: the job holding this request did not succeed"

# key -> (file number, offset, succeeded)
Index = dict[str, tuple[int, int, bool]]


def index_results(files: list[Path]) -> Index:
    index: Index = {}
    for number, path in enumerate(files):
        with path.open("rb") as handle:
            offset = 0
            for line in handle:
                here, offset = offset, offset + len(line)
                try:
                    item = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(item, dict) or item.get("key") is None:
                    continue
                key = str(item["key"])
                ok = "response" in item  # as results._check_line counts failed rows
                known = index.get(key)
                if known is None or ok or not known[2]:  # a success is never replaced
                    index[key] = (number, here, ok)
    return index


def _write(
    source: Path, index: Index, handles: list, dest: Path, errors_dest: Path
) -> MergeOutcome:
    dest.parent.mkdir(parents=True, exist_ok=True)
    succeeded = failed = 0
    errors_writer = AtomicFile(errors_dest, suffix=".part")
    with AtomicFile(dest, suffix=".part") as out, errors_writer as err:
        for request in read_requests(source):
            found = index.get(request.key)
            if found is not None and found[2]:
                out.write(line_at(handles[found[0]], found[1]))
                succeeded += 1
                continue
            failed += 1
            if found is not None:
                err.write(line_at(handles[found[0]], found[1]))
            else:
                missing = {"key": request.key, "error": {"message": NO_RESULT}}
                err.write((json.dumps(missing) + "\n").encode())
        if not failed:
            errors_writer.discard()
    if not failed:
        with contextlib.suppress(FileNotFoundError):
            errors_dest.unlink()  # an old errors file whose rows have all succeeded since
    return MergeOutcome(dest, errors_dest, succeeded, failed)


def order_in_place(source: Path, results: Path) -> MergeOutcome:
    """A lone job's results rewritten in its input's order, every row kept: rows whose
    key the input lacks (or repeats) follow at the end."""
    if not source.is_file():  # (before a pass over the results that could not be used)
        raise InputError(f"{source}: no such file")
    index = index_all(results)
    succeeded = failed = 0
    with results.open("rb") as handle, AtomicFile(results, suffix=".part") as out:
        for request in read_requests(source):
            for offset, ok in index.pop(request.key, []):
                out.write(line_at(handle, offset))
                succeeded, failed = succeeded + ok, failed + (not ok)
        for rest in index.values():
            for offset, ok in rest:
                out.write(line_at(handle, offset))
                succeeded, failed = succeeded + ok, failed + (not ok)
    return MergeOutcome(
        results, results.with_name(f"{results.stem}.errors.jsonl"), succeeded, failed
    )


class _KeyedRow(msgspec.Struct):
    """What the index needs of a results line: its key and whether it has a response
    (read without being built; the rest is still checked as JSON)."""

    key: Any = None
    response: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET


_read_keyed_row = msgspec.json.Decoder(_KeyedRow).decode


def index_all(path: Path) -> dict[str, list[tuple[int, bool]]]:
    """key -> [(offset, succeeded)] for every line of one results file, in file order."""
    index: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    with path.open("rb") as handle:
        offset = 0
        for line in handle:
            here, offset = offset, offset + len(line)
            key, ok = _key_of_row(line)
            index["" if key is None else str(key)].append((here, ok))
    return index


def _key_of_row(line: bytes) -> tuple[Any, bool]:
    try:
        row = _read_keyed_row(line)
        return row.key, row.response is not msgspec.UNSET
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass  # an odd line: as `json` reads it
    try:
        item = json.loads(line)
    except ValueError:
        return None, False
    if not isinstance(item, dict):
        return None, False
    return item.get("key"), "response" in item


def line_at(handle, offset: int) -> bytes:
    handle.seek(offset)
    line = handle.readline()
    return line if line.endswith(b"\n") else line + b"\n"
