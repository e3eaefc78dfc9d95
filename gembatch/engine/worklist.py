"""The records a poll cycle still has to look at.

A job file that has run for months holds thousands of jobs that are finished, saved
and cleaned up. Each cycle scanned them all (checks, warnings, merges, cleanup), so an
idle cycle over 100,000 records took seconds. Here whole groups (an input with its
parts and retries) leave the list once nothing is left to do for any of them, and come
back only when the set of records changes (a submit, a retry, another process's edit),
when the list is rebuilt from the job file.
"""

from __future__ import annotations

import bisect
import threading
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path

from gembatch.jobfile import fields, lifecycle
from gembatch.jobfile.file import JobFile, JobRecord
from gembatch.jobfile.view import JobView
from gembatch.report.history import History
from gembatch.results import merge

# A record's flags in a pass (one byte each).
_HANDLED, _MERGING, _KEEP = 1, 2, 4


class WorkList:
    """The job file's records less the settled groups, in file order; the settled ones
    counted in `history` (`gembatch.report.history`)."""

    def __init__(self, job_file: JobFile, base: Path, keep_remote: bool) -> None:
        self.job_file = job_file
        self.history = History()
        # Views of the records that settled in this run's cycles (its summary lists them).
        self.settled_now: list[JobView] = []
        self.base = base
        self.keep_remote = keep_remote
        self._generation: tuple[int, int] | None = None
        self._working: list[JobRecord] = []
        # The hashes of the groups that left, sorted (8 bytes a group, not a dict of
        # lists: a million settled records are the common case). A record appended to
        # one of them (a retry, a resubmit) makes the list be rebuilt; any other append
        # just joins it.
        self._settled = array("q")
        self.rebuilds = 0
        self._reading = threading.Lock()  # the monitor reads a big file in a thread
        self.strays = 0  # records with neither a batch name nor a submit id
        # Bumped whenever the list changes: what is not on it (settled) changed too.
        self.version = 0

    def records(self) -> list[JobRecord]:
        generation = self.job_file.generation
        if self._generation != generation:
            known = self._generation
            if (  # anything but records appended (by a submit, another process) rebuilds
                known is None
                or known[0] != generation[0]
                or known[1] > generation[1]
                or not self._take_in(self.job_file.entries[known[1] :])
            ):
                self._rebuild()
            self._generation = self.job_file.generation  # (a first read changed it)
        return self._working

    def set_prices(self, overrides: dict) -> None:
        """Price overrides for the history's cost and spend (counted again from the file)."""
        self.history = History(overrides)
        self._generation = None

    def _rebuild(self) -> None:
        self._settled = array("q")
        self.history = History(self.history.overrides)
        if self.job_file.loaded:
            self._working = self._unsettled(self.job_file.records, fresh=True)
        else:  # only named so far: read, each record parsed once for the read and the pass
            self._working = self._read_unsettled()
        self.rebuilds += 1
        self.version += 1

    def _read_unsettled(self) -> list[JobRecord]:
        """`_unsettled` of the whole file, as it is read: its first pass in the read's
        one parse of each line."""
        with self._reading:  # (one read: a second asker waits, then finds it read)
            if self.job_file.loaded:
                return self._unsettled(self.job_file.records, fresh=True)
            return self._read_and_sort()

    def _read_and_sort(self) -> list[JobRecord]:
        records: list[JobRecord] = []
        flags = bytearray()
        groups: dict[int, int | list[int]] = {}
        self.strays = 0

        def visit(record: JobRecord, obj: dict) -> None:
            records.append(record)
            flags.append(0)
            with record.parsed_as(obj):
                self._group_one(len(records) - 1, record, flags, groups, fresh=True)

        self.job_file.read(visit)
        self._mark_work_left(records, groups, flags, fresh=True)
        return self._kept_warm(records, flags, fresh=True)

    def settle(self) -> None:
        """After a cycle: drop the groups it finished with."""
        before = len(self.records())
        self._working = self._unsettled(self.records(), fresh=False)
        if len(self._working) != before:  # (settling only ever takes groups away)
            self.version += 1

    def _take_in(self, appended: Sequence[object]) -> bool:
        """Records another process (or a submit) appended, into the list without looking
        at the rest; False when one belongs to a settled group (rebuild instead)."""
        records = [record for record in appended if type(record) is JobRecord]
        for record in records:
            with record.warmed():
                digest = hash(merge.group_key(record))
            at = bisect.bisect_left(self._settled, digest)
            if at < len(self._settled) and self._settled[at] == digest:
                return False
        for record in records:
            record.warm()
            self._working.append(record)
        self.version += 1
        return True

    def _unsettled(self, records: Iterable[JobRecord], fresh: bool) -> list[JobRecord]:
        """The records of unsettled groups, kept parsed (warm); settled ones are counted
        into the history and go cold. `fresh`: the whole file, read for the first time,
        so each handled record is counted in its one parse, and taken back out if its
        group turns out to have work left (few: they stay parsed anyway)."""
        # Three passes, each one loop (a million records: no call per record here), with
        # a byte of flags a record and each group by its key's hash and its records'
        # places: what a million records cost at their peak is what the pass holds.
        records = list(records)
        flags = bytearray(len(records))
        groups = self._grouped(records, flags, fresh)
        self._mark_work_left(records, groups, flags, fresh)
        return self._kept_warm(records, flags, fresh)

    def _grouped(
        self, records: list[JobRecord], flags: bytearray, fresh: bool
    ) -> dict[int, int | list[int]]:
        """The records' places by group (one place for a group of one), and each one's
        flags: handled, and whether it can make its group want a merge."""
        groups: dict[int, int | list[int]] = {}
        if fresh:
            self.strays = 0
        for n, record in enumerate(records):  # one parse per record, whatever the size
            with record.warmed():
                self._group_one(n, record, flags, groups, fresh)
        return groups

    def _group_one(
        self,
        n: int,
        record: JobRecord,
        flags: bytearray,
        groups: dict[int, int | list[int]],
        fresh: bool,
    ) -> None:
        """Record `n` (parsed) into its group, with its flags; on a fresh pass, counted
        into the history when handled."""
        digest = hash(merge.group_key(record))
        known = groups.setdefault(digest, n)
        if known != n:
            if isinstance(known, int):
                groups[digest] = [known, n]
            else:
                known.append(n)
        if merge.needs_a_look(record):
            flags[n] |= _MERGING
        if fresh:  # (the view the history counts, built once, says it all)
            view = JobView.of(record, whole=False)
            if fields.keyed_by_input(view.key):
                self.strays += 1
            if lifecycle.view_handled(view, self.keep_remote):
                flags[n] |= _HANDLED
                self.history.add(view)
        elif lifecycle.handled(record, self.keep_remote):
            flags[n] |= _HANDLED

    def _mark_work_left(
        self,
        records: list[JobRecord],
        groups: dict[int, int | list[int]],
        flags: bytearray,
        fresh: bool,
    ) -> None:
        """Flag the records whose group still has work; the other groups are remembered
        as settled."""
        settled: list[int] = []
        for digest, places in groups.items():
            members = [places] if isinstance(places, int) else places
            lone = len(members) == 1 and not flags[members[0]] & _MERGING  # (no merge)
            handled = all(flags[n] & _HANDLED for n in members)
            if handled and (lone or self._merged([records[n] for n in members])):
                settled.append(digest)
                continue
            for n in members:
                flags[n] |= _KEEP
            if fresh:
                self._take_back(records[n] for n in members if flags[n] & _HANDLED)
        self._remember_settled(settled)

    def _kept_warm(
        self, records: list[JobRecord], flags: bytearray, fresh: bool
    ) -> list[JobRecord]:
        """The kept records, in file order and parsed; the others go cold (counted into the
        history first when they settled in this run's cycle)."""
        working = []
        for record, flag in zip(records, flags, strict=True):
            if flag & _KEEP:
                record.warm()
                working.append(record)
            else:
                if not fresh:  # settled in this run's cycle: counted now, listed at the end
                    view = JobView.of(record, whole=False)
                    self.history.add(view)
                    self.settled_now.append(view)
                record.cool()
        return working

    def _take_back(self, records: Iterable[JobRecord]) -> None:
        for record in records:
            record.warm()  # (kept on the work list, parsed, from here on)
            self.history.remove(JobView.of(record, whole=False))

    def settled_records(self) -> Iterable[JobRecord]:
        """The job file's records that are not on the list, in file order."""
        working = set(map(id, self.records()))
        return (r for r in self.job_file.records if id(r) not in working)

    def _remember_settled(self, digests: list[int]) -> None:
        """Add the groups that settled now: none in most cycles, and then the sorted
        array is left as it is (copying it cost an idle cycle 15 ms at 100,000 records)."""
        if len(digests) < 64:  # a few: each slid into its place
            for digest in digests:
                bisect.insort(self._settled, digest)
        else:
            self._settled = array("q", sorted([*self._settled, *digests]))

    def _merged(self, group: list[JobRecord]) -> bool:
        """A handled group's merge is done, or there is nothing to merge."""
        if not merge.wants_merge(group):
            return True
        for record in group:
            record.warm()
        if not lifecycle.group_ready(group, self.base):
            return True
        stamp = merge.signature(group)
        return all(r.data.get("merged_signature") == stamp for r in group)
