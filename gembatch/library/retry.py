"""`Run.retry_failed`: `gembatch retry` for one run's input, through the same code."""

from __future__ import annotations

from pathlib import Path

from gembatch import prices
from gembatch.engine.actions import retry_failed
from gembatch.errors import BadInput
from gembatch.gemini.client import GeminiClient
from gembatch.intake.submit import Submitter, options_under
from gembatch.jobfile.file import JobFile
from gembatch.library.work import Said, Settings
from gembatch.report.limits import Limits


async def retry_group(path: Path, source: Path, settings: Settings) -> None:
    """Submit the requests of `source` that have no success, linked to it (the merge
    and the answers then prefer a retry's success to the earlier failure)."""
    job_file = JobFile.load(path)
    limits = Limits.of(job_file)
    price = prices.price_for(settings.model, settings.prices)
    client = GeminiClient(settings.api_key, settings.base_url, **settings.client_options)
    submitter = Submitter(
        job_file, client, options_under(limits, settings.model, price, inline=settings.inline)
    )
    relative = str(source.relative_to(path.parent))
    said = Said()
    try:
        await retry_failed(job_file, client, submitter, said, only=relative)
    finally:
        submitter.close()
        await client.close()
    if said.errors:
        raise BadInput(said.errors[0])
