"""The simulator's state: files and batch jobs, and their JSON shapes on the wire."""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gembatch.simulator import media, outputs
from gembatch.simulator.answers import inline_request, parse_input_lines, prompt_tokens
from gembatch.simulator.errors import ApiError, file_gone, file_id_too_long
from gembatch.simulator.objects import Deletion, SimBatch, SimFile
from gembatch.simulator.scenario import Scenario

__all__ = ["ApiError", "Store", "prompt_tokens"]

TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"}
BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"


def rfc3339(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Store:
    """All simulated resources, guarded by one lock (the server may run in a thread)."""

    def __init__(self, scenario: Scenario, clock: Callable[[], float] = time.time) -> None:
        self.scenario = scenario
        self.clock = clock
        self.lock = threading.RLock()
        self.files: dict[str, SimFile] = {}
        self.batches: dict[str, SimBatch] = {}
        self.deletions: list[Deletion] = []
        self.downloads: list[str] = []
        self._ids = itertools.count(1)
        self.creates = 0  # batches created, deleted ones included
        self.created: list[tuple[str, str]] = []  # (name, display name) of every create
        self.peak_active = 0  # the most jobs pending or running at one time
        self.gone_at: dict[str, float] = {}  # file id -> when deleted or expired
        self.peak_stored_bytes = 0  # the most uploaded bytes held at one time

    def new_id(self, kind: str) -> str:
        """A seeded id of `[a-z0-9]`: 36 characters for a batch, as the real service's
        (`batches/4m855v7q30kc7gtzcigdg9m72o87s08w33vp`, §0.11), 12 for the rest."""
        seed = f"{self.scenario.seed}:{kind}:{next(self._ids)}".encode()
        number = int.from_bytes(hashlib.sha256(seed).digest(), "big")
        length = self.scenario.batch_id_length if kind == "batch" else 12
        digits: list[str] = []
        while len(digits) < length:
            number, digit = divmod(number, 36)
            digits.append("0123456789abcdefghijklmnopqrstuvwxyz"[digit])
        return "".join(digits)

    # --- files -----------------------------------------------------------------------
    def add_file(self, display_name: str, mime_type: str, data: bytes) -> SimFile:
        with self.lock:
            sim_file = SimFile(self.new_id("file"), display_name, mime_type, self.clock(), data)
            self.files[sim_file.file_id] = sim_file
            stored = sum(len(f.data) for f in self.files.values() if f.data is not None)
            self.peak_stored_bytes = max(self.peak_stored_bytes, stored)
            return sim_file

    def get_file(self, file_id: str) -> SimFile:
        """`files.get`, which refuses an id over the Files API's 40 characters (§0.11)."""
        self._check_file_id(file_id, "GetFileRequest")
        return self._file(file_id)

    def _file(self, file_id: str) -> SimFile:
        with self.lock:
            self._refresh_outputs()
            self._expire_files()
            if file_id not in self.files:
                raise file_gone(file_id)
            return self.files[file_id]

    def _check_file_id(self, file_id: str, request: str) -> None:
        limit = self.scenario.files_api_id_limit
        if limit is not None and len(file_id) > limit:
            raise file_id_too_long(request, limit)

    def delete_file(self, file_id: str) -> None:
        self._check_file_id(file_id, "DeleteFileRequest")
        with self.lock:
            self._expire_files()
            if self.files.pop(file_id, None) is None:
                raise file_gone(file_id)
            self.gone_at[file_id] = self.clock()
            self.deletions.append(Deletion(f"files/{file_id}", "FILE"))

    def _expire_files(self) -> None:
        """Files live `file_ttl_s` from creation, then the service deletes them."""
        ttl = self.scenario.file_ttl_s
        now = self.clock()
        for file_id in [i for i, f in self.files.items() if now >= f.created + ttl]:
            self.gone_at[file_id] = self.files.pop(file_id).created + ttl

    def file_json(self, sim_file: SimFile, base_url: str, version: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": sim_file.name,
            "displayName": sim_file.display_name,
            "mimeType": sim_file.mime_type,
            "createTime": rfc3339(sim_file.created),
            "updateTime": rfc3339(sim_file.created),
            "expirationTime": rfc3339(sim_file.created + self.scenario.file_ttl_s),
            "uri": f"{base_url}/{version}/{sim_file.name}",
            "state": "ACTIVE",
            "source": "GENERATED" if sim_file.source_batch else "UPLOADED",
        }
        if sim_file.data is not None:
            body["sizeBytes"] = str(len(sim_file.data))
            body["sha256Hash"] = hashlib.sha256(sim_file.data).hexdigest()
        if sim_file.source_batch:
            # The real service names the v1beta download path whatever the version asked.
            body["downloadUri"] = f"{base_url}/download/v1beta/{sim_file.name}:download?alt=media"
        return body

    def spool(self, file_name: str, folder: Path) -> Path:
        """Write a generated output to disk once: a benchmark's server then sends it
        with sendfile, so that it is not the bottleneck of what it measures."""
        file_id = file_name.removeprefix("files/")
        path = folder / f"{file_id}.jsonl"
        with path.open("wb") as out:
            for chunk in self.file_chunks(file_id):
                out.write(chunk)
        with self.lock:
            self.downloads.pop()  # (spooling is no download)
            self._file(file_id).spooled = path
        return path

    def spooled_path(self, file_id: str) -> Path | None:
        """The spooled output to send for a download (logged as one), or None."""
        sim_file = self._file(file_id)
        if sim_file.spooled is None:
            return None
        with self.lock:
            self.downloads.append(sim_file.name)
        return sim_file.spooled

    def file_chunks(self, file_id: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """A download: served whatever the id's length (the download path has no limit)."""
        sim_file = self._file(file_id)
        if sim_file.source_batch is None:
            raise ApiError(400, "Only generated files can be downloaded.", "INVALID_ARGUMENT")
        with self.lock:
            self.downloads.append(sim_file.name)
            batch = self.batches.get(sim_file.source_batch)
        if sim_file.data is not None:
            for start in range(0, len(sim_file.data), chunk_size):
                yield sim_file.data[start : start + chunk_size]
            return
        if batch is None:
            raise file_gone(file_id)
        buffer = bytearray()
        for line in outputs.result_lines(self.scenario, batch, batch.output_rows):
            buffer += line
            if len(buffer) >= chunk_size:
                yield bytes(buffer)
                buffer.clear()
        if buffer:
            yield bytes(buffer)

    # --- batches ----------------------------------------------------------------------
    def create_batch(
        self,
        model: str,
        display_name: str,
        input_file: str | None,
        inline: list[Any] | None,
        embeddings: bool = False,
    ) -> SimBatch:
        with self.lock:
            if input_file is not None:
                self._expire_files()
                sim_file = self.files.get(input_file.removeprefix("files/"))
                if sim_file is None or sim_file.data is None:
                    raise file_gone(input_file.removeprefix("files/"))
                requests = parse_input_lines(sim_file.data)
            else:
                requests = [inline_request(item, n) for n, item in enumerate(inline or [])]
            self._check_enqueued_tokens(model, requests)
            media.note_requests(requests, self.files)
            batch = SimBatch(
                batch_id=self.new_id("batch"),
                display_name=display_name,
                model=model,
                created=self.clock(),
                plan=self.scenario.plan_for(display_name),
                requests=requests,
                input_file=input_file,
                embeddings=embeddings,
            )
            self.batches[batch.batch_id] = batch
            self.creates += 1
            self.created.append((batch.name, display_name))
            self.peak_active = max(self.peak_active, len(self._active()))
            return batch

    def _active(self, model: str | None = None) -> list[SimBatch]:
        return [
            b
            for b in self.batches.values()
            if self.state_of(b) not in TERMINAL and model in (None, b.model)
        ]

    def _check_enqueued_tokens(self, model: str, requests: list[dict[str, Any]]) -> None:
        limit = self.scenario.enqueued_token_limit
        if limit is None:
            return
        queued = sum(prompt_tokens(r["request"]) for b in self._active(model) for r in b.requests)
        wanted = sum(prompt_tokens(r["request"]) for r in requests)
        if queued + wanted > limit:
            raise ApiError(
                429,
                "Resource has been exhausted (e.g. check quota).",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [
                            {
                                "quotaMetric": "generativelanguage.googleapis.com/"
                                "batch_enqueued_tokens",
                                "quotaDimensions": {"model": model.removeprefix("models/")},
                            }
                        ],
                    }
                ],
            )

    def get_batch(self, batch_id: str) -> SimBatch:
        with self.lock:
            if batch_id not in self.batches:
                raise ApiError(404, f"Batch batches/{batch_id} not found.")
            return self.batches[batch_id]

    def cancel_batch(self, batch_id: str) -> None:
        with self.lock:
            batch = self.get_batch(batch_id)
            state = self.state_of(batch)
            if state in TERMINAL:
                raise ApiError(
                    400, f"Batch {batch.name} is already {state}.", "FAILED_PRECONDITION"
                )
            batch.forced = ("CANCELLED", self.clock())

    def delete_batch(self, batch_id: str) -> None:
        with self.lock:
            batch = self.get_batch(batch_id)
            self.deletions.append(Deletion(batch.name, self.state_of(batch)))
            del self.batches[batch_id]

    def force_state(self, name: str, state: str) -> None:
        """Tests: put a job into `state` now, whatever its plan says."""
        with self.lock:
            batch = self.get_batch(name.removeprefix("batches/"))
            batch.forced = (state, self.clock())

    def state_of(self, batch: SimBatch) -> str:
        now = self.clock()
        if batch.forced is not None:
            return batch.forced[0]
        plan = batch.plan
        if now < batch.created + plan.pending_s:
            return "PENDING"
        if plan.outcome == "RUNNING" or now < batch.created + plan.pending_s + plan.running_s:
            return "RUNNING"
        return plan.outcome

    def ended_at(self, batch: SimBatch) -> float | None:
        if batch.forced is not None:
            return batch.forced[1] if batch.forced[0] in TERMINAL else None
        if self.state_of(batch) in TERMINAL:
            return batch.created + batch.plan.pending_s + batch.plan.running_s
        return None

    def _changed_at(self, batch: SimBatch, state: str) -> float:
        """When the job last changed state, as the real service reports updateTime."""
        ended = self.ended_at(batch)
        if ended is not None:
            return ended
        if batch.forced is not None:
            return batch.forced[1]
        if state == "RUNNING":
            return batch.created + batch.plan.pending_s
        return batch.created

    def _refresh_outputs(self) -> None:
        """Create the output file of file-input jobs that have one: succeeded (once
        `output_ready_delay_s` has passed), or failed and cancelled with partial output."""
        for batch in self.batches.values():
            if batch.output_file_id or batch.input_file is None or not self._output_ready(batch):
                continue
            self._settle_media(batch)
            rows = self._rows_given(batch)
            if rows == 0 and self.state_of(batch) != "SUCCEEDED":
                continue
            output = SimFile(
                f"batch-{batch.batch_id}",
                f"batch-{batch.batch_id}",
                "application/jsonl",
                self.clock(),
                None,
                batch.batch_id,
            )
            self.files[output.file_id] = output
            batch.output_file_id = output.file_id
            batch.output_rows = rows

    def _settle_media(self, batch: SimBatch) -> None:
        """Which rows lost their media while the job ran (known once it has ended)."""
        ended = self.ended_at(batch)
        if batch.media_lost is None and ended is not None:
            batch.media_lost = media.lost_rows(batch.requests, ended, self.gone_at)

    def _rows_given(self, batch: SimBatch) -> int:
        return outputs.rows_given(self.scenario, batch, self.state_of(batch), self.ended_at(batch))

    def _output_ready(self, batch: SimBatch) -> bool:
        ended = self.ended_at(batch)
        return ended is not None and self.clock() >= ended + batch.plan.output_ready_delay_s

    def row_failed(self, batch: SimBatch, row: int) -> bool:
        return outputs.row_failed(self.scenario, batch, row)

    def batch_json(self, batch: SimBatch) -> dict[str, Any]:
        with self.lock:
            self._refresh_outputs()
            state = self.state_of(batch)
            now = self.clock()
            metadata: dict[str, Any] = {
                "@type": BATCH_TYPE,
                "model": batch.model,
                "displayName": batch.display_name,
                "createTime": rfc3339(batch.created),
                "updateTime": rfc3339(self._changed_at(batch, state)),
                "batchStats": self._stats(batch, state, now),
                "state": f"BATCH_STATE_{state}",
                "name": batch.name,
            }
            if batch.input_file:
                metadata["inputConfig"] = {"fileName": batch.input_file}
            operation: dict[str, Any] = {"name": batch.name, "metadata": metadata}
            ended = self.ended_at(batch)
            if ended is not None:
                metadata["endTime"] = rfc3339(ended)
                operation["done"] = True
            output = self._output_json(batch, state)
            if output is not None:
                metadata["output"] = output
                operation["response"] = {"@type": OUTPUT_TYPE, **output}
            if state == "FAILED":
                operation["error"] = {"code": 13, "message": batch.plan.error_message}
            return operation

    def _output_json(self, batch: SimBatch, state: str) -> dict[str, Any] | None:
        if state not in TERMINAL:
            return None
        if batch.input_file is None:
            self._settle_media(batch)
            rows = self._rows_given(batch)
            if rows == 0 and state != "SUCCEEDED":
                return None
            items = outputs.inline_items(self.scenario, batch, rows)
            return {"inlinedResponses": {"inlinedResponses": items}}
        if batch.output_file_id:
            return {"responsesFile": f"files/{batch.output_file_id}"}
        return None

    def _stats(self, batch: SimBatch, state: str, now: float) -> dict[str, str]:
        total = len(batch.requests)
        failed = sum(self.row_failed(batch, n) for n in range(total)) if total < 200_000 else 0
        if state == "SUCCEEDED":
            done_ok, done_failed, pending = total - failed, failed, 0
        elif state == "RUNNING":
            start = batch.created + batch.plan.pending_s
            share = min(1.0, max(0.0, (now - start) / max(batch.plan.running_s, 1e-9)))
            finished = int(total * share * 0.95)
            done_failed = int(failed * share * 0.95)
            done_ok, pending = finished - done_failed, total - finished
        elif state in outputs.PARTIAL_OUTCOMES:
            done = self._rows_given(batch)
            done_failed = sum(self.row_failed(batch, n) for n in range(done))
            done_ok, pending = done - done_failed, 0
        else:
            done_ok, done_failed, pending = 0, 0, total if state == "PENDING" else 0
        counts = {
            "requestCount": total,
            "successfulRequestCount": done_ok,
            "failedRequestCount": done_failed,
            "pendingRequestCount": pending,
        }
        return {key: str(value) for key, value in counts.items() if value}
