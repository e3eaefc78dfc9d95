"""Uploads followed by the byte: a reader that counts what the SDK reads, and how the
count is shown (a bar with rate and ETA in a terminal, a line per 10% otherwise)."""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from gembatch import formatting


class CountedReader(io.RawIOBase):
    """A file the SDK uploads from, telling how many bytes it has read so far."""

    mode = "rb"

    def __init__(self, path: Path, on_progress: Callable[[int, int], None] | None) -> None:
        self._file = path.open("rb")
        self.total = os.fstat(self._file.fileno()).st_size
        self.sent = 0
        self.on_progress = on_progress

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        self.sent += len(chunk)
        if self.on_progress is not None and chunk:
            self.on_progress(self.sent, self.total)
        return chunk

    def close(self) -> None:
        self._file.close()
        super().close()


class UploadProgress:
    """`on_progress` for one upload, drawn on `stream`."""

    def __init__(self, label: str, stream: TextIO = sys.stdout) -> None:
        self.label = label
        self.stream = stream
        self.live = stream.isatty()
        self.started = time.monotonic()  # a rate, not a date: the monotonic clock
        self._shown = -1

    def __call__(self, sent: int, total: int) -> None:
        fraction = sent / total if total else 1.0
        if self.live:
            self._draw(sent, total, fraction)
            return
        step = int(fraction * 10)  # a line per 10%, for logs
        if step != self._shown:
            self._shown = step
            print(f"uploading {self.label}: {fraction:.0%}", file=self.stream, flush=True)

    def _draw(self, sent: int, total: int, fraction: float) -> None:
        elapsed = max(1e-6, time.monotonic() - self.started)
        rate = sent / elapsed
        left = (total - sent) / rate if rate else 0.0
        filled, empty = formatting.bar(fraction, 24)
        line = (
            f"\r{self.label} {filled}{empty} {fraction:4.0%} "
            f"{formatting.byte_size(sent)}/{formatting.byte_size(total)} "
            f"{formatting.byte_size(int(rate))}/s ETA {formatting.duration(left)}  "
        )
        self.stream.write(line)
        if sent >= total:
            self.stream.write("\n")
        self.stream.flush()
