"""`gembatch export`: an input's results as CSV, flat JSONL or Parquet; no network."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from gembatch import exit_codes, states
from gembatch.atomic import AtomicFile
from gembatch.cli.errors import CommandError
from gembatch.cli.status import load_existing
from gembatch.formatting import plural
from gembatch.jobfile.file import JobFile
from gembatch.results.export import (
    ExportError,
    ExportReport,
    results_files,
    rows,
    write,
    write_parquet,
)


def cmd_export(args: argparse.Namespace) -> int:
    job_file = load_existing(args)
    base = job_file.path.parent
    source = args.input.resolve()
    try:
        name = str(source.relative_to(base.resolve()))
    except ValueError:
        name = str(source)
    if not source.is_file():
        raise CommandError(f"{args.input}: no such input file", exit_codes.EXIT_BAD_INPUT)
    files = [path for path in results_files(job_file, name) if path.is_file()]
    if not files:
        raise CommandError(_why_no_results(args.input, job_file, name), exit_codes.EXIT_SOME_FAILED)
    try:
        report = _write(args, source, files)
    except ExportError as problem:
        raise CommandError(str(problem), exit_codes.EXIT_BAD_INPUT) from None
    where = str(args.output) if args.output else "stdout"
    note = f", {plural(report.failed, 'failed row')}" if report.failed else ""
    print(f"wrote {plural(report.rows, 'row')} to {where}{note}", file=sys.stderr)
    return exit_codes.EXIT_SOME_FAILED if report.failed else exit_codes.EXIT_OK


def _write(args: argparse.Namespace, source: Path, files: list[Path]) -> ExportReport:
    stream = rows(source, files)
    if args.format == "parquet":
        if args.output is None:
            raise ExportError("Parquet is binary: pass -o FILE.parquet")
        return write_parquet(stream, args.output)
    if args.output is None:
        return write(stream, sys.stdout, args.format)
    # Written beside and renamed over: a killed export never leaves half a table.
    with AtomicFile(Path(args.output), suffix=".part") as handle:
        out = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        report = write(stream, out, args.format)
        out.flush()
        out.detach()
    return report


def _why_no_results(shown: object, job_file: JobFile, name: str) -> str:
    """Why an input has no results on disk, and what will bring them."""
    from gembatch.jobfile import lifecycle
    from gembatch.results.merge import group_key

    group = [r for r in job_file.records if group_key(r) == name or r.input_file == name]
    if not group:
        return f"{shown}: no job in {job_file.path} ran it; submit it with `gembatch submit`"
    if all(r.is_terminal for r in group) and not any(lifecycle.results_wanted(r) for r in group):
        ended = sorted({states.info(r.effective_state).label for r in group})
        return (
            f"{shown}: no results: its {plural(len(group), 'job')} {', '.join(ended)} as a "
            "whole; `gembatch retry` submits its requests again"
        )
    return (
        f"{shown}: no results on disk yet; run `gembatch poll` until its jobs have finished "
        "(see `gembatch status --list`)"
    )
