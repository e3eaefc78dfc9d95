"""The cycle's survey: many unfinished jobs read through the paged list, one call per
100 jobs, instead of one `get` each (issue 25)."""

from __future__ import annotations

import math

from gembatch.engine.book import CycleBook
from gembatch.engine.events import ListingJobs
from gembatch.gemini.client import AuthError, GeminiClient, GeminiError, RemoteJob
from gembatch.jobfile.file import JobRecord

# With this many unfinished jobs a cycle reads them through the paged list instead of
# one `get` each: 1,000 jobs cost about 10 calls instead of 1,000, 8 jobs one call
# instead of 8 (when they are among the project's newest, as jobs being polled are).
# The screen then shows the survey as one call, and highlights only the rows that
# have a request of their own in flight (issue 25).
LIST_THRESHOLD = 8
LIST_PAGE_SIZE = 100
LIST_SLACK_PAGES = 20


async def survey(
    client: GeminiClient, book: CycleBook, visits: list[JobRecord]
) -> dict[str, RemoteJob]:
    """Read many unfinished jobs through the paged list: one call per 100 jobs.

    Only worth it for many jobs; anything the list does not show, or shows as
    finished, is still read with its own `get` (finished jobs need their output).
    """
    wanted = {str(r.batch_name) for r in visits if not r.is_terminal}
    if len(wanted) < LIST_THRESHOLD:
        return {}
    found: dict[str, RemoteJob] = {}
    max_pages = 2 * math.ceil(len(wanted) / LIST_PAGE_SIZE) + LIST_SLACK_PAGES
    pages = 0
    book.emit(ListingJobs(pages, max_pages))
    try:
        async for page in client.list_batch_pages(LIST_PAGE_SIZE):
            pages += 1
            found.update((job.name, job) for job in page if job.name in wanted)
            if len(found) == len(wanted) or pages >= max_pages:
                break
            book.emit(ListingJobs(pages, max_pages))
    except AuthError:
        raise
    except GeminiError as error:  # fall back to one get per job for the rest
        book.fail(
            f"listing jobs failed ({error}); checking them one by one",
            transient=error.retryable,
            error=error,
        )
    finally:
        book.emit(ListingJobs(pages, max_pages, done=True))
    return found
