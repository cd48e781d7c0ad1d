"""Executing chapter notebooks with papermill, incrementally.

A run directory holds the executed notebook, the ``results.json`` the notebook wrote and a
``run-hash`` file. The hash covers the notebook source, the parameters, the code the chapter
runs (the shared engine, the package's top-level modules and the chapter's own package,
shipped weights included), the torch version and the thread count; a run whose hash is
unchanged is not executed again. Parameters are checked against the notebook's ``parameters`` cell before anything runs.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprobook import chapters as _chapters
from reprobook.engine.checkpoint import package_digest
from reprobook.engine.errors import worker_error_message
from reprobook.engine.kernel import kernel_manager_class, kill_kernels
from reprobook.engine.lock import run_dir_lock
from reprobook.engine.loop import TERMINAL_PROGRESS_ENV
from reprobook.engine.results import RUN_DIR_ENV

KERNEL = "python3"
HASH_FILE = "run-hash"
# Chapter kernels run torch on one CPU thread unless the caller set OMP_NUM_THREADS: the book's
# small models run faster on one thread of a 2-core machine than on two, and a fixed thread count
# keeps a seed's numbers identical from one machine to the next (reductions run in one order).
KERNEL_ENV_DEFAULTS = {"OMP_NUM_THREADS": "1"}
CELL_TIMEOUT_S = 1200  # no cell of a default run comes near this; a hung kernel fails instead of blocking


# nbval's cell markers as cell tags: readers never see a test marker in a chapter's code. A cell
# that still opens with the comment form (``# NBVAL_IGNORE_OUTPUT``) gets the tag instead, in the
# notebooks written for nbval and in the book's pages.
NBVAL_TAGS = {"NBVAL_IGNORE_OUTPUT": "nbval-ignore-output", "NBVAL_SKIP": "nbval-skip",
              "NBVAL_CHECK_OUTPUT": "nbval-check-output", "NBVAL_RAISES_EXCEPTION": "raises-exception"}
_NBVAL_COMMENT = re.compile(r"\A[ \t]*#[ \t]*(NBVAL_[A-Z_]+)[ \t]*(?:\r?\n|\Z)")


def nbval_tags(nb) -> int:
    """Move leading ``# NBVAL_…`` comments of code cells into nbval's cell tags, in place.

    Returns how many cells changed. Unknown markers are left alone.
    """
    changed = 0
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        m = _NBVAL_COMMENT.match(cell.source)
        if not m or m[1] not in NBVAL_TAGS:
            continue
        cell.source = cell.source[m.end():]
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if NBVAL_TAGS[m[1]] not in tags:
            tags.append(NBVAL_TAGS[m[1]])
        changed += 1
    return changed


class ParameterError(ValueError):
    """A parameter that the chapter's notebook does not declare, or of the wrong type."""


def notebook_parameters(path: str | os.PathLike) -> dict[str, Any]:
    """Names and literal default values of the notebook's one ``parameters`` cell."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ParameterError(f"{path}: expected exactly one cell tagged 'parameters', found {len(cells)}")
    params = {}
    for node in ast.parse(cells[0].source).body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else getattr(node, "target", None)
        if not isinstance(node, (ast.Assign, ast.AnnAssign)) or not isinstance(target, ast.Name) or node.value is None:
            raise ParameterError(f"{path}: the parameters cell may only assign literal values (line {node.lineno})")
        try:
            params[target.id] = ast.literal_eval(node.value)
        except ValueError:
            raise ParameterError(f"{path}: parameter {target.id!r} is not a literal value") from None
    return params


def parse_value(text: str) -> Any:
    """A command-line value as Python would read it (``3``, ``0.5``, ``True``, ``None``, ``'a'``)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def check_parameters(chapter: _chapters.Chapter, given: dict[str, Any]) -> dict[str, Any]:
    """Validate ``given`` against the notebook's parameters (names, types, preset names)."""
    declared = notebook_parameters(_chapters.notebook_path(chapter))
    out = {}
    for name, value in given.items():
        if name not in declared:
            raise ParameterError(f"unknown parameter {name!r} for chapter {chapter.name!r}; "
                                 f"allowed: {', '.join(declared)}")
        default = declared[name]
        if isinstance(value, str) and not isinstance(default, str) and default is not None:
            value = parse_value(value)
        if default is not None and value is not None:
            ok = isinstance(value, type(default)) or (isinstance(default, float) and isinstance(value, int))
            if isinstance(default, bool) != isinstance(value, bool) or not ok:
                raise ParameterError(f"parameter {name!r} of chapter {chapter.name!r} must be "
                                     f"{type(default).__name__} (default {default!r}); got {value!r}")
        out[name] = value
    if "preset" in out:
        presets = chapter.presets()
        if out["preset"] not in presets:
            raise ParameterError(f"unknown preset {out['preset']!r} for chapter {chapter.name!r}; "
                                 f"choose one of: {', '.join(presets)}")
    _check_config(chapter, {**declared, **out}, given=out)
    return out


def _check_config(chapter: _chapters.Chapter, params: dict[str, Any], *, given: dict[str, Any]) -> None:
    """Build the chapter's config from the given parameters that are config settings, so a bad value
    (a non-finite learning rate, an unused data_root...) is refused before a kernel starts."""
    import dataclasses

    from reprobook.engine.training import _trainer, build_config

    preset, smoke = params.get("preset") or chapter.presets()[0], bool(params.get("smoke"))
    names = {f.name for f in dataclasses.fields(_trainer(chapter.params)(preset=preset, smoke=smoke))}
    sets = {k: v for k, v in given.items() if k in names and k != "data_root" and v is not None}
    try:
        build_config(chapter, preset=preset, smoke=smoke, data_root=given.get("data_root"), sets=sets)
    except ValueError as e:
        raise ParameterError(str(e)) from None


def run_hash(chapter: _chapters.Chapter, params: dict[str, Any]) -> str:
    import torch

    h = hashlib.sha256()
    h.update(_chapters.notebook_path(chapter).read_bytes())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    h.update(package_digest(chapter.package).encode())  # engine + this chapter's package
    h.update(torch.__version__.encode())
    h.update(os.environ.get("OMP_NUM_THREADS", KERNEL_ENV_DEFAULTS["OMP_NUM_THREADS"]).encode())
    return h.hexdigest()


class _InterruptKillsKernel:
    """While a notebook executes, Ctrl-C (SIGINT) kills the chapter kernel and is remembered, instead of
    raising ``KeyboardInterrupt`` wherever the main thread happens to be.

    Python's default handler raises at the next bytecode, and inside papermill's and the kernel
    client's asyncio machinery that exception can land where it is swallowed (a finaliser, a
    callback), so an interrupt was at times lost and the run went on to the end. Killing the kernel
    ends the run for certain (the running cell fails, no further cell starts); the caller then raises
    ``KeyboardInterrupt`` itself when :attr:`seen`. With no kernel to kill, and at a second Ctrl-C,
    the handler raises at once, as the default one. Outside the main thread (where handlers cannot be
    set) nothing changes.
    """

    def __init__(self, manager):
        self.manager, self.seen, self._previous = manager, False, None

    def _handle(self, signum, frame):
        again, self.seen = self.seen, True
        if again or not kill_kernels(self.manager):
            raise KeyboardInterrupt  # a second Ctrl-C, or no kernel to stop (not started yet, or gone)

    def __enter__(self):
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        import signal

        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


@dataclass
class RunOutcome:
    chapter: str
    run_dir: Path
    notebook: Path
    executed: bool  # False when an up-to-date run was reused
    wall_time_s: float


def run_chapter(chapter: str | _chapters.Chapter, params: dict[str, Any] | None = None, *,
                out_dir: str | os.PathLike, force: bool = False, progress: bool = True,
                timeout_s: int | None = CELL_TIMEOUT_S) -> RunOutcome:
    """Execute a chapter notebook with papermill into ``out_dir`` unless an identical run is there."""
    ch = _chapters.get(chapter) if isinstance(chapter, str) else chapter
    params = check_parameters(ch, dict(params or {}))
    out = Path(out_dir).resolve()
    created = not out.exists()
    try:
        with run_dir_lock(out):  # a second run into the same folder is refused at once
            return _execute(ch, params, out, force=force, progress=progress, timeout_s=timeout_s)
    finally:
        if created and out.is_dir() and not any(out.iterdir()):
            with contextlib.suppress(OSError):  # another run started writing there meanwhile
                out.rmdir()


def _execute(ch: _chapters.Chapter, params: dict[str, Any], out: Path, *, force: bool, progress: bool,
             timeout_s: int | None) -> RunOutcome:
    import papermill

    nb_out = out / ch.notebook
    digest = run_hash(ch, params)
    hash_file = out / HASH_FILE
    if (not force and nb_out.is_file() and (out / "results.json").is_file() and hash_file.is_file()
            and hash_file.read_text().strip() == digest):
        return RunOutcome(ch.name, out, nb_out, False, 0.0)

    out.mkdir(parents=True, exist_ok=True)
    for stale in (hash_file, out / "results.json"):
        stale.unlink(missing_ok=True)
    tmp = out / f".{ch.stem}.running.ipynb"
    env = {**{k: v for k, v in KERNEL_ENV_DEFAULTS.items() if k not in os.environ}, RUN_DIR_ENV: str(out),
           TERMINAL_PROGRESS_ENV: "1" if progress else ""}  # the loop's own progress lines in this terminal
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel papermill starts inherits this environment
    t0, started = time.perf_counter(), time.time() - 1
    sockets = tempfile.mkdtemp(prefix="reprobook-kernel-") if os.name == "posix" else None
    manager = kernel_manager_class(Path(sockets) / "k" if sockets else None)
    interrupted = _InterruptKillsKernel(manager)
    try:
        with interrupted:
            papermill.execute_notebook(
                str(_chapters.notebook_path(ch)), str(tmp), parameters=params, kernel_name=KERNEL,
                cwd=str(out), progress_bar=progress, execution_timeout=timeout_s,
                kernel_manager_class=manager,
                # A graceful shutdown asks the kernel to stop even when an interrupt lands mid-cell; it then
                # closes its sockets under the running cell and prints ZMQ errors into the terminal.
                # The results are saved by the last cell, so the finished kernel has nothing left to do.
                shutdown_kernel="immediate",
            )
        if interrupted.seen:  # Ctrl-C as the last cell finished: the run still stops
            raise KeyboardInterrupt
    except BaseException as e:
        failed = out / f"{ch.stem}.failed.ipynb"
        if tmp.exists():
            os.replace(tmp, failed)
        if interrupted.seen:
            raise KeyboardInterrupt from None  # whatever the dead kernel made papermill raise
        if isinstance(e, papermill.PapermillExecutionError):
            evalue = (worker_error_message(e.evalue).strip().splitlines() or [""])[0]
            raise RuntimeError(f"chapter {ch.name!r} failed in cell {e.exec_count}: {e.ename}: "
                               f"{evalue} (executed notebook kept at {failed})") from None
        raise
    finally:
        kill_kernels(manager)  # after an interrupt papermill could not shut its kernel down
        if sockets:
            shutil.rmtree(sockets, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    wall = time.perf_counter() - t0
    if not (out / "results.json").is_file():
        os.replace(tmp, out / f"{ch.stem}.failed.ipynb")
        raise RuntimeError(f"chapter {ch.name!r} ran but wrote no results.json (its last cell must call record.save())")
    os.replace(tmp, nb_out)
    (out / f"{ch.stem}.failed.ipynb").unlink(missing_ok=True)
    # Checkpoints this run neither wrote nor reused belong to older code or settings.
    for old in (out / "checkpoints").glob("*.pt"):
        if old.stat().st_mtime < started:
            old.unlink()
    hash_file.write_text(digest + "\n")
    return RunOutcome(ch.name, out, nb_out, True, wall)


def prepare_notebook(chapter: str | _chapters.Chapter, params: dict[str, Any], out_path: str | os.PathLike) -> Path:
    """Write the notebook with ``params`` injected after its parameters cell, without executing it;
    nbval markers are cell tags there (:func:`nbval_tags`)."""
    import nbformat
    import papermill

    ch = _chapters.get(chapter) if isinstance(chapter, str) else chapter
    params = check_parameters(ch, dict(params))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(str(_chapters.notebook_path(ch)), str(out_path), parameters=params,
                               kernel_name=KERNEL, prepare_only=True, progress_bar=False)
    nb = nbformat.read(out_path, as_version=4)
    if nbval_tags(nb):
        nbformat.write(nb, out_path)
    return out_path
