"""Local media a part's requests name (`fileData.fileUri` holding a path, not a URL):
uploaded through the Files API when the part is created, with the same care as inputs.

- Close to creation: a part waiting in the local queue is resolved when it is taken,
  so it never names media that expired meanwhile (uploads live 48 h).
- Once per content: a file whose bytes (sha256) another record uploaded, still alive
  for `REUSE_LEFT_S`, is named again instead of uploaded again, across parts and runs.
- Crash-safe: every upload is recorded (`media` on the part's record: the file, its
  sha256 and bytes, and a marker put in the display name) before any is sent, and
  their names every few seconds and at the end; an upload whose name a kill lost is
  found again by its marker, or redone. Eight go at once.
- A file that cannot be uploaded (gone, unreadable, refused) leaves out the requests
  that name it, each reported with the file and why; the rest go ahead.
- Deleted after the results are saved: when the part is cleaned up, with every other
  record that names the same upload ended (`deletable`).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gembatch.formatting import byte_size, parse_time
from gembatch.gemini.client import GeminiClient, GeminiError, NotFoundError, TransientError
from gembatch.gemini.media import listed_files, upload_media
from gembatch.inputs import InputError, read_requests
from gembatch.intake.local_media import (
    Hashes,
    file_data_parts,
    files_named,
    is_local,
    relative_to,
    uri_field,
)
from gembatch.intake.media_records import MEDIA, REUSE_LEFT_S, alive, stored_bytes
from gembatch.intake.sources import mime_of
from gembatch.jobfile.file import JobFile, JobRecord

LOCAL_MEDIA = "local_media"  # the part's requests name local files, uploaded when created
LEFT_OUT = "media_left_out"  # [{"key", "file", "why"}]: requests sent without their media
UPLOADS_AT_ONCE = 8  # small files: the round trips, not the bytes, are what takes time
SAVE_EVERY_S = 2.0  # names recorded this often while uploading (and at the end)


class UploadCount:
    """A line at each tenth of a part's media uploaded (when it has many): a thousand
    files take minutes on a real link, and silence would look like a hang."""

    SAID_FROM = 20  # fewer files than this: no count

    def __init__(self, files: int, total: int) -> None:
        self.files, self.total = files, total
        self.uploaded = self.sent = self.tenths = 0

    def done(self, label: str, size: int, say: Callable[[str], None]) -> None:
        self.uploaded += 1
        self.sent += size
        tenths = self.uploaded * 10 // max(1, self.files)
        if self.files >= self.SAID_FROM and tenths > self.tenths:
            self.tenths = tenths
            say(
                f"{label}: uploaded {self.uploaded:,} of {self.files:,} media files "
                f"({byte_size(self.sent)} of {byte_size(self.total)})"
            )


class StorageFull(TransientError):
    """A part's media would pass the Files storage allowed: it waits in the queue."""


def storage_problem(new: int, stored: int, limit: int) -> str:
    """Why a part's media cannot be uploaded now, and what happens."""
    alone = new > limit
    return (
        f"its media ({byte_size(new)}) "
        + ("alone pass " if alone else f"and the running jobs' ({byte_size(stored)}) would pass ")
        + f"the {byte_size(limit)} of Files storage allowed (files_storage_gb)"
        + (
            "; split the input with --max-requests"
            if alone
            else "; it waits until theirs are deleted"
        )
    )


@dataclass
class Local:
    """One local file named by a part: what it is and where it went."""

    path: Path
    entry: dict[str, Any]  # as recorded on the part
    uri: str | None = None
    why: str = ""  # why it could not be uploaded


# A part's local files, by the URI its requests name them with.
Resolution = dict[str, Local]


class MediaUploads:
    """Resolves the local media of the parts one submitter creates."""

    def __init__(
        self,
        job_file: JobFile,
        client: GeminiClient,
        say: Callable[[str], None],
        storage_bytes: int,
    ) -> None:
        self.job_file = job_file
        self.client = client
        self.say = say
        self.storage_bytes = storage_bytes  # what media of running jobs may take at once
        self.base = job_file.path.parent.resolve()
        self._saved_at = 0.0
        self._hashes = Hashes()
        self._current: list[Local] = []  # the files of the part being resolved
        self.progress = UploadCount(0, 0)

    async def resolve(self, record: JobRecord, part: Path, copy: Path) -> Path:
        """Write `copy`: the part's requests with each local file uploaded (or one
        alive upload of the same bytes) and named by its URI."""
        resolution = self._locals(part, self._folder_of(record))
        previous = {e.get("sha256"): e for e in record.data.get(MEDIA) or [] if isinstance(e, dict)}
        for local in resolution.values():
            await self._describe(local, previous)
        self._current = list(resolution.values())
        await self._upload_missing(record, resolution)
        written, left_out = self._write(part, copy, resolution)
        self._note_left_out(record, left_out, written)
        self._save(record)
        if not written:
            first = left_out[0]
            raise InputError(
                f"{record.display_name}: every request names media that cannot be uploaded "
                f"({first['file']}: {first['why']}); nothing was sent"
            )
        return copy

    def _folder_of(self, record: JobRecord) -> Path:
        source = record.data.get("source_file") or record.input_file
        return (self.base / str(source)).parent

    def _locals(self, part: Path, folder: Path) -> Resolution:
        resolution: Resolution = {}
        for line in read_requests(part):
            request = json.loads(line.data).get("request")
            for data in file_data_parts(request):
                uri = data.get(uri_field(data))
                if is_local(uri) and uri not in resolution:
                    path = (folder / str(uri)).resolve()
                    mime = str(data.get("mimeType") or data.get("mime_type") or mime_of(path))
                    resolution[str(uri)] = Local(path, {"mime": mime})
        return resolution

    async def _describe(self, local: Local, previous: dict[Any, dict[str, Any]]) -> None:
        """The file's entry: its sha256 (hashed off the event loop: media may be
        gigabytes and the monitor keeps drawing) and bytes, or why it cannot be read."""
        relative = relative_to(local.path, self.base)
        try:
            sha, size = await asyncio.to_thread(self._hashes.of, local.path)
        except OSError as error:
            local.why = f"cannot be read ({error.strerror or error})"
            local.entry = {**local.entry, "file": relative, "why": local.why}
            return
        entry = dict(previous.get(sha) or {})
        entry.update(local.entry, file=relative, sha256=sha, bytes=size)
        # One marker per upload (not per content: another job file may upload the same
        # bytes), kept across attempts, so a kill's upload is found again exactly.
        entry.setdefault("marker", f"[gbm:{sha[:12]}{uuid.uuid4().hex[:8]}]")
        local.entry = entry

    def _note_left_out(
        self, record: JobRecord, left_out: list[dict[str, str]], written: int
    ) -> None:
        raw = record.raw
        raw["count"] = written  # what the job holds: its results are expected to match
        if not left_out:
            raw.pop(LEFT_OUT, None)
            return
        raw[LEFT_OUT] = left_out
        for item in left_out[:5]:
            self.say(f"{record.display_name}: {item['key']} sent without {item['file']}: "
                     f"{item['why']}; that request is left out")  # fmt: skip

    async def _upload_missing(self, record: JobRecord, resolution: Resolution) -> None:
        reusable = alive(self.job_file.records, self.job_file.clock.now())
        wanted, reused = [], []
        for local in resolution.values():
            found = None if local.why else reusable.get(local.entry["sha256"])
            if found is not None:
                local.entry.update(name=found["name"], uri=found["uri"], expires=found["expires"])
                reused.append(local)
            elif not local.why:
                local.entry.pop("name", None)  # deleted, or too close to its expiry: anew
                wanted.append(local)
        await self._adopt_interrupted(wanted)
        wanted = [local for local in wanted if "name" not in local.entry]
        self._check_storage(wanted)
        for local in wanted:
            local.entry["sent_at"] = self.job_file.clock.iso()
        self._save(record)  # every marker before anything is sent: a kill leaves them to find
        slots = asyncio.Semaphore(UPLOADS_AT_ONCE)
        self.progress = UploadCount(
            len(wanted), sum(int(w.entry.get("bytes") or 0) for w in wanted)
        )
        # Named in the job file now, so no poller deletes them from here on; one deleted
        # before (by a poller that had not seen this part yet) is uploaded again.
        wanted += await self._gone_since(record, reused, slots)
        await asyncio.gather(*(self._upload(record, local, slots) for local in wanted))
        for local in resolution.values():
            local.uri = local.entry.get("uri")

    async def _gone_since(
        self, record: JobRecord, reused: list[Local], slots: asyncio.Semaphore
    ) -> list[Local]:
        async def gone(local: Local) -> bool:
            async with slots:
                try:
                    await self.client.get_file(local.entry["name"])
                except NotFoundError:
                    return True
                except GeminiError:
                    return False  # (a passing fault: the upload is taken as there)
            return False

        found = await asyncio.gather(*(gone(local) for local in reused))
        lost = [local for local, is_gone in zip(reused, found, strict=True) if is_gone]
        for local in lost:
            for name in ("name", "uri", "expires"):
                local.entry.pop(name, None)
            local.entry["sent_at"] = self.job_file.clock.iso()
        if lost:
            self._save(record)
        return lost

    def _check_storage(self, wanted: list[Local]) -> None:
        """Raise `StorageFull` when these uploads and those of the job file's running
        jobs would pass the Files storage allowed (nothing is sent then)."""
        new = sum(int(local.entry.get("bytes") or 0) for local in wanted)
        if new > self.storage_bytes:  # never: no wait helps (a queue's head held forever)
            raise InputError(storage_problem(new, self._stored(), self.storage_bytes))
        problem = self._over_allowance(new)
        if problem:
            raise StorageFull(problem)

    def _stored(self) -> int:
        return stored_bytes(self.job_file.records, self.job_file.clock.now())

    def _over_allowance(self, new: int) -> str:
        """Why `new` more bytes of media would pass the allowance with those the job
        file's running jobs hold ("" when they fit): the one sum for every check."""
        stored = self._stored()
        if not new or stored + new <= self.storage_bytes:
            return ""
        return storage_problem(new, stored, self.storage_bytes)

    def storage_hold(self, record: JobRecord, part: Path) -> str:
        """Why a queued part's media cannot be uploaded now ("" when they can): asked
        before the part is taken, so a part that waits for storage is said once, not
        taken and put back each cycle. Files not hashed yet count as new (no hashing
        here, under the job file's lock); media alone over the allowance are left for
        the launch to refuse."""
        try:
            resolution = self._locals(part, self._folder_of(record))
        except (OSError, InputError):
            return ""  # (the launch says what is wrong with the part)
        reusable = alive(self.job_file.records, self.job_file.clock.now())
        new = 0
        for local in resolution.values():
            known = self._hashes.known(local.path)
            if known is not None and known[0] not in reusable:
                new += known[1]
            elif known is None and local.path.is_file():
                new += local.path.stat().st_size
        return "" if new > self.storage_bytes else self._over_allowance(new)

    def holds_for_storage(self, source: Path, parts: int, label: str) -> bool:
        """An input whose media would pass the Files storage allowed goes to the local
        queue, whose parts `gembatch poll` creates as earlier media are deleted."""
        media_bytes = files_named(source)[1]
        problem = self._over_allowance(media_bytes)
        if not problem:
            return False
        if parts == 1:
            self.say(f"{label}: {problem}; queued")
        else:
            self.say(
                f"{label}: its media ({byte_size(media_bytes)}) and the running jobs' would "
                f"pass the {byte_size(self.storage_bytes)} of Files storage allowed: its "
                f"{parts} parts are queued, and `gembatch poll` creates them as earlier "
                "media are deleted"
            )
        return True

    async def _adopt_interrupted(self, wanted: list[Local]) -> None:
        """Uploads an earlier run sent (a kill came before their names were recorded):
        on the server already if they finished, found by their markers."""
        if not any(local.entry.get("sent_at") for local in wanted):
            return
        listed = await listed_files(self.client)
        now = self.job_file.clock.now()
        for local in wanted:
            shown = f"{local.entry['marker']} "
            found = next((f for f in listed if f.display_name.startswith(shown)), None)
            if found is None or not local.entry.get("sent_at"):
                continue
            expires = parse_time(found.expires)
            if expires is not None and expires - now >= REUSE_LEFT_S:  # else anew
                local.entry.update(name=found.name, uri=found.uri, expires=found.expires)

    async def _upload(self, record: JobRecord, local: Local, slots: asyncio.Semaphore) -> None:
        entry = local.entry
        shown = f"{entry['marker']} {local.path.name}"
        try:
            async with slots:
                uploaded = await upload_media(self.client, local.path, entry["mime"], shown)
        except GeminiError as error:
            local.why = entry["why"] = str(error)
            return
        except OSError as error:
            local.why = entry["why"] = f"cannot be read ({error.strerror or error})"
            return
        entry.pop("why", None)
        entry.update(name=uploaded.name, uri=uploaded.uri, expires=uploaded.expires)
        self.progress.done(record.display_name, int(entry.get("bytes") or 0), self.say)
        if self.job_file.clock.now() - self._saved_at >= SAVE_EVERY_S:
            self._save(record)  # now and then: a kill costs a listing, not the uploads

    def _save(self, record: JobRecord) -> None:
        """Save the part's entries as they are now. Set anew each time: a save that
        merges with what another process wrote replaces the record's dicts, and the
        record's own change tracking cannot see changes inside the list anyway."""
        record.raw[MEDIA] = [local.entry for local in self._current]
        self.job_file.save()
        self._saved_at = self.job_file.clock.now()

    def _write(
        self, part: Path, copy: Path, resolution: Resolution
    ) -> tuple[int, list[dict[str, str]]]:
        """The requests written to `copy`, and those left out (their media missing)."""
        left_out: list[dict[str, str]] = []
        written = 0
        copy.parent.mkdir(exist_ok=True)
        with copy.open("wb") as handle:
            for line in read_requests(part):
                obj = json.loads(line.data)
                missing = self._name_uploads(obj.get("request"), resolution)
                if missing is None:
                    handle.write((json.dumps(obj, ensure_ascii=False) + "\n").encode())
                    written += 1
                else:
                    left_out.append({"key": line.key, "file": missing.entry["file"],
                                     "why": missing.why})  # fmt: skip
        return written, left_out

    @staticmethod
    def _name_uploads(request: Any, resolution: Resolution) -> Local | None:
        """Put each upload's URI in the request; the first file that has none, if any."""
        for data in file_data_parts(request):
            field_name = uri_field(data)
            local = resolution.get(str(data.get(field_name)))
            if local is None:
                continue
            if local.uri is None:
                return local
            data[field_name] = local.uri
            if "mimeType" not in data and "mime_type" not in data:
                data["mimeType" if field_name == "fileUri" else "mime_type"] = local.entry["mime"]
        return None
