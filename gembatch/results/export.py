"""An input's results as a table: one row per request, in input order.

Key, the prompt text (from the input), the response text and, when the response is
JSON (structured output), its parsed value; finish reason, token counts, and the
error of a failed row. Rows stream out as the input is read: only the results' key
index (as the merge builds it) is held in memory, never the rows.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from gembatch.inputs import read_requests
from gembatch.jobfile.file import JobFile
from gembatch.results import merge
from gembatch.results.index import parse_row

FORMATS = ("csv", "jsonl", "parquet")
COLUMNS = (
    "key",
    "status",
    "prompt",
    "response",
    "response_json",
    "finish_reason",
    "prompt_tokens",
    "output_tokens",
    "error",
)
NO_RESULT = "no result for this request (not finished, or lost)"


class ExportError(Exception):
    """The export cannot start; the message says what to do."""


@dataclass
class ExportReport:
    rows: int = 0
    failed: int = 0


def results_files(job_file: JobFile, source: str) -> list[Path]:
    """The results files of every job (parts and retries) that came from `source`."""
    base = job_file.path.parent
    group = merge.groups(job_file.records).get(source, [])
    return [base / str(r.results_file) for r in group if r.results_file]


def rows(source: Path, files: list[Path]) -> Iterator[dict[str, Any]]:
    """One dict per request of `source`, in its order."""
    index = merge.index_results(files)  # a success is never replaced by a failure
    handles = [path.open("rb") for path in files]
    try:
        for request in read_requests(source):
            found = index.get(request.key)
            line = merge.line_at(handles[found[0]], found[1]) if found else None
            yield _row(request.key, request.data, line)
    finally:
        for handle in handles:
            handle.close()


def _row(key: str, request_line: bytes, result_line: bytes | None) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row["key"] = key
    row["prompt"] = _prompt_text(json.loads(request_line))
    if result_line is None:
        row.update(status="failed", error=NO_RESULT)
        return row
    result = parse_row(0, result_line)
    usage = (result.item.get("response") or {}).get("usageMetadata") or {}
    row.update(
        status="ok" if result.ok else "failed",
        response=result.text if result.ok else None,
        response_json=_json_or_none(result.text) if result.ok else None,
        finish_reason=result.finish_reason or None,
        prompt_tokens=usage.get("promptTokenCount"),
        output_tokens=usage.get("candidatesTokenCount"),
        error=None if result.ok else result.error,
    )
    return row


def _prompt_text(request_line: dict) -> str:
    request = request_line.get("request", request_line)
    texts = []
    for content in request.get("contents") or []:
        for part in content.get("parts") or [] if isinstance(content, dict) else []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
    return "\n".join(texts)


def _json_or_none(text: str) -> Any:
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        return json.loads(stripped)
    except ValueError:
        return None


def write(rows: Iterator[dict[str, Any]], out: IO[str], fmt: str) -> ExportReport:
    report = ExportReport()
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
    for row in rows:
        report.rows += 1
        report.failed += row["status"] != "ok"
        if fmt == "csv":
            if row["response_json"] is not None:
                row = {**row, "response_json": json.dumps(row["response_json"])}
            writer.writerow(row)
        else:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return report


def write_parquet(
    rows: Iterator[dict[str, Any]], dest: Path, batch_rows: int = 50_000
) -> ExportReport:
    """Parquet in row groups of `batch_rows`, so memory stays bounded."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ExportError(
            "Parquet needs pyarrow: pip install 'gembatch[parquet]' (or use --format csv)"
        ) from None
    schema = pa.schema(
        [(name, pa.int64() if name.endswith("_tokens") else pa.string()) for name in COLUMNS]
    )
    report = ExportReport()
    with pq.ParquetWriter(dest, schema) as writer:
        chunk: list[dict[str, Any]] = []
        for row in rows:
            report.rows += 1
            report.failed += row["status"] != "ok"
            if row["response_json"] is not None:
                row = {**row, "response_json": json.dumps(row["response_json"])}
            chunk.append(row)
            if len(chunk) >= batch_rows:
                writer.write_table(pa.Table.from_pylist(chunk, schema))
                chunk = []
        if chunk or not report.rows:
            writer.write_table(pa.Table.from_pylist(chunk, schema))
    return report
