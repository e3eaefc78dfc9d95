"""Submitting inputs: validate, split, upload, create, and never create a job twice.

For each part the job file gets an intent record (with a fresh id that is also put in
the job's display name) before anything is created remotely, then the uploaded file's
name, then the batch. After a crash, an intent without a batch is matched against the
server's jobs by that id; only when the server has none is the job created.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gembatch import formatting
from gembatch.config import Config, storage_bytes
from gembatch.formatting import plural
from gembatch.gemini.client import CreateUnconfirmed, GeminiClient, GeminiError, NotFoundError
from gembatch.gemini.inline import goes_inline, read_lines
from gembatch.inputs import (
    DEFAULT_MAX_BYTES,
    KEYS_ADDED,
    InputError,
    InputPlan,
    plan_input,
    write_parts,
)
from gembatch.intake import copies, creates
from gembatch.intake.estimate import SAMPLE, Estimate, estimate
from gembatch.intake.local_media import mentions_files, relative_to
from gembatch.intake.media import LOCAL_MEDIA, MediaUploads
from gembatch.intake.media_records import expire_soon
from gembatch.intake.owners import Ownership
from gembatch.intake.recovery import Recovery
from gembatch.jobfile.file import JobFile, JobRecord
from gembatch.prices import Price, dollars
from gembatch.report.limits import Limits

DEFAULT_MODEL = Config.model  # (the config's default, written once there)


@dataclass
class SubmitOptions:
    """What to submit with."""

    model: str = DEFAULT_MODEL
    max_requests: int | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    force: bool = False
    # Under limits (`--max-running`, `--max-cost`) parts go to the local queue, and the
    # launcher creates them as the limits allow; under a budget each input is estimated
    # first (tokens counted by the service on a sample, as `--dry-run` does).
    queue: bool = False
    budget: float | None = None
    price: Price | None = None
    expect_output_tokens: int | None = None
    sample: int = SAMPLE
    # Parts small enough go inline, in the create call itself (`inline`): no upload, no
    # output file. `embeddings`: EmbedContentRequests, created as an embeddings batch.
    inline: bool | None = False  # None: when small enough (`inline.goes_inline`)
    embeddings: bool = False
    # What the media of running jobs may take of the Files API's storage at once.
    files_storage_bytes: int = storage_bytes(Config.files_storage_gb)


def options_under(limits: Limits, model: str, price: Price | None, **more: Any) -> SubmitOptions:
    """How to submit under the job file's limits: into the local queue when it has any,
    each input estimated when it has a budget. (`submit`, `retry`, the monitor's R.)"""
    return SubmitOptions(
        model=model, queue=limits.any, budget=limits.max_cost_usd, price=price, **more
    )


@dataclass
class SubmitReport:
    """What a submit run did."""

    created: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bad_inputs: list[str] = field(default_factory=list)
    refused_for_budget: list[str] = field(default_factory=list)  # sound, but over budget
    # Parts whose create got no reply and has not shown up yet: it may still land.
    unconfirmed: list[str] = field(default_factory=list)
    stopped_duplicates: list[str] = field(default_factory=list)


def intent_display_name(input_file: str, submit_id: str) -> str:
    """The marker first, so a server that shortens display names cannot cut it off."""
    return f"{creates.marker(submit_id)} {input_file}"


class Submitter:
    """Turns input files into tracked batch jobs."""

    def __init__(
        self,
        job_file: JobFile,
        client: GeminiClient,
        options: SubmitOptions,
        say: Callable[[str], None] = print,
        upload_progress: Callable[[str], Callable[[int, int], None]] | None = None,
    ) -> None:
        self.job_file = job_file
        # For each upload, a listener of its bytes (the command line draws a bar).
        self.upload_progress = upload_progress
        self.client = client
        self.options = options
        self.say = say
        self.base = job_file.path.parent.resolve()
        self.report = SubmitReport()
        # Held for as long as this process may own intents: another submit that finds
        # the lock taken knows the owner is alive and leaves its intents alone.
        self.ownership = Ownership(job_file)
        self.recovery = Recovery(self)
        self.media = MediaUploads(job_file, client, say, options.files_storage_bytes)

    def own(self) -> dict[str, object]:
        return self.ownership.field()

    def close(self) -> None:
        """Every intent of ours is finished or recorded: let the lock file go."""
        self.ownership.close()

    def relative(self, path: Path) -> str:
        """How the job file names a path: relative to its folder when inside it."""
        return relative_to(path, self.base)

    # --- whole runs -----------------------------------------------------------------
    async def submit(self, inputs: list[Path], extra: dict | None = None) -> SubmitReport:
        try:
            await self.reconcile()
            await self._submit_each(inputs, extra or {})
        finally:
            self.close()
        return self.report

    async def _submit_each(self, inputs: list[Path], extra: dict) -> None:
        for path in inputs:
            if self._already_submitted(path):
                self.say(
                    f"skipped {self.relative(path)}: already in {self.job_file.path.name} "
                    "(use --force to submit it again)"
                )
                self.report.skipped.append(str(path))
                continue
            try:
                plan = plan_input(path, self.options.max_requests, self.options.max_bytes)
            except InputError as error:
                self.say(f"error: {error}; nothing from this file was submitted")
                self.report.bad_inputs.append(str(path))
                continue
            await self.submit_plan(plan, extra)

    def _already_submitted(self, path: Path) -> bool:
        if self.options.force:
            return False
        name = self.relative(path)
        return any(
            r.data.get("source_file") == name or r.input_file == name for r in self.job_file.records
        )

    async def submit_plan(self, plan: InputPlan, extra: dict) -> None:
        source = self.relative(plan.source)
        cost = await self._estimate(plan, source) if self.options.budget is not None else None
        if cost is not None and not self._affordable(cost, source):
            self.report.refused_for_budget.append(str(plan.source))
            return
        if plan.split:
            write_parts(plan)
        if len(plan.parts) > 1:
            self.say(f"{source}: {plan.requests:,} requests in {len(plan.parts)} parts")
        local_media = mentions_files(plan.source)
        queue = self.options.queue or (
            local_media and self.media.holds_for_storage(plan.source, len(plan.parts), source)
        )
        records = []
        for part in plan.parts:
            fields = dict(extra, **({LOCAL_MEDIA: True} if local_media else {}))
            if plan.split:
                fields.setdefault("source_file", source)
                fields["first_line"] = part.first_line
            elif plan.adds_keys:
                fields[KEYS_ADDED] = True
            if cost is not None:
                fields["estimate"] = _share(cost, part.count / plan.requests)
            inline = goes_inline(part.size, part.count, self.options.inline)
            if inline and not self.options.embeddings:
                fields["inline"] = True
            if self.options.embeddings:
                fields["embeddings"] = True
            records.append(self.new_intent(self.relative(part.path), part.count, fields, queue))
        if queue:
            self.job_file.append(*records)  # one rewrite for all the parts
            self.report.queued.extend(r.input_file for r in records)
            return
        # Every part's intent first, in one rewrite: a kill while the first is created
        # must not leave the others unrecorded (a later submit would skip the input).
        self.job_file.append(*records)
        for record, part in zip(records, plan.parts, strict=True):
            await self.finish(record, part.path)

    async def _estimate(self, plan: InputPlan, source: str) -> Estimate:
        return await estimate(
            plan,
            source,
            self.client,
            self.options.model,
            self.options.price,
            self.options.expect_output_tokens,
            self.options.sample,
        )

    def _affordable(self, cost: Estimate, source: str) -> bool:
        """An input that alone costs more than the budget is refused whole."""
        budget = self.options.budget
        assert budget is not None
        if cost.dollars is None:
            self.say(
                f"error: {source}: no price known for {self.options.model}, so the budget "
                "cannot be held; add the model to the config's [prices]; nothing was submitted"
            )
            return False
        if cost.dollars > budget:
            self.say(
                f"error: {source}: estimated at {dollars(cost.dollars, budget)}, more than the "
                f"whole {dollars(budget, cost.dollars)} budget; raise --max-cost or split the "
                "input; nothing "
                "from this file was submitted"
            )
            return False
        return True

    async def reconcile(self, poller: bool = False) -> None:
        """Finish what an interrupted submit left (see `Recovery.reconcile`)."""
        await self.recovery.reconcile(poller)

    async def sweep_duplicates(self) -> None:
        """Look for jobs that landed late for parts that already have theirs."""
        await self.recovery.stop_duplicates(await self.recovery.look())

    # --- one part ---------------------------------------------------------------------
    def new_intent(
        self, input_file: str, count: int, fields: dict, queue: bool | None = None
    ) -> JobRecord:
        """A part's record before anything remote: an intent of ours, or a queued part
        (no owner: nobody has begun to create it); `queue` None: as the options say."""
        queue = self.options.queue if queue is None else queue
        submit_id = uuid.uuid4().hex[:12]
        when = "queued_at" if queue else "submitted_at"
        mine = {} if queue else {"owner": self.own()}
        return JobRecord(
            raw={
                "input_file": input_file,
                "count": count,
                "submit_id": submit_id,
                when: self.job_file.clock.iso(),
                **mine,
                **fields,
                "batch": {
                    "display_name": intent_display_name(input_file, submit_id),
                    "model": _model_name(self.options.model),
                },
            }
        )

    def take(self, record: JobRecord) -> None:
        """A queued part becomes our intent (saved by the caller, before any upload)."""
        record.raw["owner"] = self.own()
        record.raw["submitted_at"] = self.job_file.clock.iso()

    async def finish(self, record: JobRecord, path: Path) -> None:
        """Upload (unless done and still there), create, and record each step. A create
        with no reply is left for a later run to find (or, after the grace window, make)."""
        await self.upload(record, path)
        try:
            await self.create(record)
        except CreateUnconfirmed:
            self.report.unconfirmed.append(record.input_file)

    async def upload(self, record: JobRecord, path: Path) -> None:
        """The part's file on the server (again, if the one uploaded has expired); an
        inline part is sent with its create instead."""
        inline = bool(record.data.get("inline"))
        uploaded = None if inline else record.data.get("uploaded_file_name")
        local_media = bool(record.data.get(LOCAL_MEDIA))
        if local_media and uploaded and expire_soon(record, self.job_file.clock.now()):
            uploaded = None  # its media would expire under a job created now: anew
        if isinstance(uploaded, str) and not await self._still_uploaded(uploaded):
            uploaded = None
        if local_media and not uploaded:
            path = await self.media.resolve(record, path, self._resolved(record))
        if not uploaded and not inline:
            with copies.as_uploaded(self.job_file, record, path) as upload_path:
                size = upload_path.stat().st_size
                self.say(f"uploading {record.input_file} ({formatting.byte_size(size)})")
                listener = self.upload_progress(record.input_file) if self.upload_progress else None
                uploaded = await self.client.upload_file(
                    upload_path, display_name=path.name, on_progress=listener
                )
            record.raw["uploaded_file_name"] = uploaded
            self.job_file.save()
            self._resolved(record).unlink(missing_ok=True)

    def _resolved(self, record: JobRecord) -> Path:
        return copies.copy_path(self.job_file, "media", str(record.submit_id))

    def sweep_keyed_copies(self) -> None:
        copies.sweep(self.job_file)

    async def create(self, record: JobRecord, wait_when_refused: bool = True) -> None:
        """Create the batch of an uploaded part and record it."""
        sent = self._resolved(record) if record.data.get(LOCAL_MEDIA) else None
        if record.data.get("inline"):
            inline = read_lines(sent if sent else self.base / record.input_file)
        else:
            inline = None
        uploaded = None if inline else str(record.data.get("uploaded_file_name"))
        display = str(
            record.batch.get("display_name")
            or intent_display_name(record.input_file, str(record.submit_id))
        )
        model = str(record.batch.get("model") or _model_name(self.options.model))
        before = creates.note_sent(record, self.job_file.clock)
        self.job_file.save()  # before sending: a kill from here on leaves a create to look for
        try:
            job = await self.client.create_batch(
                model,
                uploaded,
                display,
                wait_when_refused,
                inline=inline,
                embeddings=bool(record.data.get("embeddings")),
            )
        except GeminiError as error:
            if not isinstance(error, CreateUnconfirmed):  # refused (429, 400): nothing made
                creates.unnote_sent(record, before)
                self.job_file.save()
                raise
            await self._look_for_unconfirmed(record, error)
            job = await self.client.get_batch(str(record.batch.get("name")))
        job.update(record.ensure_batch())
        self.job_file.save()
        if sent:
            sent.unlink(missing_ok=True)
        requests = plural(record.request_count or 0, "request")
        self.say(f"created {job.name} for {record.input_file} ({requests})")
        self.report.created.append(job.name)

    async def _look_for_unconfirmed(self, record: JobRecord, error: CreateUnconfirmed) -> None:
        """A create with no reply: adopt its job if it is there already (its name put in
        the record's batch), else say so and raise: a later run looks again."""
        found = (await self.recovery.look()).of(record)
        if not found:
            grace = self.client.create_grace_s
            self.say(
                f"{record.display_name}: {error}; not created again before "
                f"{creates.resend_from(record, grace)} (`gembatch poll` or "
                "`gembatch submit` adopts it if it appears)"
            )
            raise error
        record.ensure_batch()["name"] = found[0].name

    async def _still_uploaded(self, name: str) -> bool:
        try:
            await self.client.get_file(name)
        except NotFoundError:
            return False
        return True


def _share(cost: Estimate, share: float) -> dict[str, float | int]:
    """One part's piece of its input's estimate, as stored on its record."""
    return {
        "input_tokens": round(cost.input_tokens * share),
        "output_tokens": round((cost.output_tokens or 0) * share),
        "cost_usd": round((cost.dollars or 0.0) * share, 6),
        "sampled": cost.sampled,
    }


def _model_name(model: str) -> str:
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"
