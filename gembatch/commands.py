"""Command palette: jump to any job by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from gembatch.widgets.job_table import JobTable


class JumpToJob(Provider):
    """Finds jobs by input file or batch name and moves the cursor to them."""

    def _tables(self) -> list[JobTable]:
        """The job tables on the screens below the palette (the monitor's)."""
        return [table for screen in self.app.screen_stack for table in screen.query(JobTable)]

    def _jobs(self) -> list[tuple[str, str]]:
        return [(job.key, job.label) for table in self._tables() for job in table.jobs.values()]

    def _jump(self, key: str) -> None:
        for table in self._tables():
            table.move_to(key)

    async def discover(self) -> Hits:
        for key, label in self._jobs():
            yield DiscoveryHit(f"Jump to {label}", partial(self._jump, key), help=key)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for key, label in self._jobs():
            score = matcher.match(label)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(label),
                    partial(self._jump, key),
                    help="jump to this job",
                )
