"""Media a request names by `fileData.fileUri`, read when the job runs the request.

- Each file bills by `gembatch.media_tokens` (the documented per-tile and per-page
  rules), in `countTokens` and in the usage of the answer alike.
- A request whose file is missing when its job runs (never uploaded, deleted, or
  expired after 48 h) fails its row with the answer the API gives for a missing file:
  403 PERMISSION_DENIED, "You do not have permission to access the File … or it may
  not exist" (shared/gemini-batch-api.md §0.1). How a *batch* reports this row is not
  documented anywhere found: the row carries the documented Status shape (§5) with that
  code (gRPC 7) and message. "When its job runs" is modelled as: present from the
  create until the job ended.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from gembatch.media_tokens import media_tokens

_FILE_ID = re.compile(r"files/([A-Za-z0-9-]+)$")


def named_files(request: Any) -> Iterator[str]:
    """The ids of the files a request names."""
    contents = list(request.get("contents") or []) if isinstance(request, dict) else []
    system = request.get("systemInstruction") if isinstance(request, dict) else None
    for content in contents + ([system] if isinstance(system, dict) else []):
        for part in content.get("parts") or [] if isinstance(content, dict) else []:
            data = part.get("fileData") or part.get("file_data") if isinstance(part, dict) else None
            if not isinstance(data, dict):
                continue
            uri = str(data.get("fileUri") or data.get("file_uri") or "")
            found = _FILE_ID.search(uri)
            yield found.group(1) if found else uri


def tokens_of(request: Any, files: dict[str, Any]) -> int:
    """The media tokens of the files a request names that exist."""
    total = 0
    for file_id in named_files(request):
        sim_file = files.get(file_id)
        if sim_file is not None and sim_file.data is not None:
            total += media_tokens(sim_file.mime_type, sim_file.data)
    return total


def missing_error(file_id: str) -> dict[str, Any]:
    return {
        "code": 7,
        "message": f"You do not have permission to access the File {file_id} or it may not exist.",
        "status": "PERMISSION_DENIED",
    }


def note_requests(requests: list[dict[str, Any]], files: dict[str, Any]) -> None:
    """At create: each request's files, the tokens they bill, and those already missing."""
    for request in requests:
        body = request.get("request")
        named = list(named_files(body))
        if named:
            request["media"] = named
            request["media_tokens"] = tokens_of(body, files)
            request["media_missing"] = [f for f in named if f not in files]


def lost_rows(requests: list[dict[str, Any]], ended: float, gone_at: dict[str, float]):
    """Once the job has ended: the rows whose media were gone while it ran, with the
    first such file."""
    lost: dict[int, str] = {}
    for row, request in enumerate(requests):
        for file_id in request.get("media") or []:
            if file_id in request["media_missing"] or gone_at.get(file_id, ended) < ended:
                lost[row] = file_id
                break
    return lost
