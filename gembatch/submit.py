"""Submitting inputs: validate, split, upload, create, and never create a job twice.

For each part the job file gets an intent record (with a fresh id that is also put in
the job's display name) before anything is created remotely, then the uploaded file's
name, then the batch. After a crash, an intent without a batch is matched against the
server's jobs by that id; only when the server has none is the job created.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gembatch import formatting
from gembatch.gemini import GeminiClient, NotFoundError
from gembatch.inputs import DEFAULT_MAX_BYTES, InputError, InputPlan, plan_input, write_parts
from gembatch.jobfile import JobFile, JobRecord

DEFAULT_MODEL = "gemini-2.5-flash"
_INTENT = re.compile(r"\[gb:([0-9a-f]{12})\]")


@dataclass
class SubmitOptions:
    """What to submit with."""

    model: str = DEFAULT_MODEL
    max_requests: int | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    force: bool = False


@dataclass
class SubmitReport:
    """What a submit run did."""

    created: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bad_inputs: list[str] = field(default_factory=list)


def intent_display_name(input_file: str, submit_id: str) -> str:
    return f"{input_file} [gb:{submit_id}]"


class Submitter:
    """Turns input files into tracked batch jobs."""

    def __init__(
        self,
        job_file: JobFile,
        client: GeminiClient,
        options: SubmitOptions,
        say: Callable[[str], None] = print,
    ) -> None:
        self.job_file = job_file
        self.client = client
        self.options = options
        self.say = say
        self.base = job_file.path.parent.resolve()
        self.report = SubmitReport()

    def relative(self, path: Path) -> str:
        """How the job file names a path: relative to its folder when inside it."""
        resolved = path.resolve()
        try:
            return str(resolved.relative_to(self.base))
        except ValueError:
            return str(resolved)

    # --- whole runs -----------------------------------------------------------------
    async def submit(self, inputs: list[Path], extra: dict | None = None) -> SubmitReport:
        await self.reconcile()
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
            await self.submit_plan(plan, extra or {})
        return self.report

    def _already_submitted(self, path: Path) -> bool:
        if self.options.force:
            return False
        name = self.relative(path)
        return any(
            r.data.get("source_file") == name or r.input_file == name for r in self.job_file.records
        )

    async def submit_plan(self, plan: InputPlan, extra: dict) -> None:
        if plan.needs_rewrite:
            write_parts(plan)
        source = self.relative(plan.source)
        if len(plan.parts) > 1:
            self.say(f"{source}: {plan.requests:,} requests in {len(plan.parts)} parts")
        for part in plan.parts:
            fields = dict(extra)
            if plan.needs_rewrite:
                fields.setdefault("source_file", source)
                fields["first_line"] = part.first_line
            record = self._write_intent(self.relative(part.path), part.count, fields)
            await self._finish(record, part.path)

    async def reconcile(self) -> None:
        """Finish what an interrupted submit left: intents without a batch."""
        orphans = [r for r in self.job_file.records if r.submit_id and not r.batch_name]
        if not orphans:
            return
        self.say(f"finishing {len(orphans)} interrupted submission(s)")
        remote = {}
        async for job in self.client.list_batches():
            match = _INTENT.search(job.display_name)
            if match:
                remote[match.group(1)] = job.name
        for record in orphans:
            name = remote.get(str(record.submit_id))
            if name:
                job = await self.client.get_batch(name)
                record.ensure_batch().update(job.batch_record())
                self.job_file.save()
                self.say(
                    f"found {name} for {record.input_file} (created before the "
                    "interruption; not created again)"
                )
                self.report.adopted.append(name)
            else:
                await self._finish(record, self.base / record.input_file)

    # --- one part ---------------------------------------------------------------------
    def _write_intent(self, input_file: str, count: int, fields: dict) -> JobRecord:
        submit_id = uuid.uuid4().hex[:12]
        record = JobRecord(
            raw={
                "input_file": input_file,
                "count": count,
                "submit_id": submit_id,
                "submitted_at": self.job_file.clock.iso(),
                **fields,
                "batch": {
                    "display_name": intent_display_name(input_file, submit_id),
                    "model": _model_name(self.options.model),
                },
            }
        )
        self.job_file.append(record)
        return record

    async def _finish(self, record: JobRecord, path: Path) -> None:
        """Upload (unless done and still there), create, and record each step."""
        uploaded = record.data.get("uploaded_file_name")
        if isinstance(uploaded, str) and not await self._still_uploaded(uploaded):
            uploaded = None
        if not uploaded:
            size = path.stat().st_size
            self.say(f"uploading {record.input_file} ({formatting.byte_size(size)})")
            uploaded = await self.client.upload_file(path, display_name=path.name)
            record.raw["uploaded_file_name"] = uploaded
            self.job_file.save()
        display = str(
            record.batch.get("display_name")
            or intent_display_name(record.input_file, str(record.submit_id))
        )
        model = str(record.batch.get("model") or _model_name(self.options.model))
        job = await self.client.create_batch(model, uploaded, display)
        record.ensure_batch().update(job.batch_record())
        self.job_file.save()
        self.say(f"created {job.name} for {record.input_file} ({record.request_count:,} requests)")
        self.report.created.append(job.name)

    async def _still_uploaded(self, name: str) -> bool:
        try:
            await self.client.get_file(name)
        except NotFoundError:
            return False
        return True


def _model_name(model: str) -> str:
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"
