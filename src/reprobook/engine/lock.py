"""One run at a time per run directory.

``reprobook run`` and ``reprobook train`` hold an exclusive, non-blocking ``flock`` on a lock file
in their run directory while they work, so a second command pointed at the same directory is
refused at once with one line instead of both writing there and one result being lost. The lock
belongs to the open file, so the system releases it when its process dies, however it dies; the
file itself is removed when the run ends. Where ``fcntl`` does not exist (Windows) runs are not
locked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_NAME = ".reprobook.lock"


class RunDirBusy(RuntimeError):
    """Another process is running in this run directory."""


@contextmanager
def run_dir_lock(directory: str | os.PathLike, *, option: str = "--out") -> Iterator[Path]:
    """Hold the run lock of ``directory`` (created if needed) for the ``with`` block.

    Raises :class:`RunDirBusy` at once if another process holds it.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_NAME
    if fcntl is None:  # pragma: no cover
        yield path
        return
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunDirBusy(f"{directory} is in use by another run (process {holder}); "
                             f"wait for it to end or choose another {option}") from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:  # not a file its previous holder removed while we opened it
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield path
    finally:
        try:
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)
