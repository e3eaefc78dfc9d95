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


def span_length(packed: int) -> int:
    return packed & LENGTH_MASK


class LineSource:
    """An open job file (its inode, whatever name it has by now) that records read
    their lines from."""

    __slots__ = ("covered", "digest", "fd", "mtime_ns", "name", "size")

    def __init__(self, fd: int, name: str) -> None:
        self.fd = fd
        self.name = name  # for messages only
        self.size, self.mtime_ns = self._status()
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

    def _status(self) -> tuple[int, int]:
        status = os.fstat(self.fd)
        return status.st_size, status.st_mtime_ns

    def read(self, packed: int) -> bytes:
        offset, length = packed >> LENGTH_BITS, packed & LENGTH_MASK
        data = os.pread(self.fd, length, offset)
        if len(data) != length:
            raise self.moved()
        return data

    def intact(self) -> bool:
        """Nothing was written into this file since it was read (or last `holds`)."""
        try:
            return self._status() == (self.size, self.mtime_ns)
        except OSError:
            return False

    def unmoved(self) -> bool:
        """`holds`, reading what the file holds now for itself."""
        if self.intact():
            return True
        digest, at = hashlib.sha1(), 0
        while at < self.covered:
            block = os.pread(self.fd, min(RUN_BYTES, self.covered - at), at)
            if not block:
                return False
            digest.update(block)
            at += len(block)
        return self._trusted_if(digest.digest())

    def holds(self, current: bytes) -> bool:
        """Whether the lines records point at are still there, given what the file
        (when it is this one: written into in place) holds now; from then on it is
        taken as intact."""
        if self.intact():
            return True
        return self._trusted_if(hashlib.sha1(current[: self.covered]).digest())

    def _trusted_if(self, digest: bytes) -> bool:
        if digest != self.digest:
            return False
        with contextlib.suppress(OSError):
            self.size, self.mtime_ns = self._status()
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
            offset, length = packed >> LENGTH_BITS, packed & LENGTH_MASK
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
