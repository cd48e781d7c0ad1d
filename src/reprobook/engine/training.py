"""``reprobook train``: a chapter's experiment outside its notebook, resumable and multi-process.

    reprobook train CHAPTER [--preset paper] [--data-root DIR] [--out DIR] [--set KEY=VALUE]... [--resume]
    torchrun --nproc_per_node N -m reprobook train CHAPTER ...        # same command, N processes

Each chapter names a trainer ``train(cfg, ctx) -> Record`` (``Chapter.trainer``). It trains with
:meth:`TrainContext.fit`, which checkpoints every phase under ``OUT/checkpoints/`` and resumes it,
and returns the same :class:`~reprobook.engine.results.Record` a notebook run writes. The run
directory ends up with::

    OUT/train.json        what was asked: chapter, preset, overrides, world size (checked on --resume)
    OUT/checkpoints/*.pt  one per training phase, atomic; resumed from with --resume
    OUT/history.json      every phase's logged losses and metrics, per step
    OUT/results.json      metrics and claims with computed verdicts (the scoreboard's format)

Only rank 0 writes. A directory that already holds a run is refused without ``--resume``, so a
typo never overwrites days of training, and one that another run is using is refused outright
(:mod:`~reprobook.engine.lock`). A fresh run that fails removes everything it created; a resumed
run, and one interrupted (Ctrl-C) after a phase checkpoint, keep their files for ``--resume``.
"""

from __future__ import annotations

import importlib
import os
from contextlib import ExitStack
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from reprobook.engine import distributed
from reprobook.engine.checkpoint import write_json_atomic
from reprobook.engine.config import as_dict, replace_checked
from reprobook.engine.lock import run_dir_lock
from reprobook.engine.loop import History, fit
from reprobook.engine.results import RUN_DIR_ENV, Record


@dataclass
class TrainContext:
    """What a chapter trainer gets besides its config: where to write, whether to resume, the process group."""

    chapter: str
    out_dir: Path
    data_root: str | None = None
    progress: bool = True
    dist: distributed.Context = field(default_factory=distributed.current)
    histories: dict[str, History] = field(default_factory=dict)

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    def record(self, seed: int = 0) -> Record:
        """The run's results record; the runner adds preset, world size and config to its parameters."""
        return Record(self.chapter, parameters={}, seed=seed)

    def checkpoint(self, phase: str) -> Path:
        return self.out_dir / "checkpoints" / f"{phase}.pt"

    def fit(self, phase: str, step_fn: Callable, **kwargs) -> History:
        """:func:`~reprobook.engine.loop.fit` with this run's checkpoint for ``phase``; the history is kept."""
        if phase in self.histories:
            raise ValueError(f"training phase {phase!r} ran twice in one run")
        kwargs.setdefault("desc", phase)
        kwargs.setdefault("progress", self.progress)
        h = fit(step_fn, checkpoint=self.checkpoint(phase), resume=True, **kwargs)
        self.histories[phase] = h
        return h


def _trainer(spec: str) -> Callable:
    module, attr = spec.split(":")
    return getattr(importlib.import_module(module), attr)


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """``["steps=10", "lr=0.1"]`` → ``{"steps": 10, "lr": 0.1}``, values read as Python literals."""
    from reprobook.engine.execute import parse_value

    out = {}
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {p!r}")
        out[key.strip()] = parse_value(value.strip())
    return out


def build_config(chapter, *, preset: str, smoke: bool, data_root: str | None, sets: Mapping[str, Any]):
    """The chapter's config for ``preset`` with ``sets`` applied (unknown keys name the allowed ones).

    A ``data_root`` that the resulting config would not read is refused rather than ignored.
    """
    cfg = _trainer(chapter.params)(preset=preset, smoke=smoke)
    names = [f.name for f in fields(cfg)]
    unknown = sorted(set(sets) - set(names))
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r} for chapter {chapter.name!r}; allowed: {', '.join(names)}")
    overrides = dict(sets)
    if data_root is not None and "data_root" in names:
        overrides["data_root"] = data_root
    cfg = replace_checked(cfg, **overrides) if overrides else cfg
    if data_root is not None and not getattr(cfg, "reads_data_root", False):
        raise ValueError(f"chapter {chapter.name!r} does not read data_root with preset {preset!r}"
                         f"{' and these settings' if sets else ''}; leave data_root out")
    return cfg


def _request(chapter, preset, smoke, sets, data_root) -> dict[str, Any]:
    return {"chapter": chapter.name, "preset": preset, "smoke": smoke, "set": dict(sorted(sets.items())),
            "data_root": data_root, "world_size": distributed.world_size()}


def _check_out_dir(out: Path, request: dict, *, resume: bool) -> None:
    import json

    started = out / "train.json"
    held = started.exists() or (out / "checkpoints").is_dir() and any((out / "checkpoints").glob("*.pt"))
    if held and not resume:
        raise ValueError(f"{out} already holds a training run; pass --resume to continue it or choose another --out")
    if resume and started.exists():
        try:
            before = json.loads(started.read_text())
        except (OSError, json.JSONDecodeError):
            raise ValueError(f"{started} is unreadable; remove it or choose another --out") from None
        changed = [k for k in request if k not in ("world_size", "data_root") and before.get(k) != request[k]]
        if changed:
            raise ValueError(f"--resume: {out} was started with other {', '.join(changed)} "
                             f"({', '.join(f'{k}={before.get(k)!r}' for k in changed)}); choose another --out")


def run_training(chapter_name: str, *, preset: str = "paper", data_root: str | None = None,
                 out: str | os.PathLike | None = None, sets: Mapping[str, Any] | None = None,
                 resume: bool = False, smoke: bool = False, progress: bool = True) -> Path:
    """Train ``chapter_name`` at ``preset``; return the path of its ``results.json``.

    Works the same in one process and under ``torchrun`` (only rank 0 writes).
    """
    from reprobook import chapters

    chapter = chapters.CHAPTERS.get(chapter_name)
    trainable = {n: c for n, c in chapters.CHAPTERS.items() if c.trainer}
    if chapter is None or not chapter.trainer:
        raise ValueError(f"unknown chapter {chapter_name!r} for train; available: {', '.join(trainable)}")
    sets = dict(sets or {})
    out_dir = Path(out) if out is not None else Path("runs") / "train" / f"{chapter.name}-{preset}"
    cfg = build_config(chapter, preset=preset, smoke=smoke, data_root=data_root, sets=sets)
    ctx_dist = distributed.init(getattr(cfg, "device", "auto"))  # the caller shuts the group down
    request = _request(chapter, preset, smoke, sets, data_root)
    with ExitStack() as stack:
        before: set[Path] | None = set()
        if ctx_dist.is_main:
            existed = out_dir.is_dir()
            lock = stack.enter_context(run_dir_lock(out_dir))  # a second run here is refused at once
            before = (_contents(out_dir) - {lock}) if existed else None
        try:
            if ctx_dist.is_main:
                _check_out_dir(out_dir, request, resume=resume)
                write_json_atomic(request, out_dir / "train.json")
            distributed.barrier()
            os.environ[RUN_DIR_ENV] = str(out_dir)
            ctx = TrainContext(chapter.name, out_dir, data_root=data_root, progress=progress, dist=ctx_dist)
            record: Record = _trainer(chapter.trainer)(cfg, ctx)
        except BaseException as e:
            if ctx_dist.is_main:
                _clean_failed(out_dir, before, resume=resume, interrupted=not isinstance(e, Exception))
            raise
        record.parameters = {"preset": preset, "smoke": smoke, "world_size": ctx_dist.world_size,
                             **as_dict(cfg), **record.parameters}
        path = out_dir / "results.json"
        if ctx_dist.is_main:
            write_json_atomic({k: h.state_dict() for k, h in ctx.histories.items()}, out_dir / "history.json")
            path = record.save(out_dir)
        distributed.barrier()
    return path


def _contents(out: Path) -> set[Path] | None:
    """Every path under ``out`` (``None``: ``out`` does not exist)."""
    return set(out.rglob("*")) if out.is_dir() else None


def _clean_failed(out: Path, before: set[Path] | None, *, resume: bool, interrupted: bool) -> None:
    """After a failed run: remove what it created, so a bad setting or missing data leaves nothing.

    A resumed run keeps everything, and so does an interrupted one (Ctrl-C) that finished a phase
    checkpoint: ``--resume`` continues it. A fresh run that failed removes every file and folder it
    created, whichever phase it failed in (what was in ``out`` before stays).
    """
    had_run = before is not None and any(p.name == "train.json" or p.suffix == ".pt" for p in before)
    if resume and had_run:
        return
    if interrupted and any((out / "checkpoints").glob("*.pt")):
        return
    for p in sorted(_contents(out) or (), key=lambda q: len(q.parts), reverse=True):
        if before is not None and p in before:
            continue
        if p.is_dir() and not p.is_symlink():
            try:
                p.rmdir()
            except OSError:  # holds something that was there before
                pass
        else:
            p.unlink(missing_ok=True)
    if before is None and out.is_dir() and not any(out.iterdir()):
        out.rmdir()
