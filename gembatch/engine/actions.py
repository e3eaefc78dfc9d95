"""`cancel`, `cleanup` and `retry`: acting on jobs the job file knows, and only those."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gembatch import exit_codes, states
from gembatch.engine.cleanup import delete_remote, record_cleaned, remote_names
from gembatch.engine.queue import cancel_queued
from gembatch.gemini.client import AuthError, GeminiClient, GeminiError, NotFoundError
from gembatch.inputs import InputError, part_path, plan_input, read_requests, write_selected
from gembatch.intake.submit import Submitter
from gembatch.jobfile import lifecycle
from gembatch.jobfile.file import JobFile, JobRecord
from gembatch.results import merge

Say = Callable[[str], None]


def find_jobs(job_file: JobFile, target: str) -> list[JobRecord]:
    """Jobs named by batch name, input file, or the source input they were split from."""
    return [
        r
        for r in job_file.records
        if target in (r.batch_name, r.input_file, r.data.get("source_file"))
    ]


async def cancel_jobs(job_file: JobFile, client: GeminiClient, targets: list[str], say: Say) -> int:
    """Ask the server to cancel each named job that is still pending or running."""
    problems = unknown = 0
    for target in targets:
        records = find_jobs(job_file, target)
        if not records:
            say(f"error: no job named {target!r} in {job_file.path}")
            unknown += 1
            continue
        for record in records:
            label = f"{record.display_name} ({record.batch_name})"
            if record.queued:
                say(cancel_queued(job_file, record))
            elif not record.batch_name:
                say(f"{record.display_name}: not created yet; nothing to cancel")
            elif not lifecycle.cancellable(record):
                say(f"{label}: already {states.info(record.effective_state).label}")
            else:
                try:
                    await client.cancel_batch(record.batch_name)
                except AuthError:
                    raise  # the key: nothing else will work either (exit 5)
                except GeminiError as error:
                    say(f"error: {error}")
                    problems += 1
                    continue
                record.raw["cancel_requested_at"] = job_file.clock.iso()
                say(f"{label}: cancel requested; `gembatch poll` records the outcome")
    job_file.save()
    if unknown:
        return exit_codes.EXIT_BAD_INPUT
    return exit_codes.EXIT_SOME_FAILED if problems else exit_codes.EXIT_OK


@dataclass
class Deletion:
    """One finished job and the remote things that belong to it."""

    record: JobRecord
    names: list[str]


async def plan_cleanup(job_file: JobFile, client: GeminiClient, say: Say) -> list[Deletion]:
    """Check each known job on the server; keep only finished ones with results saved."""
    base = job_file.path.parent
    plan: list[Deletion] = []
    for record in job_file.records:
        if not record.batch_name or record.remote_deleted or record.missing:
            continue
        try:
            remote = await client.get_batch(record.batch_name)
        except NotFoundError as answer:
            # One answer is not "gone" (`gone`): a running job can answer 404 once.
            # `gembatch poll` asks again over its cycles and records what it means.
            say(
                f"{record.display_name}: {answer}; kept (`gembatch poll` checks it again "
                "and records it if it is gone)"
            )
            continue
        remote.update(record.ensure_batch())  # what the server says now is what is judged
        if not states.is_terminal(remote.state):
            say(f"{record.display_name}: still {states.info(remote.state).label}; kept")
            continue
        if not lifecycle.may_delete(record, base, confirmed_finished=True):
            say(f"{record.display_name}: results not saved yet; kept (run `gembatch poll`)")
            continue
        names = remote_names(record, remote.output_file, job_file.records)
        plan.append(Deletion(record, names))
    return plan


async def run_cleanup(
    job_file: JobFile, client: GeminiClient, plan: list[Deletion], say: Say
) -> int:
    problems = 0
    for item in plan:
        try:
            cleaned = await delete_remote(client, item.names)
        except AuthError:
            raise
        except GeminiError as error:
            say(f"error: {error}")
            problems += 1
            continue
        record_cleaned(item.record, cleaned, job_file.clock)
        say(f"{item.record.display_name}: {cleaned.line()}")
    job_file.save()
    return exit_codes.EXIT_SOME_FAILED if problems else exit_codes.EXIT_OK


async def retry_failed(
    job_file: JobFile,
    client: GeminiClient,
    submitter: Submitter,
    say: Say,
    only: str | None = None,
) -> int:
    """Resubmit the rows without a success, linked to their source so merges fill in:
    rows that failed inside a job, and every row of a job that failed, expired, was
    cancelled or went missing as a whole. `only`: one source input (the monitor's)."""
    base = job_file.path.parent
    submitted = problems = 0
    for source, group in merge.groups(job_file.records).items():
        if only is not None and source != only:
            continue
        outcome = await _retry_source(source, group, base, submitter, say)
        if outcome == "submitted":
            submitted += 1
        elif outcome == "problem":
            problems += 1
    if not submitted and not problems:
        say("nothing to retry: every finished row has a success")
    return exit_codes.EXIT_BAD_INPUT if problems else exit_codes.EXIT_OK


# What retrying one source input came to: "skipped" is nothing to do (yet), not a problem.
RetryOutcome = Literal["submitted", "problem", "skipped"]


async def _retry_source(
    source: str, group: list[JobRecord], base: Path, submitter: Submitter, say: Say
) -> RetryOutcome:
    """Resubmit one finished source input's rows without a success as its next retry part."""
    if not lifecycle.group_finished(group, base):
        if any(r.batch_name and not r.is_terminal for r in group):
            say(f"{source}: still running; retry it when it has finished")
        return "skipped"
    failed = failed_keys(source, group, base)
    if failed is None:
        say(
            f"error: cannot retry {source}: the input file is gone, and retry reads the "
            "failed requests from it"
        )
        return "problem"
    if not failed:
        return "skipped"
    number = 1 + max(int(r.data.get("retry_number", 0) or 0) for r in group)
    dest = part_path(base / source, f"retry-{number}")
    write_selected(base / source, failed, dest)
    try:
        plan = plan_input(dest, submitter.options.max_requests, submitter.options.max_bytes)
    except InputError as error:
        say(f"error: {error}")
        return "problem"
    say(f"{source}: retrying {len(failed):,} failed rows as {submitter.relative(dest)}")
    await submitter.submit_plan(
        plan,
        {
            "source_file": source,
            "retry_of": sorted(str(r.batch_name) for r in group if r.batch_name),
            "retry_number": number,
        },
    )
    return "submitted"


def failed_keys(source: str, group: list[JobRecord], base: Path) -> set[str] | None:
    """Keys of the source's requests with no successful result in any job of the group."""
    path = base / source
    if not path.is_file():
        return None
    files = [base / str(r.results_file) for r in group if r.results_file]
    index = merge.index_results([f for f in files if f.is_file()])
    return {
        request.key
        for request in read_requests(path)
        if not (request.key in index and index[request.key][2])
    }
