"""The training loop every chapter uses: progress, metric log, resumable atomic checkpoints.

A run is a fixed number of *steps*. Mini-batches come from a :class:`BatchStream`, whose order
is a pure function of ``(seed, epoch)``, so batch ``k`` can be found again after a restart
without replaying the data. A checkpoint holds the step, every stateful object's
``state_dict`` (models, optimizers, schedulers, anything with that method), the global RNG
states and the metric history; resuming restores all of them, so an interrupted run ends with
exactly the numbers of an uninterrupted one.

The per-step work is the chapter's: ``step_fn(batch, step) -> {metric: value}`` may update one
network or several (two-player games, online distillation), in whatever order its paper says.

Under ``torchrun`` (see :mod:`reprobook.engine.distributed`) a stream hands each process its slice
of every global batch, logged metrics are averaged over processes, and only rank 0 shows progress
and writes checkpoints; every rank resumes from the same file.

Under ``reprobook run`` (``$REPROBOOK_TERMINAL_PROGRESS`` set) the loop also writes a plain progress
line to the terminal the command runs in, every few seconds and at the end, so a long training cell
shows its steps there and not only in the notebook.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset
from tqdm.auto import tqdm

from reprobook.engine import distributed
from reprobook.engine.checkpoint import (CheckpointError, load_checkpoint, remove_stale_temporaries, run_checkpoint,
                                        save_checkpoint)
from reprobook.engine.errors import unwrap_worker_error
from reprobook.engine.runtime import rng_state, set_rng_state


TERMINAL_PROGRESS_ENV = "REPROBOOK_TERMINAL_PROGRESS"
TERMINAL_EVERY_S = 10.0


class TerminalProgress:
    """Progress lines on the process's own stderr (the terminal of ``reprobook run``, which a
    notebook kernel inherits), at most one every ``every_s`` seconds plus one at the end."""

    def __init__(self, desc: str, total: int, start: int = 0, *, every_s: float | None = None, stream=None):
        self.desc, self.total, self.n = desc, total, start
        self.every_s = TERMINAL_EVERY_S if every_s is None else every_s
        self.stream = stream if stream is not None else sys.__stderr__
        self.t0 = self.last = time.perf_counter()
        self.start = start

    def update(self, n: int = 1, postfix: str = "") -> None:
        self.n += n
        now = time.perf_counter()
        if now - self.last >= self.every_s or self.n >= self.total:
            self.last = now
            self._line(postfix)

    def _line(self, postfix: str) -> None:
        if self.stream is None:
            return
        elapsed = time.perf_counter() - self.t0
        rate = (self.n - self.start) / elapsed if elapsed > 0 else 0.0
        eta = f", about {(self.total - self.n) / rate:.0f} s left" if 0 < rate and self.n < self.total else ""
        text = f"\n  {self.desc}: step {self.n}/{self.total} ({100 * self.n / max(self.total, 1):.0f} %), " \
               f"{elapsed:.0f} s{eta}{(' ' + postfix) if postfix else ''}\n"
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # no terminal left (closed or detached)
            self.stream = None


def terminal_progress(desc: str, total: int, start: int = 0) -> TerminalProgress | None:
    """A :class:`TerminalProgress` when ``reprobook run`` asked for one, else None."""
    return TerminalProgress(desc, total, start) if os.environ.get(TERMINAL_PROGRESS_ENV) else None


class BatchStream:
    """Endless, reproducible shuffled mini-batches of a map-style dataset.

    Epoch ``e`` visits the dataset in the order ``randperm(n, generator=seed·1_000_003 + e)``;
    with ``drop_last`` every epoch has ``len(dataset) // batch_size`` steps. A
    :class:`~torch.utils.data.TensorDataset` is sliced directly (fast, no workers); any other
    dataset goes through a ``DataLoader`` with ``num_workers``.

    ``batch_size`` is the *global* batch. In a process group every rank draws the same order and
    keeps its contiguous slice of each batch (a distributed sampler with a shared shuffle), so
    the global batches are those of a single-process run.
    """

    def __init__(self, dataset: Dataset, *, batch_size: int, seed: int = 0, shuffle: bool = True,
                 num_workers: int = 0, collate_fn: Callable | None = None):
        n = len(dataset)
        if batch_size < 1 or batch_size > n:
            raise ValueError(f"batch_size must be between 1 and the dataset size {n}, got {batch_size}")
        self.dataset, self.batch_size, self.seed, self.shuffle = dataset, batch_size, seed, shuffle
        self.num_workers, self.collate_fn = num_workers, collate_fn
        self.steps_per_epoch = n // batch_size
        self.rank_slice = distributed.local_slice(batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        """Index order of epoch ``epoch``: shape ``[len(dataset)]``."""
        n = len(self.dataset)
        if not self.shuffle:
            return torch.arange(n)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(n, generator=g)

    def batches(self, start_step: int = 0) -> Iterator[Any]:
        """Yield the batches of steps ``start_step, start_step + 1, ...`` forever."""
        epoch, skip = divmod(start_step, self.steps_per_epoch)
        while True:
            idx = self.order(epoch)[: self.steps_per_epoch * self.batch_size]
            idx = idx.view(self.steps_per_epoch, self.batch_size)[skip:, self.rank_slice]
            if isinstance(self.dataset, TensorDataset):
                for b in idx:
                    yield tuple(t[b] for t in self.dataset.tensors)
            else:
                loader = iter(DataLoader(self.dataset, batch_sampler=idx.tolist(), num_workers=self.num_workers,
                                         collate_fn=self.collate_fn))
                while True:
                    try:
                        batch = next(loader)
                    except StopIteration:
                        break
                    except Exception as e:  # a worker's error: re-raise it with its own message
                        raise unwrap_worker_error(e) from None
                    yield batch
            epoch, skip = epoch + 1, 0


@dataclass
class History:
    """Logged metrics: ``metrics[name] = {"step": [...], "value": [...]}`` plus wall time."""

    metrics: dict[str, dict[str, list]] = field(default_factory=dict)
    wall_time_s: float = 0.0

    def log(self, step: int, values: Mapping[str, Any]) -> None:
        for name, v in values.items():
            if isinstance(v, torch.Tensor):
                v = v.detach().float().item()
            m = self.metrics.setdefault(name, {"step": [], "value": []})
            m["step"].append(int(step))
            m["value"].append(float(v))

    def last(self, name: str) -> float:
        return self.metrics[name]["value"][-1]

    def series(self, name: str) -> tuple[list[int], list[float]]:
        m = self.metrics[name]
        return m["step"], m["value"]

    def state_dict(self) -> dict:
        return {"metrics": self.metrics, "wall_time_s": self.wall_time_s}

    def load_state_dict(self, state: dict) -> None:
        self.metrics = {k: {"step": list(v["step"]), "value": list(v["value"])} for k, v in state["metrics"].items()}
        self.wall_time_s = float(state["wall_time_s"])


def fit(
    step_fn: Callable[[Any, int], Mapping[str, Any] | None],
    *,
    steps: int,
    stream: BatchStream | None = None,
    state: Mapping[str, Any] | None = None,
    checkpoint: str | Path | None = None,
    ckpt_every: int = 0,
    resume: bool = True,
    eval_fn: Callable[[int], Mapping[str, Any]] | None = None,
    eval_every: int = 0,
    log_every: int = 1,
    desc: str = "train",
    progress: bool = True,
) -> History:
    """Run ``steps`` training steps and return the :class:`History`.

    Args:
        step_fn: does one training step on ``batch`` (``None`` without a stream) and returns
            metrics to log (floats or 0-d tensors).
        stream: where batches come from; ``None`` for data-free training.
        state: named objects with ``state_dict``/``load_state_dict`` (networks, optimizers,
            schedulers) saved in checkpoints.
        checkpoint: path of the run's checkpoint; written every ``ckpt_every`` steps (0: only at
            the end) and resumed from when ``resume`` and the file exists.
        eval_fn: called after step ``s`` when ``s % eval_every == 0`` and after the last step.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    state = dict(state or {})
    history = History()
    start = 0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and resume and distributed.is_main():
        remove_stale_temporaries(ckpt)  # left by a run killed while saving
    if ckpt is not None and resume and ckpt.exists():
        saved = load_checkpoint(ckpt)
        if not isinstance(saved, dict) or "step" not in saved or "state" not in saved:
            raise CheckpointError(f"{ckpt} is not a training checkpoint written by reprobook.engine.loop.fit")
        missing = sorted(set(state) - set(saved["state"]))
        if missing:
            raise CheckpointError(f"{ckpt} lacks state for {missing}; it was written by a different experiment")
        for name, obj in state.items():
            try:
                obj.load_state_dict(saved["state"][name])
            except (RuntimeError, ValueError, KeyError) as e:
                raise CheckpointError(f"{ckpt}: state '{name}' does not fit ({str(e).splitlines()[0][:200]})") from None
        history.load_state_dict(saved["history"])
        set_rng_state(saved["rng"])
        start = int(saved["step"])
        if start > steps:
            raise CheckpointError(f"{ckpt} is at step {start}, beyond the requested {steps} steps")

    main = distributed.is_main()

    def save(step: int) -> None:
        if ckpt is not None and main:
            save_checkpoint({"step": step, "state": {k: v.state_dict() for k, v in state.items()},
                             "rng": rng_state(), "history": history.state_dict()}, ckpt)
        distributed.barrier()  # no rank runs ahead of a checkpoint it might have to resume from

    batches = stream.batches(start) if stream is not None else None
    t0 = time.perf_counter() - history.wall_time_s
    bar = tqdm(total=steps, initial=start, desc=desc, disable=not (progress and main), leave=True)
    term = terminal_progress(desc, steps, start) if progress and main else None
    try:
        for step in range(start + 1, steps + 1):
            batch = next(batches) if batches is not None else None
            out = distributed.mean_metrics(step_fn(batch, step) or {})
            if log_every and (step % log_every == 0 or step == steps):
                history.log(step, out)
            if eval_fn is not None and ((eval_every and step % eval_every == 0) or step == steps):
                history.log(step, distributed.mean_metrics(eval_fn(step) or {}))
            history.wall_time_s = time.perf_counter() - t0
            if ckpt_every and step % ckpt_every == 0 and step != steps:
                save(step)
            bar.update(1)
            if out:
                bar.set_postfix({k: _short(v) for k, v in list(out.items())[:4]}, refresh=False)
            if term is not None:
                term.update(1, ", ".join(f"{k}={_short(v)}" for k, v in list(out.items())[:2]))
        if start < steps or not (ckpt and ckpt.exists()):
            save(steps)
        elif ckpt is not None and main:
            os.utime(ckpt)  # a finished run was reused: mark its checkpoint as still in use
    finally:
        bar.close()
    return history


class BestOnValidation:
    """Keep the weights of the best evaluation on a *validation* split (never on the test set).

    Call :meth:`update` from a ``fit`` ``eval_fn`` with the validation score; after training,
    :meth:`restore` loads the kept weights into the modules and returns the step they come from.
    It has ``state_dict``/``load_state_dict``, so passing it in ``fit``'s ``state`` makes the
    choice survive a resume. ``mode="min"`` for losses.
    """

    def __init__(self, modules: Mapping[str, torch.nn.Module], *, mode: str = "max"):
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.modules, self.mode = dict(modules), mode
        self.best: float | None = None
        self.step: int | None = None
        self.saved: dict[str, dict] = {}

    def update(self, step: int, score: float) -> bool:
        """Keep the current weights if ``score`` is the best so far; return whether it was."""
        score = float(score)
        better = self.best is None or (score > self.best if self.mode == "max" else score < self.best)
        if better:
            self.best, self.step = score, int(step)
            self.saved = {k: {n: t.detach().clone() for n, t in m.state_dict().items()} for k, m in self.modules.items()}
        return better

    def restore(self) -> int:
        if self.step is None:
            raise RuntimeError("no validation score was recorded: call update() from the eval_fn")
        for k, m in self.modules.items():
            m.load_state_dict(self.saved[k])
        return self.step

    def state_dict(self) -> dict:
        return {"best": self.best, "step": self.step, "mode": self.mode, "saved": self.saved}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.step, self.saved = state["best"], state["step"], state["saved"]


PhaseFit = Callable[..., History]
"""``phase_fit(phase, step_fn, **fit_kwargs) -> History``: :func:`fit` with the checkpoint of a named
training phase. Chapters train through one, so the same code runs in a notebook (:func:`cached_fit`)
and under ``reprobook train`` (:meth:`reprobook.engine.training.TrainContext.fit`)."""


def cached_fit(prefix: str, config: Any, *, progress: bool | None = None) -> PhaseFit:
    """The notebook's :data:`PhaseFit`: phase ``p`` checkpoints to ``run_checkpoint(f"{prefix}-{p}", config)``,
    so a rerun with the same config and code resumes or reuses it."""

    def phase_fit(phase: str, step_fn: Callable, **kwargs) -> History:
        kwargs.setdefault("desc", phase)
        if progress is not None:
            kwargs.setdefault("progress", progress)
        return fit(step_fn, checkpoint=run_checkpoint(f"{prefix}-{phase}", config), **kwargs)

    return phase_fit


def _short(v: Any) -> str:
    if isinstance(v, torch.Tensor):
        v = v.detach().float().item()
    return f"{v:.4g}" if isinstance(v, float) and math.isfinite(v) else str(v)
