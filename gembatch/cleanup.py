"""Deleting what a finished job left on the server: the batch job, its uploaded input
and its output file. Whether a job may be cleaned up is `lifecycle.may_delete`'s call;
this is how, for both `gembatch poll` and `gembatch cleanup`."""

from __future__ import annotations

import contextlib

from gembatch.gemini import GeminiClient, NotFoundError
from gembatch.jobfile import JobRecord


def remote_names(record: JobRecord, output_file: str | None = None) -> list[str]:
    """The job first, then its files: a job deleted but a file left is only clutter."""
    names = [str(record.batch_name)]
    output = output_file or record.batch.get("dest", {}).get("file_name")
    for name in (record.data.get("uploaded_file_name"), output):
        if isinstance(name, str) and name and name not in names:
            names.append(name)
    return names


async def delete_remote(client: GeminiClient, names: list[str]) -> list[str]:
    """Delete each name; already gone (a 404, or the 403 a missing file gets, see
    shared/gemini-batch-api.md §0.1) is what we want. Any other error is raised, with
    what was deleted before it left in place."""
    deleted: list[str] = []
    for name in names:
        delete = client.delete_batch if name.startswith("batches/") else client.delete_file
        with contextlib.suppress(NotFoundError):
            await delete(name)
        deleted.append(name)
    return deleted
