"""Deleting what a finished job left on the server: the batch job, its uploaded input,
its output file and the media its requests named. Whether a job may be cleaned up is
`lifecycle.may_delete`'s call; this is how, for both `gembatch poll` and `cleanup`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from gembatch.clock import Clock
from gembatch.gemini.client import GeminiClient, NotFoundError, UnmanageableFile
from gembatch.intake import media_records as media
from gembatch.jobfile.file import JobRecord

EXPIRES_ON_ITS_OWN = "expires on its own (about 48h after the job ended)"


@dataclass
class Cleaned:
    """What a cleanup did: deleted (or found gone), and left for the service to expire."""

    deleted: list[str] = field(default_factory=list)
    left_to_expire: list[str] = field(default_factory=list)

    def line(self) -> str:
        """`deleted remote a, b; files/x expires on its own (...)`."""
        parts = [f"deleted remote {', '.join(self.deleted)}"] if self.deleted else []
        parts += [f"{name} {EXPIRES_ON_ITS_OWN}" for name in self.left_to_expire]
        return "; ".join(parts)


def remote_names(
    record: JobRecord, output_file: str | None = None, others: Iterable[JobRecord] = ()
) -> list[str]:
    """The job first, then its files: a job deleted but a file left is only clutter.
    Its media too, unless one of `others` still needs them (`media.deletable`)."""
    names = [str(record.batch_name)]
    output = output_file or record.batch.get("dest", {}).get("file_name")
    for name in (record.data.get("uploaded_file_name"), output):
        if isinstance(name, str) and name and name not in names:
            names.append(name)
    if record.data.get(media.MEDIA):
        names += media.deletable(record, media.with_media(others))
    return names


async def delete_remote(client: GeminiClient, names: list[str]) -> Cleaned:
    """Delete each name; already gone (a 404, or the 403 a missing file gets, see
    shared/gemini-batch-api.md §0.1) is what we want. A file the Files API cannot
    manage (a batch output's 42-character id, §0.11) is left to expire, not retried.
    Any other error is raised, with what was deleted before it left in place."""
    cleaned = Cleaned()
    for name in names:
        try:
            if name.startswith("batches/"):
                await client.delete_batch(name)
            else:
                await client.delete_file(name)
        except NotFoundError:
            pass
        except UnmanageableFile:
            cleaned.left_to_expire.append(name)
            continue
        cleaned.deleted.append(name)
    return cleaned


def record_cleaned(record: JobRecord, cleaned: Cleaned, clock: Clock) -> None:
    """The job's remote side is done with: deleted, or left to expire on its own."""
    record.raw["remote_deleted_at"] = clock.iso()
    media.mark_deleted(record, cleaned.deleted)
    if cleaned.left_to_expire:
        record.raw["left_to_expire"] = cleaned.left_to_expire
