"""The records a poll cycle still has to look at.

A job file that has run for months holds thousands of jobs that are finished, saved
and cleaned up. Each cycle scanned them all (checks, warnings, merges, cleanup), so an
idle cycle over 100,000 records took seconds. Here whole groups (an input with its
parts and retries) leave the list once nothing is left to do for any of them, and come
back only when the set of records changes (a submit, a retry, another process's edit),
when the list is rebuilt from the job file.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gembatch import lifecycle, merge
from gembatch.jobfile import JobFile, JobRecord


class WorkList:
    """The job file's records less the settled groups, in file order."""

    def __init__(self, job_file: JobFile, base: Path, keep_remote: bool) -> None:
        self.job_file = job_file
        self.base = base
        self.keep_remote = keep_remote
        self._generation: tuple[int, int] | None = None
        self._working: list[JobRecord] = []
        self.rebuilds = 0

    def records(self) -> list[JobRecord]:
        if self._generation != self.job_file.generation:
            self._generation = self.job_file.generation
            self._working = self._unsettled(self.job_file.records)
            self.rebuilds += 1
        return self._working

    def settle(self) -> None:
        """After a cycle: drop the groups it finished with."""
        self._working = self._unsettled(self.records())

    def _unsettled(self, records: Iterable[JobRecord]) -> list[JobRecord]:
        """The records of unsettled groups, kept parsed (warm); settled ones go cold."""
        records = list(records)
        groups: dict[str, list[JobRecord]] = {}
        handled: set[int] = set()
        for record in records:  # one parse per record, whatever the size of the file
            with record.warmed():
                groups.setdefault(merge.group_key(record), []).append(record)
                if lifecycle.handled(record, self.keep_remote):
                    handled.add(id(record))
        keep: set[int] = set()
        for group in groups.values():
            if not all(id(r) in handled for r in group) or not self._merged(group):
                keep.update(map(id, group))
        working = []
        for record in records:
            if id(record) in keep:
                record.warm()
                working.append(record)
            else:
                record.cool()
        return working

    def _merged(self, group: list[JobRecord]) -> bool:
        """A handled group's merge is done, or there is nothing to merge."""
        if not merge.needs_merge(group):
            return True
        for record in group:
            record.warm()
        if not lifecycle.group_ready(group, self.base):
            return True
        stamp = merge.signature(group)
        return all(r.data.get("merged_signature") == stamp for r in group)
