"""Command palette: jump to any job by name, and every monitor action by its name.

Names are shown as written: a file called `012-[red]x.jsonl` is never read as markup.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content

from gembatch.tui.screens.job_actions import retry_label
from gembatch.tui.widgets.job_table import JobTable


def _monitor(provider: Provider):  # -> MonitorScreen | None, without importing it here
    for screen in reversed(provider.app.screen_stack):
        if screen.query(JobTable):
            return screen
    return None


def _plain(text: str) -> Content:
    return Content(text)  # never parsed as markup


class JumpToJob(Provider):
    """Finds jobs by input file or batch name and moves the cursor to them."""

    def _tables(self) -> list[JobTable]:
        """The job tables on the screens below the palette (the monitor's)."""
        return [table for screen in self.app.screen_stack for table in screen.query(JobTable)]

    def _jobs(self) -> list[tuple[str, str, str]]:
        return [
            (job.key, job.label, f"{job.state_info.icon} {job.state_info.label}")
            for table in self._tables()
            for job in table.jobs.values()
        ]

    def _jump(self, key: str) -> None:
        for table in self._tables():
            table.move_to(key)

    async def discover(self) -> Hits:
        for key, label, state in self._jobs():
            yield DiscoveryHit(_plain(f"Jump to {label}"), partial(self._jump, key), help=state)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for key, label, state in self._jobs():
            score = matcher.match(label)
            if score > 0:
                yield Hit(
                    score,
                    _highlight(matcher, label),
                    partial(self._jump, key),
                    help=f"jump to this job · {state}",
                )


def _highlight(matcher, label: str) -> Content:
    """The matched letters in bold, on the name exactly as written."""
    content = _plain(label)
    _score, offsets = matcher.fuzzy_search.match(matcher.query, label)
    for offset in offsets:
        content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class MonitorCommands(Provider):
    """The monitor's actions, named after the job under the cursor where they act on it."""

    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        monitor = _monitor(self)
        if monitor is None:
            return []
        job = monitor.table.job_under_cursor
        paused = monitor.paused
        commands: list[tuple[str, Callable[[], object], str]] = [
            ("Poll now", monitor.action_poll_now, "check every unfinished job now (r)"),
            (
                "Resume polling" if paused else "Pause polling",
                monitor.action_toggle_pause,
                "p",
            ),
            ("Sort the table", monitor.action_cycle_sort, "state, duration, end time, name (s)"),
            ("Filter by name", monitor.action_filter_text, "/"),
            ("Quit", self.app.action_quit, "q; the job file is always consistent"),
        ]
        if job is not None:
            commands.append((f"Details of {job.label}", monitor.action_show_detail, "enter"))
            if (job.batch_name or job.queue_place) and not job.state_info.terminal:
                commands.append((f"Cancel {job.label}", monitor.action_cancel_job, "c"))
            again = retry_label(job)
            if again is not None:
                commands.append((again, monitor.action_retry, "R; asks first"))
            if job.results_file:
                commands.append(
                    (f"Browse the results of {job.label}", monitor.action_browse_results, "v")
                )
                commands.append(
                    (f"Copy the results path of {job.label}", monitor.action_copy_path, "y")
                )
        return commands

    async def discover(self) -> Hits:
        for name, run, hint in self._commands():
            yield DiscoveryHit(_plain(name), run, help=hint)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, run, hint in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, _highlight(matcher, name), run, help=hint)
