"""Finishing what an interrupted submit left: intents whose owner died are matched
with the server's jobs by the marker in their display name and adopted, waited for, put
back in the queue or created; jobs that landed late for parts that have theirs are
stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import filelock

from gembatch.formatting import plural
from gembatch.gemini.client import GeminiClient
from gembatch.intake import creates, owners
from gembatch.intake.creates import Sightings
from gembatch.jobfile.file import JobFile, JobRecord


class Tally(Protocol):
    """What a submit reports of the recovery's work."""

    adopted: list[str]
    stopped_duplicates: list[str]
    unconfirmed: list[str]


class Submitter(Protocol):
    """What the recovery needs of the submitter that holds it (`submit.Submitter`)."""

    @property
    def job_file(self) -> JobFile: ...
    @property
    def client(self) -> GeminiClient: ...
    @property
    def base(self) -> Path: ...
    @property
    def report(self) -> Tally: ...
    def say(self, message: str) -> None: ...
    def own(self) -> dict[str, object]: ...
    def sweep_keyed_copies(self) -> None: ...
    async def finish(self, record: JobRecord, path: Path) -> None: ...


class Recovery:
    """The submitter's collaborator for intents left by others and late duplicates."""

    def __init__(self, submitter: Submitter) -> None:
        self.submitter = submitter
        self.job_file = submitter.job_file  # (the submitter's for its whole life)
        self.client = submitter.client

    def say(self, message: str) -> None:
        self.submitter.say(message)

    async def reconcile(self, poller: bool = False) -> None:
        """Finish what an interrupted submit left: intents without a batch whose owner
        has died. An intent whose owner still runs is its owner's to finish.

        A job carrying the intent's marker is adopted; with none, a create that may
        still land is waited for (`creates`). Then `submit` creates the part; the
        poller (`poller`) puts a queued part back in the queue, and leaves any other to
        `gembatch submit`: it never creates a job from a record on its own say."""
        self.submitter.sweep_keyed_copies()
        orphans = []
        for record in self.job_file.records:
            if record.intent:
                lock = self._adopt_owner_lock(record)
                if lock is not None:
                    orphans.append((record, lock))
        if not orphans:
            return
        self.say(f"finishing {plural(len(orphans), 'interrupted submission')}")
        try:
            sightings = await self.look()
            for record, _ in orphans:
                await self._reconcile_one(record, sightings, poller)
            await self.stop_duplicates(sightings)
        finally:
            for _, lock in orphans:
                owners.release(lock)

    async def look(self) -> Sightings:
        ids = (str(r.submit_id) for r in self.job_file.records if r.submit_id)
        return await creates.look(self.client, ids)

    async def stop_duplicates(self, sightings: Sightings) -> None:
        for record in self.job_file.records:
            if record.batch_name:  # an open intent's extra jobs go when it is adopted
                await self._stop_extra_jobs(record, sightings)

    async def _stop_extra_jobs(self, record: JobRecord, sightings: Sightings) -> None:
        """Jobs created for this record beyond the one it holds (a create that landed late)."""
        for job in creates.duplicates(record, sightings):
            self.say(f"{record.display_name}: {await creates.stop_duplicate(self.client, job)}")
            self.submitter.report.stopped_duplicates.append(job.name)

    def _adopt_owner_lock(self, record: JobRecord) -> filelock.FileLock | None:
        """The dead owner's lock, now ours; None (and said) while the owner is alive."""
        lock = owners.take_if_dead(self.job_file, record)
        if lock is None:
            who = owners.owner_words(record)
            self.say(f"{record.input_file}: being submitted by {who}; left to it")
        return lock

    async def _reconcile_one(self, record: JobRecord, sightings: Sightings, poller: bool) -> None:
        found = sightings.of(record)
        if found:
            await self._adopt(record, found[0].name)
            await self._stop_extra_jobs(record, sightings)
            return
        grace = self.client.create_grace_s
        if creates.may_still_land(record, self.job_file.clock, grace):
            self.say(
                f"{record.display_name}: its create got no reply and has not shown up yet; "
                f"not created again before {creates.resend_from(record, grace)}"
            )
            self.submitter.report.unconfirmed.append(record.input_file)
            return
        if record.queued:
            record.raw.pop("owner", None)  # never created: back to its place in the queue
            self.job_file.save()
            return
        if poller:
            return  # `gembatch submit` finishes it (the poller says so)
        record.raw["owner"] = self.submitter.own()  # ours now, should we be interrupted too
        self.job_file.save()
        await self.submitter.finish(record, self.submitter.base / record.input_file)

    async def _adopt(self, record: JobRecord, name: str) -> None:
        job = await self.client.get_batch(name)
        job.update(record.ensure_batch())
        self.job_file.save()
        self.say(
            f"found {name} for {record.input_file} (created before the interruption; "
            "not created again)"
        )
        self.submitter.report.adopted.append(name)
