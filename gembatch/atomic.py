"""Files written whole or not at all: the one temp-file-and-rename writer.

Every file gembatch writes (the job file, results, merged results, split parts, retry
inputs) goes through `AtomicFile`: a temp file beside the destination, flushed and
fsynced, given its final mode, renamed over the destination, and the folder fsynced.
A crash at any instant leaves the old file or the new one, and at worst a temp file
whose name starts with a dot and ends in `.tmp` or `.part`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import BinaryIO


class AtomicFile:
    """`with AtomicFile(dest) as handle:` writes `dest` whole when the block succeeds.

    An exception in the block, or `discard()`, removes the temp file and leaves `dest`
    as it was. `mode` defaults to what a plainly created file gets (temp files start at
    0600, too tight for results people share); `before_replace` runs just before the
    rename (tests use it to look at the instant of no return).
    """

    def __init__(
        self,
        dest: Path,
        *,
        mode: int | None = None,
        suffix: str = ".tmp",
        before_replace: Callable[[], None] | None = None,
    ) -> None:
        self.dest = dest
        self.folder = dest.parent if str(dest.parent) else Path(".")
        self.mode = new_file_mode() if mode is None else mode
        self.suffix = suffix
        self.before_replace = before_replace
        self.tmp_name = ""
        self._handle: BinaryIO | None = None
        self._discarded = False

    def __enter__(self) -> BinaryIO:
        fd, self.tmp_name = tempfile.mkstemp(
            dir=self.folder, prefix=f".{self.dest.name}.", suffix=self.suffix
        )
        self._handle = os.fdopen(fd, "wb")
        return self._handle

    def discard(self) -> None:
        """Keep the destination as it was; the temp file goes."""
        self._discarded = True

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        assert self._handle is not None
        try:
            if kind is None and not self._discarded:
                self._commit(self._handle)
                return
        except BaseException:
            self._abandon(self._handle)
            raise
        self._abandon(self._handle)

    def _abandon(self, handle: BinaryIO) -> None:
        with contextlib.suppress(OSError):
            handle.close()
        with contextlib.suppress(OSError):
            os.unlink(self.tmp_name)

    def _commit(self, handle: BinaryIO) -> None:
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.chmod(self.tmp_name, self.mode)
        if self.before_replace is not None:
            self.before_replace()
        os.replace(self.tmp_name, self.dest)
        fsync_folder(self.folder)


def fsync_folder(folder: Path) -> None:
    """Make a rename durable: fsync the folder that holds it."""
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def new_file_mode() -> int:
    """The mode a plainly created file gets under the current umask."""
    current = os.umask(0)
    os.umask(current)
    return 0o666 & ~current
