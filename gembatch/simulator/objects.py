"""The simulator's things: an uploaded or generated file, a batch job, a delete call.

Plain records, below both the store that keeps them and the outputs made from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gembatch.simulator.scenario import JobPlan


@dataclass
class SimFile:
    """An uploaded input file, or a generated output file whose bytes are made on demand."""

    file_id: str
    display_name: str
    mime_type: str
    created: float
    data: bytes | None = None
    source_batch: str | None = None  # set for generated outputs
    spooled: Path | None = None  # an output written to disk once, served by sendfile

    @property
    def name(self) -> str:
        return f"files/{self.file_id}"


@dataclass
class SimBatch:
    """A batch job and the plan that drives its timeline."""

    batch_id: str
    display_name: str
    model: str
    created: float
    plan: JobPlan
    requests: list[dict[str, Any]]
    input_file: str | None = None
    cancelled_at: float | None = None
    forced: tuple[str, float] | None = None  # (state, at) set by a test or cancel
    output_file_id: str | None = None
    output_rows: int = 0  # how many rows its output file holds
    embeddings: bool = False  # an embeddings batch (`asyncBatchEmbedContent`)
    media_lost: dict[int, str] | None = None  # rows whose media were gone as it ran

    @property
    def name(self) -> str:
        return f"batches/{self.batch_id}"


@dataclass
class Deletion:
    """A record of a delete call, so tests can prove nothing running was deleted."""

    name: str
    state: str
