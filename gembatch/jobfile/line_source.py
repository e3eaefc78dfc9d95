"""Where a loaded record's line lives: in the job file it was read from, by offset.

A long history is mostly settled records that no run changes, and holding each one's
line in memory for the next rewrite cost as much memory as the file (700 MB at a
million records). A record read from disk keeps only where its line is in the file it
came from, whose inode stays open here: another process's rewrite renames a new file
over the path and leaves this one as it was. A rewrite copies runs of such lines back
in large reads (`chunks`). A record that is changed keeps its original line in memory
(`JobRecord.raw` pins it), because the merge compares it with the disk later.

Only another program writing into the file in place (every gembatch writer renames)
can move what is at an offset; `intact` tells, and the job file then trusts the disk
over these offsets (see `JobFile._merge`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from gembatch.errors import BadInput

# A span packs a line's offset and length in one int (one object a record, not two).
LENGTH_BITS = 32
LENGTH_MASK = (1 << LENGTH_BITS) - 1
# A rewrite reads runs of unchanged lines up to this size at once.
RUN_BYTES = 1 << 20


class LineMoved(BadInput):
    """A line is no longer where it was read: another program cut the file in place."""


def span(offset: int, length: int) -> int:
    return offset << LENGTH_BITS | length


def unpacked(packed: int) -> tuple[int, int]:
    """A span's offset and length."""
    return packed >> LENGTH_BITS, packed & LENGTH_MASK


def span_length(packed: int) -> int:
    return packed & LENGTH_MASK


class LineSource:
    """An open job file (its inode, whatever name it has by now) that records read
    their lines from."""

    __slots__ = ("covered", "digest", "fd", "name", "status")

    def __init__(self, fd: int, name: str) -> None:
        self.fd = fd
        self.name = name  # for messages only
        # (inode, size, mtime) when read or last found to hold its lines: as
        # `JobFile._disk_signature` gives them for the path.
        self.status = self._status()
        # The bytes records point into (whole lines from the start) and their SHA-1.
        self.covered, self.digest = 0, b""

    @classmethod
    def of(cls, handle: BinaryIO, name: str) -> LineSource | None:
        """The file `handle` reads, kept open for as long as a record needs it; None
        where lines cannot be read back by offset (no `os.pread`: Windows)."""
        if not hasattr(os, "pread"):
            return None
        return cls(os.dup(handle.fileno()), name)

    @classmethod
    def open(cls, path: str, name: str) -> LineSource | None:
        if not hasattr(os, "pread"):
            return None
        return cls(os.open(path, os.O_RDONLY), name)

    def cover(self, length: int, digest: bytes) -> None:
        self.covered, self.digest = length, digest

    def _status(self) -> tuple[int, int, int]:
        status = os.fstat(self.fd)
        return status.st_ino, status.st_size, status.st_mtime_ns

    def read(self, packed: int) -> bytes:
        offset, length = unpacked(packed)
        try:
            data = os.pread(self.fd, length, offset)
        except OSError:  # (a file on NFS replaced from another host: ESTALE)
            raise self.moved() from None
        if len(data) != length:
            raise self.moved()
        return data

    def intact(self) -> bool:
        """Nothing was written into this file since it was read (or last found to
        hold its lines)."""
        try:
            return self._status() == self.status
        except OSError:
            return False

    def unmoved(self) -> bool:
        """Whether the lines records point at are still where they were, reading the
        file again if it was written into (an append leaves them)."""
        if self.intact():
            return True
        try:
            before = self._status()
            digest, at = hashlib.sha1(), 0
            while at < self.covered:
                block = os.pread(self.fd, min(RUN_BYTES, self.covered - at), at)
                if not block:
                    return False
                digest.update(block)
                at += len(block)
            return self._trusted_if(digest.digest(), before)
        except OSError:
            return False

    def holds(self, current: bytes, read_at: tuple[int, int, int] | None) -> bool:
        """`unmoved`, given `current`: the bytes of the file at the path, read when it
        had the signature `read_at` (taken before the read). Only bytes of this very
        file, unchanged since they were read, can say its lines are still there."""
        if self.intact():
            return True
        return self._trusted_if(hashlib.sha1(current[: self.covered]).digest(), read_at)

    def _trusted_if(self, digest: bytes, read_at: tuple[int, int, int] | None) -> bool:
        try:
            now = self._status()
        except OSError:
            return False
        if now != read_at or digest != self.digest:  # (changed since, or another file)
            return False
        self.status = now
        return True

    def moved(self) -> LineMoved:
        return LineMoved(
            f"{self.name} was rewritten in place by another program while gembatch ran; "
            "run the command again"
        )

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def chunks(pieces: Iterable[tuple[LineSource | None, int, bytes | None]]) -> Iterator[bytes]:
    """The bytes of a rewrite: each piece is a line in memory, or a span of a source;
    spans that follow each other in one source are read together (a history of a
    million unchanged lines is a few hundred reads, not a million)."""
    run_source: LineSource | None = None
    run_start = run_end = 0
    for source, packed, line in pieces:
        if source is not None:
            offset, length = unpacked(packed)
            if source is run_source and offset == run_end and run_end - run_start < RUN_BYTES:
                run_end += length
                continue
            if run_source is not None:
                yield run_source.read(span(run_start, run_end - run_start))
            run_source, run_start, run_end = source, offset, offset + length
            continue
        if run_source is not None:
            yield run_source.read(span(run_start, run_end - run_start))
            run_source = None
        assert line is not None
        yield line
    if run_source is not None:
        yield run_source.read(span(run_start, run_end - run_start))
