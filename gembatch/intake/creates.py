"""Creates that may still land: one rule for `submit`, `retry` and the poller's queue.

Creating a batch is not idempotent, and the server can act on a create after the
client stopped waiting for it (shared/gemini-batch-api.md §0.3): a second create sent
then bills a second job. So:

- Before a create is sent, the part's record notes when (`create_sent_at`), saved.
- A create whose reply did not come leaves the part an *unconfirmed intent*. Whoever
  reconciles it lists the server's jobs and looks for its marker (`[gb:<submit id>]` in
  the display name). Found: adopted. Not found: nothing is created again until the grace
  window after the last create has passed with no sign of it.
- Jobs carrying the marker of a part that already has its job are duplicates (a create
  that landed after the window): cancelled, deleted once the server calls them
  finished, and reported. Jobs whose marker no record of this job file knows are
  another job file's, and left alone.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from gembatch import states
from gembatch.clock import Clock
from gembatch.config import Config
from gembatch.formatting import clock_time, parse_time
from gembatch.gemini.client import GeminiClient, GeminiError, NotFoundError, RemoteJob, RequestError
from gembatch.jobfile import fields
from gembatch.jobfile.file import JobRecord

# How long a create that got no reply may still land (the config's `create_grace`): the
# slowest seen is about 70 s after the request; ten minutes leaves room for a slow day.
CREATE_GRACE_S = Config.create_grace
MARKER = re.compile(r"\[gb:([0-9a-f]{12})\]")


def marker(submit_id: str) -> str:
    return f"[gb:{submit_id}]"


def submit_id_in(display_name: str) -> str | None:
    found = MARKER.search(display_name)
    return found.group(1) if found else None


# --- what a record says about its creates ---------------------------------------------
def note_sent(record: JobRecord, clock: Clock) -> tuple[object, object]:
    """Before a create is sent (the caller saves the record before sending); returns
    what the record said before, for `unnote_sent`."""
    raw = record.raw
    before = (raw.get("create_sent_at"), raw.get("create_attempts"))
    raw["create_sent_at"] = clock.iso()
    raw["create_attempts"] = (fields.count(record.data.get("create_attempts")) or 0) + 1
    return before


def unnote_sent(record: JobRecord, before: tuple[object, object]) -> None:
    """The create was refused (a 429, a 400): it made nothing, so it is no create that
    may still land; the record says again what it said before."""
    for name, value in zip(("create_sent_at", "create_attempts"), before, strict=True):
        if value is None:
            record.raw.pop(name, None)
        else:
            record.raw[name] = value


def sent_at(record: JobRecord) -> float | None:
    return parse_time(record.data.get("create_sent_at"))


def may_still_land(record: JobRecord, clock: Clock, grace_s: float = CREATE_GRACE_S) -> bool:
    """A create was sent for this part and its window is not over: nothing may be
    created for it again yet."""
    sent = sent_at(record)
    return sent is not None and clock.now() < sent + grace_s


def resend_from(record: JobRecord, grace_s: float = CREATE_GRACE_S) -> str:
    """When the part may be created again, as a time of day."""
    return clock_time((sent_at(record) or 0.0) + grace_s)


def watches_duplicates(record: JobRecord, clock: Clock, grace_s: float = CREATE_GRACE_S) -> bool:
    """A part created after an earlier create went unanswered: that earlier one could
    still land, so the server is watched for it for a while."""
    sent = sent_at(record)
    return (
        bool(record.batch_name)
        and (fields.count(record.data.get("create_attempts")) or 0) > 1
        and sent is not None
        and clock.now() < sent + 2 * grace_s
    )


# --- what the server holds ------------------------------------------------------------
@dataclass
class Sightings:
    """The server's jobs that carry a marker, by submit id, oldest first."""

    by_id: dict[str, list[RemoteJob]] = field(default_factory=dict)

    def of(self, record: JobRecord) -> list[RemoteJob]:
        return self.by_id.get(str(record.submit_id), [])


async def look(client: GeminiClient, submit_ids: Iterable[str]) -> Sightings:
    """List the server's jobs and keep those whose marker is one of `submit_ids`."""
    wanted = set(submit_ids)
    sightings = Sightings()
    async for job in client.marked_jobs():
        found = submit_id_in(job.display_name)
        if found in wanted:
            sightings.by_id.setdefault(found, []).append(job)
    for jobs in sightings.by_id.values():
        jobs.sort(key=lambda job: (job.create_time or "", job.name))
    return sightings


def duplicates(record: JobRecord, sightings: Sightings) -> list[RemoteJob]:
    """Jobs carrying the record's marker that are not the record's job."""
    if not record.batch_name:
        return sightings.of(record)[1:]  # the oldest is the one to adopt
    return [job for job in sightings.of(record) if job.name != record.batch_name]


async def stop_duplicate(client: GeminiClient, job: RemoteJob) -> str:
    """Cancel a duplicate, and delete it once the server calls it finished; what was
    done, in a line."""
    with contextlib.suppress(NotFoundError, RequestError):  # finished already (400), or gone
        await client.cancel_batch(job.name)
    try:
        now = await client.get_batch(job.name)
    except NotFoundError:
        return f"duplicate {job.name} is gone"
    if not states.is_terminal(now.state):
        return f"duplicate {job.name}: cancel requested (deleted once it has stopped)"
    try:
        await client.delete_batch(job.name)
    except NotFoundError:
        pass  # gone is what was wanted
    except GeminiError as error:
        return f"duplicate {job.name} cancelled, not deleted: {error}"
    return f"duplicate {job.name} cancelled and deleted"
