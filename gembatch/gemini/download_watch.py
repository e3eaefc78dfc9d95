"""A download's write target: counts bytes for the progress bar and the stall watchdog,
and tells our own disk's failures (full, read-only) from the network's."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import BinaryIO


class LocalWriteFailed(Exception):
    """Writing the download to our own disk failed (full, read-only): not the network's
    fault, and not worth a retry; the caller gets the OSError itself."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class WatchedWriter:
    """A write target that counts bytes and notes when the last chunk came."""

    def __init__(self, target: BinaryIO, on_progress: Callable[[int], None] | None) -> None:
        self.target = target
        self.on_progress = on_progress
        self.written = 0
        self.last_progress = time.monotonic()

    def write(self, chunk: bytes) -> int:
        try:
            self.target.write(chunk)
        except OSError as error:
            raise LocalWriteFailed(error) from None
        self.written += len(chunk)
        self.last_progress = time.monotonic()
        if self.on_progress is not None:
            self.on_progress(self.written)
        return len(chunk)


def rewind(handle: BinaryIO) -> None:
    handle.seek(0)
    handle.truncate()
