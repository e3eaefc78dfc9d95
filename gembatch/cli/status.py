"""`gembatch status`: the job file by state, with tokens and cost; no network, no lock."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gembatch import exit_codes, prices
from gembatch.cli.errors import CommandError, error
from gembatch.cli.settings import configured, price_overrides
from gembatch.cli.status_count import Counted, count_jobs
from gembatch.formatting import plural
from gembatch.intake.media_records import on_server_line
from gembatch.jobfile.file import JobFile
from gembatch.problems import strays_problem
from gembatch.report import summary
from gembatch.report.limits import Limits, over_budget


def load_existing(args: argparse.Namespace) -> JobFile:
    """The job file the command is about; it must exist and hold jobs."""
    job_file = named_existing(args)
    job_file.read()
    problem = job_file.no_jobs()
    if problem:
        raise CommandError(problem)
    return job_file


def named_existing(args: argparse.Namespace) -> JobFile:
    """The job file the command is about, not read yet; it must exist."""
    path = Path(args.job_info)
    job_file = JobFile(path)
    job_file.check_readable()  # (first: a folder that cannot be entered says so)
    if not job_file.exists:
        raise CommandError(f"no job file at {path}; submit jobs first, or pass --job-info FILE")
    return job_file


def problems_of(job_file: JobFile, strays: int) -> list[str]:
    """Lines that do not parse, and objects that are not jobs (`strays`: records with
    neither a batch name nor a submit id, as counted): the file needs a look."""
    problems = job_file.bad_line_messages()  # (none for a file only scanned)
    stray = strays_problem(job_file.path, strays)
    return [*problems, stray] if stray else problems


def cmd_status(args: argparse.Namespace) -> int:
    job_file = JobFile(Path(args.job_info))
    if not job_file.exists:
        raise CommandError(
            f"no job file at {job_file.path}; submit jobs first, or pass --job-info FILE"
        )
    overrides = price_overrides(configured("prices"))
    keep = args.list or args.failed or args.json
    seen = count_jobs(job_file, overrides, keep)
    if not seen.totals.total and not seen.bad_lines:
        raise CommandError(
            f"{job_file.path} holds no jobs; submit jobs first, or pass --job-info FILE"
        )
    bad_lines = [job_file.bad_line_message(bad) for bad in seen.bad_lines]
    seen.limits = Limits.in_bad_lines(seen.bad_lines, str(job_file.path)) or seen.limits
    problems = [*bad_lines, *problems_of(job_file, seen.strays)]
    if seen.limits is not None and seen.limits.problem:
        problems.append(seen.limits.problem)
    code = exit_codes.with_problems(seen.totals.exit_code(), problems)
    now = job_file.clock.now()
    if args.json:
        report = _status_json(
            job_file, seen.jobs, seen.totals, seen.cost, overrides, problems, code, now
        )
        report.update(_limits_json(seen.limits or Limits(), seen.spend, seen.queued))
        print(json.dumps(report, indent=2))
    else:
        listed = seen.jobs if args.list else [j for j in seen.jobs if summary.did_not_succeed(j)]
        _print_groups(job_file.path, listed, seen.totals, args.list or args.failed, now)
        if seen.cost.line():
            print(seen.cost.line())
        for line in [*_limits_lines(seen), on_server_line(seen.media)]:
            if line:
                print(line)
        for message in problems:
            error(message)
    return code


def _limits_lines(seen: Counted) -> list[str]:
    limits, spend, queued = seen.limits or Limits(), seen.spend, seen.queued
    lines = []
    if limits.problem:  # fail closed: nothing queued is created until it is fixed
        held = f"; {plural(queued, 'part')} queued, held" if queued else ""
        return [f"budget: unreadable (the limits line is damaged){held}"]
    if limits.max_cost_usd is not None or spend.committed:
        lines.append(f"budget: {spend.line(limits.max_cost_usd)}")
    most = f" (at most {limits.max_running} running)" if limits.max_running else ""
    next_cost = seen.next_estimate or 0.0
    if queued and over_budget(spend, next_cost, limits.max_cost_usd):
        lines.append(
            f"queue: {plural(queued, 'part')} waiting for budget: the next (≈ "
            f"{prices.dollars(next_cost)}) would take the spend to "
            f"{prices.dollars(spend.total + next_cost, limits.max_cost_usd)}; raise it with "
            "`gembatch submit --max-cost USD`"
        )
    elif queued:
        lines.append(f"queue: {plural(queued, 'part')} waiting{most}; `gembatch poll` creates them")
    elif limits.max_running is not None:
        lines.append(f"queue: empty{most}")
    return lines


def _limits_json(limits: Any, spend: Any, queued: int) -> dict[str, Any]:
    return {
        "budget_usd": limits.max_cost_usd,
        "limits_problem": limits.problem or None,
        "max_running": limits.max_running,
        "spent_usd": round(spend.actual, 6),
        "expected_usd": round(spend.committed, 6),
        "queued": queued,
    }


def _print_groups(
    path: Path, jobs: list[Any], totals: summary.Totals, listing: bool, now: float
) -> None:
    from gembatch.cli.table import job_rows

    print(f"{path}: {plural(totals.total, 'job')}")
    rows: dict[str, str] = {}
    if listing:  # one alignment for every row
        rows = dict(zip((j.key for j in jobs), job_rows(jobs, now), strict=True))
    for group in summary.GROUPS:
        count = totals.counts[group]
        if not count and group == "other":
            continue
        note = ""
        if group == "succeeded" and totals.unsaved:
            note += f"  ({totals.unsaved} with results not saved yet: run `gembatch poll`)"
        if group == "succeeded" and totals.failed_rows:
            note += (
                f"  ({plural(totals.failed_rows, 'failed row')} in "
                f"{plural(totals.jobs_with_failed_rows, 'job')}; see their results files)"
            )
        print(f"  {group:<18} {count:>6}{note}")
        if listing:
            for job in jobs:
                if summary.group_of(job) == group:
                    print(f"      {rows[job.key]}")


def _status_json(
    job_file: JobFile,
    jobs: list[Any],
    totals: summary.Totals,
    cost: summary.Cost,
    overrides: dict,
    problems: list[str],
    code: int,
    now: float,
) -> dict[str, Any]:
    from gembatch.report.progress import RunProgress

    run_eta, not_started = RunProgress.of(jobs, {}).eta(now)
    return {
        "job_file": str(job_file.path),
        "total": totals.total,
        "counts": {
            group.replace(" ", "_").replace("/", "_"): n for group, n in totals.counts.items()
        },
        "failed_rows": totals.failed_rows,
        "unsaved_results": totals.unsaved,
        "prompt_tokens": cost.prompt_tokens,
        "output_tokens": cost.output_tokens,
        "estimated_cost_usd": round(cost.dollars, 6) if cost.priced else None,
        # When the slowest job with progress should end at its rate so far; the run's
        # end is later still while jobs have not started (`jobs_without_progress`).
        "eta_seconds": None if run_eta is None else round(run_eta),
        "jobs_without_progress": not_started,
        "exit_code": code,
        "problems": problems,
        "jobs": [_job_json(job, overrides, now) for job in jobs],
    }


def _job_json(job: Any, overrides: dict, now: float) -> dict[str, Any]:
    from gembatch.report.progress import job_eta

    eta = job_eta(job, now)
    usage = job.usage or {}
    cost = summary.job_cost(job, overrides)
    return {
        "input_file": job.input_file,
        "batch_name": job.batch_name,
        "state": job.state,
        "group": summary.group_of(job),
        "requests": job.request_count,
        "done": job.done_count,
        "failed_rows": job.failed_count,
        "create_time": job.create_time,
        "end_time": job.end_time,
        "results_file": job.results_file,
        "remote_deleted": job.remote_deleted,
        "last_error": job.last_error,
        "prompt_tokens": usage.get("promptTokenCount"),
        "output_tokens": usage.get("candidatesTokenCount"),
        "estimated_cost_usd": None if cost is None else round(cost, 6),
        "estimate_usd": job.estimate_usd,
        "queue_place": job.queue_place,
        "eta_seconds": None if eta is None else round(eta),
    }
