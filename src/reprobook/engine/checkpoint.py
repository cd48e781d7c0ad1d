"""Checkpoints: written atomically, loaded safely, failing with one clear line.

A checkpoint is written to a temporary file in the target's folder, flushed to disk, then
renamed over the target (``os.replace`` is atomic on POSIX and Windows), so a process killed
while writing leaves either the old checkpoint or the new one, never a truncated file.
Loading uses ``torch.load(..., weights_only=True)``: a checkpoint holds tensors and plain
containers only, never pickled code.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, corrupted or from an incompatible model."""


# the process's umask, read once (reading it means setting it): mkstemp creates 0600 files, and a
# written checkpoint or record gets the mode a plain ``open`` would have given it instead
_UMASK = os.umask(0)
os.umask(_UMASK)

STALE_TEMPORARY_S = 24 * 3600  # a temporary this old is an orphan even if its writer's pid was reused


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that writers of ``path`` killed mid-write left behind.

    Temporaries are named ``.<target name>.<writer pid>.<random>.tmp``; one whose writer is gone
    (or that is older than :data:`STALE_TEMPORARY_S`, or is nameless of a pid) is an orphan. Called
    before every atomic write and when a training run resumes, so kills never pile them up.
    """
    path = Path(path)
    removed = []
    now = time.time()
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".")[0]
        try:
            stale = (not pid.isdigit() or int(pid) != os.getpid() and not _pid_alive(int(pid))
                     or now - tmp.stat().st_mtime > STALE_TEMPORARY_S)
            if stale:
                tmp.unlink()
                removed.append(tmp)
        except OSError:  # gone meanwhile, or a read-only folder
            continue
    return removed


def _atomic_write(path: Path, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Interrupted or failed: remove the partial temporary file, keep any previous target.
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_checkpoint(obj: Any, path: str | os.PathLike) -> Path:
    """Save ``obj`` (tensors, numbers, strings and containers of them) atomically to ``path``."""
    return _atomic_write(Path(path), lambda f: torch.save(obj, f))


def write_json_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON atomically (used for results records)."""
    data = (json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode()
    return _atomic_write(Path(path), lambda f: f.write(data))


def load_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> Any:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Raises :class:`CheckpointError` with a one-line message if the file is missing or unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for truncated or foreign files
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"checkpoint {path} is corrupted or not a reprobook checkpoint ({reason[:120]}); "
            "delete it to retrain from scratch"
        ) from None


def load_state_dict_checked(module: torch.nn.Module, state: dict, *, what: str = "checkpoint") -> None:
    """``module.load_state_dict`` with a one-line error naming the mismatching keys."""
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise CheckpointError(
            f"{what} does not fit {type(module).__name__}: {' '.join(s.strip() for s in first[:3])[:300]}"
        ) from None


def run_checkpoint(tag: str, config: Any, directory: str | os.PathLike | None = None) -> Path:
    """Checkpoint path for one training run inside the run directory.

    The name carries a hash of the config *and* of the package's code, so a run resumes only a
    checkpoint that the same code wrote for the same settings; anything else starts afresh.
    """
    import hashlib

    from reprobook.engine.results import run_dir

    key = json.dumps(config, sort_keys=True, default=str) + package_digest()
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return Path(directory or run_dir()) / "checkpoints" / f"{tag}-{digest}.pt"


def package_digest(package: str | None = None) -> str:
    """Hash of the code a run depends on: the shared engine and the package's top-level modules,
    plus one chapter package (``"reprobook.tac"``) or, with ``None``, every file of ``reprobook``.
    Shipped weights count as code."""
    import hashlib

    import reprobook

    root = Path(reprobook.__file__).parent
    if package is None:
        files = root.rglob("*")
    else:
        sub = root.joinpath(*package.split(".")[1:])
        files = [*root.glob("*.py"), *(root / "engine").rglob("*"), *sub.rglob("*")]
    h = hashlib.sha256()
    for p in sorted(set(files)):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()
