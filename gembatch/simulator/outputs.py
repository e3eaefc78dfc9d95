"""What a simulated job gives back: which rows it finished, in what order they come
back, and each row's line (file output) or item (inline output).

The real service's shapes, each with its source:
- Output rows come back in any order, file and inline alike (python-genai#1909; a public
  post-mortem of 17,148 scrambled pages; shared/gemini-batch-api.md §0.12): by default
  the rows are shuffled, seeded by the job, so a client that joins by position fails.
- Nothing says a FAILED or CANCELLED job has no output (§0.5): by default some of them
  (`Scenario.partial_output_rate`, seeded per job) carry the rows they finished before
  they ended.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gembatch.simulator.answers import embedding_for, response_for
from gembatch.simulator.media import missing_error

if TYPE_CHECKING:
    from gembatch.simulator.objects import SimBatch
    from gembatch.simulator.scenario import Scenario

PARTIAL_OUTCOMES = frozenset({"FAILED", "CANCELLED"})


def row_failed(scenario: Scenario, batch: SimBatch, row: int) -> bool:
    if batch.media_lost and row in batch.media_lost:
        return True
    rate = batch.plan.failed_row_rate
    return rate > 0 and scenario.chance("row", batch.batch_id, row) < rate


def row_order(scenario: Scenario, batch: SimBatch, rows: int) -> list[int]:
    """The order the first `rows` rows come back in (§0.12: any order, seeded here)."""
    order = list(range(rows))
    if scenario.output_order == "shuffled":
        random.Random(f"{scenario.seed}|order|{batch.batch_id}").shuffle(order)
    return order


def has_partial_output(scenario: Scenario, batch: SimBatch, state: str) -> bool:
    """Whether a failed or cancelled job carries the rows it finished (§0.5)."""
    rate = scenario.partial_output_rate
    return (
        state in PARTIAL_OUTCOMES and rate > 0 and scenario.chance("partial", batch.batch_id) < rate
    )


def finished_share(batch: SimBatch, ended_at: float) -> float:
    """How far through its requests a job got by the moment it ended."""
    started = batch.created + batch.plan.pending_s
    if batch.plan.running_s <= 0:
        return 1.0 if ended_at >= started else 0.0
    return min(1.0, max(0.0, (ended_at - started) / batch.plan.running_s))


def rows_given(scenario: Scenario, batch: SimBatch, state: str, ended_at: float | None) -> int:
    """How many rows the job's output holds (0: it has none)."""
    total = len(batch.requests)
    if state == "SUCCEEDED":
        return max(0, total - batch.plan.dropped_output_rows)
    if ended_at is None or not has_partial_output(scenario, batch, state):
        return 0
    # A job that failed on its own plan ran its whole time before failing; a cancelled
    # one got as far as the moment it was cancelled. Half, at most: it did not finish.
    return int(total * min(0.5, finished_share(batch, ended_at)))


def result_item(scenario: Scenario, batch: SimBatch, row: int) -> dict[str, Any]:
    """One output row: `response`, or `error` for a failed row; `key` when the input had one."""
    request = batch.requests[row]
    item: dict[str, Any] = dict(request.get("extra") or {})  # copied back (§0.4)
    if batch.media_lost and row in batch.media_lost:
        item["error"] = missing_error(batch.media_lost[row])
    elif row_failed(scenario, batch, row):
        item["error"] = {
            "code": 3,
            "message": f"Simulated failure of row {row}.",
            "status": "INVALID_ARGUMENT",
        }
    else:
        answer = embedding_for if batch.embeddings else response_for
        item["response"] = answer(batch.plan, batch.model, request)
    if request.get("key") is not None:
        item["key"] = request["key"]
    return item


def result_lines(scenario: Scenario, batch: SimBatch, rows: int) -> Iterator[bytes]:
    """The output file's lines: `rows` rows, in the order the service gives them."""
    for row in row_order(scenario, batch, rows):
        yield (json.dumps(result_item(scenario, batch, row)) + "\n").encode()


def inline_items(scenario: Scenario, batch: SimBatch, rows: int) -> list[dict[str, Any]]:
    """An inline job's `inlinedResponses`: the key moves into `metadata`, as on the wire."""
    items = []
    for row in row_order(scenario, batch, rows):
        item = result_item(scenario, batch, row)
        if "key" in item:
            item["metadata"] = {"key": item.pop("key")}
        items.append(item)
    return items
