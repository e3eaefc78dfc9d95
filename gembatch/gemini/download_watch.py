"""A download's write target: counts bytes for the progress bar and the stall watchdog,
and tells our own disk's failures (full, read-only) from the network's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, BinaryIO

from gembatch.gemini.remote import TransientError

DOWNLOAD_STALL_S = 120.0  # no byte for this long: the download is given up and retried


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


async def download_watched(
    aio: Any,
    types: Any,
    name: str,
    destination: BinaryIO,
    on_progress: Callable[[int], None] | None,
) -> int:
    """One download of a generated file through the SDK into `destination`; returns the
    bytes written. Large files take long: no total timeout, but a stall watchdog."""
    writer = WatchedWriter(destination, on_progress)
    config = types.DownloadFileConfig(http_options=types.HttpOptions(timeout=24 * 3600 * 1000))
    task = asyncio.ensure_future(aio.files.download(file=name, destination=writer, config=config))
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=min(5.0, DOWNLOAD_STALL_S / 4))
            if done:
                task.result()
                return writer.written
            if time.monotonic() - writer.last_progress > DOWNLOAD_STALL_S:
                task.cancel()
                raise TransientError(
                    f"download of {name} stalled for {DOWNLOAD_STALL_S:.0f}s; will retry"
                )
    finally:
        if not task.done():
            task.cancel()
