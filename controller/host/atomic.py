"""Write a set of files as one: all of them complete, or none of them.

Each file is written to a hidden temporary file in the target directory (same
file system, so a rename is atomic), flushed to disk, and renamed into place
only when every file of the set is complete. Ctrl-C (SIGINT) and SIGTERM are held back while
the renames run, so an interrupt never leaves half a set (report.json without
report.png); an exception or interrupt before then removes the temporary files
and leaves the directory as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path

from controller.host.interrupts import signals_deferred


class FileSet:
    """The files being written; ask :meth:`path` for where to write each one."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.staged: dict[Path, Path] = {}
        """Final path -> temporary path."""
        self.removed: list[Path] = []
        """Files of the set this run has none of: an earlier run's copy must not stay beside the new ones."""

    def path(self, name: str) -> Path:
        """A temporary path to write ``name`` at (same suffix, so tools that go by it still work)."""
        final = self.directory / name
        temporary = self.directory / f".{final.stem}.{secrets.token_hex(4)}.partial{final.suffix}"
        self.staged[final] = temporary
        return temporary

    def write_text(self, name: str, text: str) -> None:
        self.path(name).write_text(text, encoding="utf-8")

    def write_bytes(self, name: str, data: bytes) -> None:
        self.path(name).write_bytes(data)

    def remove(self, name: str) -> None:
        """``name`` is part of the set but absent from this one: removed with the renames, if it is there."""
        self.removed.append(self.directory / name)

    def discard(self) -> None:
        for temporary in self.staged.values():
            with contextlib.suppress(OSError):
                temporary.unlink()

    def commit(self) -> None:
        """Flush every file to disk, then rename them all into place with Ctrl-C held back."""
        for temporary in self.staged.values():
            _fsync(temporary)
        with signals_deferred(signal.SIGINT, signal.SIGTERM):
            for final, temporary in self.staged.items():
                os.replace(temporary, final)
            for stale in self.removed:
                with contextlib.suppress(FileNotFoundError):
                    stale.unlink()
            with contextlib.suppress(OSError):
                _fsync(self.directory)


@contextlib.contextmanager
def atomic_files(directory: Path) -> Iterator[FileSet]:
    """``with atomic_files(out) as files: files.write_text("a.json", ...)``: all renamed in at the end."""
    files = FileSet(directory)
    try:
        yield files
        files.commit()
    finally:
        files.discard()  # after a commit there is nothing left to discard


def write_text_atomic(path: Path, text: str) -> None:
    """One file, written whole or not at all."""
    with atomic_files(path.parent) as files:
        files.write_text(path.name, text)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
