"""`submit`, `cancel`, `cleanup` and `retry`: the commands that act on the server."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from gembatch import exit_codes
from gembatch.cli.errors import CommandError, error
from gembatch.cli.settings import client_options, configured, pick, price_overrides
from gembatch.formatting import plural
from gembatch.jobfile.file import JobFile


def say(line: str) -> None:
    """Progress to stdout; a problem (`error: ...`) to stderr with the one prefix."""
    if line.startswith("error: "):
        error(line.removeprefix("error: "))
    else:
        print(line, flush=True)


def _job_file(args: argparse.Namespace) -> JobFile:
    return JobFile.load(Path(args.job_info))


def _existing_job_file(args: argparse.Namespace) -> JobFile:
    """For cancel, cleanup and retry: a missing job file is said before the key is asked
    for (exit 4, not 5)."""
    from gembatch.cli.status import load_existing

    return load_existing(args)


def with_client(job: Callable[[Any], Awaitable[int]]) -> int:
    """Run `job(client)` and close the client; errors go to `errors.run` to be mapped."""
    from gembatch.gemini.client import GeminiClient

    client = GeminiClient(**client_options())  # no key: AuthError, exit 5

    async def go() -> int:
        try:
            return int(await job(client))
        finally:
            await client.close()

    return asyncio.run(go())


def _submitter(job_file: JobFile, client: Any, args: argparse.Namespace) -> Any:
    """A submitter for the flags and config; under the job file's limits, parts queue."""
    from gembatch import prices
    from gembatch.cli.settings import price_overrides
    from gembatch.config import storage_bytes
    from gembatch.gemini.upload_progress import UploadProgress
    from gembatch.inputs import DEFAULT_MAX_BYTES
    from gembatch.intake.submit import Submitter, options_under
    from gembatch.report.limits import Limits

    model = getattr(args, "model", None) or configured("model")
    options = options_under(
        Limits.of(job_file),
        model,
        prices.price_for(model, price_overrides(configured("prices"))),
        max_requests=getattr(args, "max_requests", None),
        max_bytes=getattr(args, "max_bytes", None) or DEFAULT_MAX_BYTES,
        force=getattr(args, "force", False),
        expect_output_tokens=getattr(args, "expect_output_tokens", None),
        sample=getattr(args, "sample", None) or 200,
        files_storage_bytes=storage_bytes(configured("files_storage_gb")),
    )
    return Submitter(job_file, client, options, say=say, upload_progress=UploadProgress)


def _limits_given(args: argparse.Namespace) -> Any:
    """`--max-cost` and `--max-running` (or the config's), checked: one line if not valid."""
    from gembatch.limit_rules import LimitError, checked_cost, checked_running
    from gembatch.report.limits import Limits

    try:
        cost = checked_cost(pick(args.max_cost, configured("max_cost")))
        running = checked_running(pick(args.max_running, configured("max_running")))
        return Limits(cost, running)
    except LimitError as problem:
        raise CommandError(f"{problem}; nothing was submitted", exit_codes.EXIT_BAD_INPUT) from None


def cmd_submit(args: argparse.Namespace) -> int:
    from gembatch.cli.prepare import building, input_for_submit

    if building(args):  # requests made from files, lines or a table first
        args.inputs = [input_for_submit(args, list(args.inputs))]
    missing = [str(path) for path in args.inputs if not Path(path).is_file()]
    if missing:  # said before anything else, the key included: nothing was sent
        raise CommandError(f"no such input file: {', '.join(missing)}; nothing was submitted")
    limits = _limits_given(args)
    if not args.inputs and not (args.max_cost or args.max_running):
        raise CommandError(
            "name the input files to submit (or give --max-cost / --max-running alone to "
            "change the job file's limits)"
        )
    if args.dry_run:
        return with_client(lambda client: _dry_run(args, client))
    job_file = _job_file(args)

    async def job(client: Any) -> int:
        from gembatch.report.limits import save_limits

        changed = save_limits(job_file, limits)  # kept in the job file: later runs honour them
        if changed and not args.inputs:
            print(f"limits of {job_file.path}: {changed}")
        submitter = _submitter(job_file, client, args)
        report = await submitter.submit(list(args.inputs))
        launched = await _launch_queued(job_file, submitter)
        print(_submitted_line(report, launched.waiting))
        if report.bad_inputs or _limits_unreadable(job_file):
            return exit_codes.EXIT_BAD_INPUT
        if report.refused_for_budget:  # a sound input, over the budget: not bad input
            return exit_codes.EXIT_SOME_FAILED
        return exit_codes.EXIT_OK

    return with_client(job)


def _submitted_line(report: Any, waiting: int) -> str:
    """`2 jobs created, 0 recovered, 1 input skipped, 0 inputs refused; ...`."""
    refused = len(report.bad_inputs) + len(report.refused_for_budget)
    line = (
        f"{plural(len(report.created), 'job')} created, {len(report.adopted):,} recovered, "
        f"{plural(len(report.skipped), 'input')} skipped, {plural(refused, 'input')} refused"
    )  # (the launcher's creates are in `created`)
    if waiting:
        line += (
            f"; {plural(waiting, 'part')} queued: `gembatch poll` creates them as the limits allow"
        )
    return line


def _limits_unreadable(job_file: JobFile) -> bool:
    """The limits line is damaged (said by the queue as it held the parts): exit 4."""
    from gembatch.report.limits import Limits

    return bool(Limits.of(job_file).problem)


async def _dry_run(args: argparse.Namespace, client: Any) -> int:
    """What `submit` would make and cost; nothing is written, uploaded or created."""
    from gembatch import prices
    from gembatch.cli.settings import price_overrides
    from gembatch.inputs import DEFAULT_MAX_BYTES, InputError, plan_input
    from gembatch.intake import estimate

    model = args.model or configured("model")
    price = prices.price_for(model, price_overrides(configured("prices")))
    estimates, refused = [], 0
    for path in args.inputs:
        try:
            plan = plan_input(path, args.max_requests, args.max_bytes or DEFAULT_MAX_BYTES)
        except InputError as problem:
            error(f"{problem}; this input would be refused")
            refused += 1
            continue
        found = await estimate.estimate(
            plan, str(path), client, model, price, args.expect_output_tokens, args.sample
        )
        estimates.append(found)
        print(found.line())
    if len(estimates) > 1:
        print(estimate.total(estimates).line())
    if price is None:
        print(f"no price known for {model}: add it to the config's [prices] for a cost")
    elif args.expect_output_tokens is None:
        print("output tokens are not priced: pass --expect-output-tokens N per request")
    print(
        f"model {model}, prices of {prices.PRICES_AS_OF}; dry run: nothing was uploaded or created"
    )
    return exit_codes.EXIT_BAD_INPUT if refused else exit_codes.EXIT_OK


def cmd_cancel(args: argparse.Namespace) -> int:
    from gembatch.engine.actions import cancel_jobs

    job_file = _existing_job_file(args)
    return with_client(lambda client: cancel_jobs(job_file, client, args.jobs, say))


def cmd_cleanup(args: argparse.Namespace) -> int:
    from gembatch.engine.actions import plan_cleanup, run_cleanup

    job_file = _existing_job_file(args)

    async def job(client: Any) -> int:
        plan = await plan_cleanup(job_file, client, say)
        if not plan:
            job_file.save()
            print("nothing to delete")
            return exit_codes.EXIT_OK
        print("will delete:")
        for item in plan:
            print(f"  {item.record.display_name}: {_deletion_line(item)}")
        if not args.yes:
            if not sys.stdin.isatty():
                raise CommandError(
                    "not deleting without confirmation; pass -y to delete without asking",
                    exit_codes.EXIT_USAGE,
                )
            answer = input(f"delete these {plural(len(plan), 'job')} and their files? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing deleted")
                return exit_codes.EXIT_OK
        return await run_cleanup(job_file, client, plan, say)

    # A running poller cleans up finished jobs by itself; two at once would race.
    with job_file.poller_lock():
        return with_client(job)


def _deletion_line(item: Any) -> str:
    """`batches/x, files/y and 40 media files (1.2 MB)`: a job's names, its media counted."""
    from gembatch.formatting import byte_size
    from gembatch.intake.media_records import sizes_of

    sizes = sizes_of(item.record)
    others = [name for name in item.names if name not in sizes]
    media = [name for name in item.names if name in sizes]
    if not media:
        return ", ".join(others)
    total = byte_size(sum(sizes[name] for name in media))
    return f"{', '.join(others)} and {plural(len(media), 'media file')} ({total})"


def cmd_retry(args: argparse.Namespace) -> int:
    from gembatch.engine.actions import retry_failed

    job_file = _existing_job_file(args)

    async def job(client: Any) -> int:
        submitter = _submitter(job_file, client, args)
        code = await retry_failed(job_file, client, submitter, say)
        await _launch_queued(job_file, submitter)  # under limits, retries queue too
        return exit_codes.EXIT_BAD_INPUT if _limits_unreadable(job_file) else code

    return with_client(job)


async def _launch_queued(job_file: JobFile, submitter: Any) -> Any:
    """Create the queued parts the job file's limits allow now; say what still waits."""
    from gembatch.engine.queue import Launcher

    launched = await Launcher(
        job_file,
        submitter,
        overrides=price_overrides(configured("prices")),
        say=lambda message, key: say(message),
    ).launch_due()
    return launched
