"""Command palette: jump to any job by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class JumpToJob(Provider):
    """Finds jobs by input file or batch name and moves the cursor to them."""

    def _jobs(self) -> list[tuple[str, str]]:
        from gembatch.screens.monitor import MonitorScreen

        screen = self.app.screen_stack[0] if self.app.screen_stack else None
        for candidate in self.app.screen_stack:
            if isinstance(candidate, MonitorScreen):
                screen = candidate
        if not isinstance(screen, MonitorScreen):
            return []
        return [(job.key, job.label) for job in screen.table.jobs.values()]

    def _jump(self, key: str) -> None:
        from gembatch.screens.monitor import MonitorScreen

        for screen in self.app.screen_stack:
            if isinstance(screen, MonitorScreen):
                screen.table.move_to(key)

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
