"""What a part's requests say about local files, and the files themselves: which
`fileData.fileUri` values are local paths, where an input names any, how many bytes it
names, and each file's sha256 (hashed once per size and time)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gembatch.inputs import raw_lines

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def relative_to(path: Path, base: Path) -> str:
    """How the job file names a path: relative to its folder when inside it."""
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(base))
    except ValueError:
        return str(resolved)


def is_local(uri: object) -> bool:
    return isinstance(uri, str) and bool(uri) and not _URL.match(uri)


def mentions_files(path: Path) -> bool:
    """Whether an input may name local media (a quick scan for the field's name)."""
    tail = b""
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            window = tail + chunk
            if b'"fileUri"' in window or b'"file_uri"' in window:
                return True
            tail = chunk[-16:]
    return False


def files_named(source: Path) -> tuple[int, int]:
    """How many local media files a whole input names, and their bytes."""
    if not mentions_files(source):
        return 0, 0
    named = set()
    for _, raw in raw_lines(source):
        obj = json.loads(raw)
        request = obj.get("request", obj) if isinstance(obj, dict) else None
        for data in file_data_parts(request):
            uri = data.get(uri_field(data))
            if is_local(uri):
                named.add(source.parent / str(uri))
    sizes = [path.stat().st_size for path in named if path.is_file()]
    return len(sizes), sum(sizes)


def file_data_parts(request: Any) -> Iterator[dict[str, Any]]:
    """Every `fileData` object of a request's contents and system instruction."""
    contents = list(request.get("contents") or []) if isinstance(request, dict) else []
    for name in ("systemInstruction", "system_instruction"):
        if isinstance(request, dict) and isinstance(request.get(name), dict):
            contents.append(request[name])
    for content in contents:
        for part in content.get("parts") or [] if isinstance(content, dict) else []:
            data = part.get("fileData") or part.get("file_data") if isinstance(part, dict) else None
            if isinstance(data, dict):
                yield data


def uri_field(data: dict[str, Any]) -> str:
    return "fileUri" if "fileUri" in data else "file_uri"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class Hashes:
    """Each file's sha256, hashed again only when its size or time changes: a part held
    for storage is looked at every cycle, and its media may be gigabytes."""

    def __init__(self) -> None:
        self._known: dict[tuple[Path, int, int], str] = {}

    def known(self, path: Path) -> tuple[str, int] | None:
        """(sha256, bytes) if the file is hashed as it is now; None if not (or gone)."""
        try:
            stat = path.stat()
        except OSError:
            return None
        sha = self._known.get((path, stat.st_size, stat.st_mtime_ns))
        return None if sha is None else (sha, stat.st_size)

    def of(self, path: Path) -> tuple[str, int]:
        """(sha256, bytes); OSError when it cannot be read."""
        stat = path.stat()
        key = (path, stat.st_size, stat.st_mtime_ns)
        if key not in self._known:
            self._known[key] = _sha256(path)
        return self._known[key], stat.st_size
