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
        records = list(records)
        keep: set[int] = set()
        for group in merge.groups(records).values():
            if not self._settled(group):
                keep.update(map(id, group))
        return [record for record in records if id(record) in keep]

    def _settled(self, group: list[JobRecord]) -> bool:
        """Nothing left to do for any record of the group, merge included."""
        if not all(r.batch_name and lifecycle.handled(r, self.keep_remote) for r in group):
            return False
        if not merge.needs_merge(group) or not lifecycle.group_ready(group, self.base):
            return True
        stamp = merge.signature(group)
        return all(r.data.get("merged_signature") == stamp for r in group)
