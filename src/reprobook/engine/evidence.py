"""Shipped evidence, replayed live: a chapter's full grid of runs computed once, checked at every build.

Where a chapter's claims need more seeds or longer training than its live budget pays for, the
grid (arms × seeds × schedule) runs once, offline, with one command::

    reprobook evidence CHAPTER [--seeds N] [--preset book] [--set KEY=VALUE]... [--work DIR] [--resume]
                               [--extend] [--partial]

Each (arm, seed) *cell* is a resumable unit: its training phases checkpoint under the work
directory (``$REPROBOOK_EVIDENCE_DIR/CHAPTER``, default ``~/reprobook-evidence/CHAPTER``) and a
finished cell is written there as JSON, so an interrupted grid continues where it stopped. When
every cell is done, the command writes the chapter's **record** next to its code
(``src/reprobook/<package>/evidence/<chapter>.json``): per-seed metrics, every phase's logged
curves, and the provenance — the exact command, the commit, a hash of the code the grid depends
on, the device, the torch version, the CPU threads (each cell also keeps its own; a replay is exact only
with the thread count of the cell it replays) and the summed wall time. A cell may also
return weights; they are stored in fp16 beside the record (``<chapter>.weights.pt``).

A chapter declares its grid as a :class:`Grid` (``Chapter.evidence``) whose ``run_cell`` trains
one cell through the :data:`~reprobook.engine.loop.PhaseFit` it is given and returns the cell's
metrics. The notebook loads the record by default (:func:`load`) and **replays** one cell live
(:func:`replay`): the whole cell where it fits the live budget, otherwise the first
``replay_steps`` steps of its first training phase against the shipped curve (plus the evaluation
of the shipped weights, where the grid can evaluate them). On the device, torch version and
thread count that wrote the record the replay must be equal (relative 1e-7); elsewhere within the
grid's stated tolerance. :meth:`Replay.check` stops the notebook — and so the book build — when
it is not, naming the command that regenerates the record.

**A grid longer than one sitting.** ``--partial`` writes the record from the cells finished so far
(running none): it lists the missing cells (``complete: false``), and its ``seeds`` are the seeds
finished in *every* arm, so the claims stay paired. ``--extend`` starts from the cells of the
existing record (same chapter, preset and settings) and runs only the ones it lacks, or more seeds.
Every cell keeps the commit and code hash it was run with (the provenance lists them when they
differ). A record grows over several sittings without its work folder surviving between them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprobook.engine.checkpoint import save_checkpoint, write_json_atomic
from reprobook.engine.loop import History, PhaseFit, fit

EVIDENCE_DIR_ENV = "REPROBOOK_EVIDENCE_DIR"
EXACT_RTOL = 1e-7
FORMAT = 1


class StaleEvidence(RuntimeError):
    """A shipped record that its live replay does not reproduce."""


class CellFn:  # documentation only: the signature a grid's ``run_cell`` has
    """``run_cell(cfg, arm, seed, *, fit, progress) -> {"metrics": {...}, "weights": {...}?}``

    ``fit`` is the phase fit to train every phase through (its histories become the cell's
    curves); ``metrics`` maps names to floats (or lists of floats); ``weights`` (optional) maps
    names to state dicts to ship in fp16.
    """


@dataclass(frozen=True)
class Grid:
    """A chapter's evidence grid.

    ``arms`` are the compared variants, each trained for ``seeds`` seeds ``0 … seeds − 1``
    (offset by the config's ``seed``), seed *k* fixing every arm's initial weights, data order and
    noise alike. ``tolerance`` is the relative tolerance of a replay on another device or torch
    version. ``replay_arm``/``replay_seed`` name the cell the notebook replays; ``replay_steps``
    (``None``: the whole cell) truncates the replay to the first steps of its first phase.
    ``replay_steps_elsewhere`` (``None``: as on the record's platform) truncates the replay likewise on
    another device, torch version or thread count: training that is chaotic in float32 rounding (a
    GAN-like game) drifts apart on another CPU, so only its first steps can be compared there.
    ``evaluate(cfg, arm, seed, weights) -> metrics`` (optional) re-evaluates shipped weights.
    ``curve_points`` (``None``: all) caps the logged points the record keeps per curve: evenly spaced
    steps, the first and the last always among them (the work folder keeps every point; a replay is
    compared at the kept steps).
    """

    chapter: str
    package: str
    arms: tuple[str, ...]
    run_cell: Callable[..., Mapping[str, Any]]
    seeds: int = 8
    tolerance: float = 1e-4
    replay_arm: str | None = None
    replay_seed: int = 0
    replay_steps: int | None = None
    replay_steps_elsewhere: int | None = None
    evaluate: Callable[..., Mapping[str, Any]] | None = None
    curve_points: int | None = None

    def record_path(self) -> Path:
        import reprobook

        sub = Path(reprobook.__file__).parent.joinpath(*self.package.split(".")[1:])
        return sub / "evidence" / f"{self.chapter}.json"


def code_hash(package: str) -> str:
    """Hash of the Python code an evidence grid depends on: the engine, the package's top-level
    modules and the chapter package (records and weights excluded, so writing a record does not
    change it)."""
    import reprobook

    root = Path(reprobook.__file__).parent
    sub = root.joinpath(*package.split(".")[1:])
    files = [*root.glob("*.py"), *(root / "engine").rglob("*.py"), *sub.rglob("*.py")]
    h = hashlib.sha256()
    for p in sorted(set(files)):
        if "__pycache__" not in p.parts:
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def device_name(device: str = "auto") -> str:
    """The device as a replay must match it: the GPU's name, or the CPU's model and the vector
    instructions torch dispatches to (kernels differ between, say, AVX2 and AVX-512)."""
    import torch

    from reprobook.engine.runtime import resolve_device

    d = resolve_device(device)
    if d.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(d)}"
    import platform

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), model)
    except OSError:
        pass
    return f"cpu: {model}, {torch.backends.cpu.get_cpu_capability()}"


class _Stop(Exception):
    pass


@dataclass
class _PhaseRecorder:
    """A :data:`PhaseFit` that keeps every phase's history; with ``cap`` it runs only the first
    ``cap`` steps of the first phase and then stops the cell."""

    inner: PhaseFit
    cap: int | None = None
    histories: dict[str, History] = field(default_factory=dict)

    def __call__(self, phase: str, step_fn: Callable, **kwargs) -> History:
        if phase in self.histories:
            raise ValueError(f"training phase {phase!r} ran twice in one evidence cell")
        if self.cap is not None:
            if self.histories:
                raise _Stop
            kwargs["steps"] = min(int(kwargs["steps"]), self.cap)
        h = self.inner(phase, step_fn, **kwargs)
        self.histories[phase] = h
        return h

    def curves(self) -> dict[str, dict[str, dict[str, list]]]:
        return {p: h.state_dict()["metrics"] for p, h in self.histories.items()}


def _plain_fit(directory: Path | None) -> PhaseFit:
    def phase_fit(phase: str, step_fn: Callable, **kwargs) -> History:
        ckpt = None if directory is None else directory / f"{phase}.pt"
        return fit(step_fn, checkpoint=ckpt, resume=True, **kwargs)

    return phase_fit


def _metrics(out: Mapping[str, Any]) -> dict[str, Any]:
    m = out.get("metrics")
    if not isinstance(m, Mapping) or not m:
        raise ValueError("an evidence cell must return {'metrics': {name: number, ...}}")
    from reprobook.engine.results import _jsonable

    return _jsonable(dict(m))


def run_cell(grid: Grid, cfg: Any, arm: str, seed: int, *, fit: PhaseFit, progress: bool = True,
             cap: int | None = None) -> dict[str, Any]:
    """Run one cell through ``fit`` and return ``{"metrics", "curves", "wall_time_s"[, "weights"]}``.

    With ``cap`` only the first ``cap`` steps of the first phase run (a partial replay) and the
    cell's metrics are those of the shipped weights, when the grid can evaluate them.
    """
    if arm not in grid.arms:
        raise ValueError(f"unknown arm {arm!r} for {grid.chapter}; arms: {', '.join(grid.arms)}")
    rec = _PhaseRecorder(fit, cap=cap)
    t0 = time.perf_counter()
    try:
        out = grid.run_cell(cfg, arm, seed, fit=rec, progress=progress)
    except _Stop:
        out = None
    cell: dict[str, Any] = {"curves": rec.curves(), "wall_time_s": round(time.perf_counter() - t0, 3)}
    if out is not None and cap is None:
        cell["metrics"] = _metrics(out)
        if out.get("weights"):
            cell["weights"] = out["weights"]
    return cell


def _cell_key(arm: str, seed: int) -> str:
    return f"{arm}/seed{seed}"


def default_work_dir(chapter: str) -> Path:
    root = os.environ.get(EVIDENCE_DIR_ENV) or Path.home() / "reprobook-evidence"
    return Path(root) / chapter


def _fp16(state: Mapping[str, Any]) -> dict[str, Any]:
    import torch

    return {k: (v.detach().cpu().half() if isinstance(v, torch.Tensor) and v.is_floating_point() else v)
            for k, v in state.items()}


def run_grid(chapter_name: str, *, seeds: int | None = None, preset: str = "book", sets: Mapping[str, Any] | None = None,
             work: str | os.PathLike | None = None, out: str | os.PathLike | None = None, resume: bool = False,
             smoke: bool = False, progress: bool = True, argv: Sequence[str] | None = None, extend: bool = False,
             partial: bool = False) -> Path:
    """``reprobook evidence``: run every cell of a chapter's grid (resumable) and write its record.

    ``extend``: first take the cells of the record at ``out`` (default: the shipped one) as finished.
    ``partial``: run nothing; write the record from the finished cells (the missing ones listed).
    """
    from reprobook import chapters
    from reprobook.engine.config import as_dict
    from reprobook.engine.results import git_commit, usable_cpus
    from reprobook.engine.training import build_config

    chapter = chapters.CHAPTERS.get(chapter_name)
    having = [n for n, c in chapters.CHAPTERS.items() if c.evidence]
    if chapter is None or not chapter.evidence:
        raise ValueError(f"no evidence grid for chapter {chapter_name!r}; chapters with one: {', '.join(having)}")
    grid = chapter.grid()
    n = grid.seeds if seeds is None else int(seeds)
    if n < 1:
        raise ValueError(f"--seeds must be at least 1; got {n}")
    sets = dict(sets or {})
    cfg = build_config(chapter, preset=preset, smoke=smoke, data_root=sets.pop("data_root", None), sets=sets)
    work_dir = Path(work) if work is not None else default_work_dir(chapter.name)
    out_path = Path(out) if out is not None else grid.record_path()
    request = {"chapter": chapter.name, "preset": preset, "smoke": smoke, "set": dict(sorted(sets.items())),
               "seeds": n, "code_hash": code_hash(grid.package)}
    commit = git_commit()  # the code this process runs, taken before it runs (a long grid outlives commits)
    prior = _prior_cells(out_path, request) if extend else None
    started = work_dir / "evidence.json"
    if partial and not started.exists() and prior is None:
        raise ValueError(f"--partial: {work_dir} holds no evidence run (and --extend was not given); nothing to write")
    if started.exists() and not resume and not partial:
        raise ValueError(f"{work_dir} already holds an evidence run; pass --resume to continue it or choose "
                         f"another --work")
    if (resume or partial) and started.exists():
        before = json.loads(started.read_text())
        # --partial only writes what finished: its cells keep the code hash they ran with
        changed = [k for k in request if before.get(k) != request[k] and k != "seeds"
                   and not (partial and k == "code_hash")]
        if changed:
            raise ValueError(f"--resume: {work_dir} was started with other {', '.join(changed)}; choose another --work")
    if not (partial and started.exists()):
        write_json_atomic(request, started)
    import torch

    from reprobook.engine.checkpoint import load_checkpoint

    first = cfg.seed if hasattr(cfg, "seed") else 0
    cells: dict[str, dict[str, Any]] = {}
    weights: dict[str, Any] = {}
    todo = [(a, first + s) for s in range(n) for a in grid.arms]
    (work_dir / "cells").mkdir(parents=True, exist_ok=True)
    if prior is not None:
        _import_cells(prior, work_dir)
    order = list(todo)
    # Cells another live process (``--resume`` on the same --work) is running are deferred to the end of the
    # order and then waited for: two processes share one grid, cell by cell.
    walk = ((a, s) for a, s in order if (work_dir / "cells" / f"{a}-seed{s}.json").exists()) if partial else \
        _claimed_order(order, work_dir)
    for k, (arm, seed) in enumerate(walk, 1):
        key = _cell_key(arm, seed)
        done = work_dir / "cells" / f"{arm}-seed{seed}.json"
        wfile = work_dir / "cells" / f"{arm}-seed{seed}.weights.pt"
        if done.exists():
            cell = json.loads(done.read_text())
            state = "resumed from its record"
        elif (cell := _wait_for_other(work_dir, arm, seed)) is not None:
            state = "run by another process"
        else:
            cell = run_cell(grid, cfg, arm, seed, fit=_plain_fit(work_dir / "checkpoints" / f"{arm}-seed{seed}"),
                            progress=progress)
            w = cell.pop("weights", None)
            cell.update(commit=commit, code_hash=request["code_hash"], threads=torch.get_num_threads())
            if w:
                save_checkpoint({name: _fp16(sd) for name, sd in w.items()}, wfile)
            write_json_atomic(cell, done)
            _claim_file(work_dir, arm, seed).unlink(missing_ok=True)
            state = f"{cell['wall_time_s']:.1f} s"
        if wfile.exists():
            for name, sd in load_checkpoint(wfile).items():
                weights[f"{key}/{name}"] = sd
        cells[key] = cell
        shown = ", ".join(f"{m}={v:.4g}" for m, v in cell["metrics"].items() if isinstance(v, (int, float)))
        print(f"[{k}/{len(todo)}] {key}: {shown} ({state})", flush=True)
    if not cells:
        raise ValueError(f"--partial: no cell of {chapter.name} has finished in {work_dir}; nothing to write")
    # grid order, whichever process ran them; curves thinned to the grid's cap
    planned = [first + s for s in range(n)]
    missing = [_cell_key(a, s) for a, s in todo if _cell_key(a, s) not in cells]
    cells = {_cell_key(a, s): _thin_curves(cells[_cell_key(a, s)], grid.curve_points) for a, s in todo
             if _cell_key(a, s) in cells}
    # the CPU threads the cells ran with (a grid shared by processes may mix them); cells written before
    # cells kept their count ran with the writer's
    threads = sorted({c.get("threads", torch.get_num_threads()) for c in cells.values()})
    command = "reprobook evidence " + " ".join(shlex.quote(a) for a in (argv if argv is not None else
                                                                          _default_argv(chapter.name, n, preset, sets)))
    record = {
        "format": FORMAT, "chapter": chapter.name, "arms": list(grid.arms),
        # the seeds finished in every arm (all of them, unless the record is partial): the claims' paired seeds
        "seeds": [s for s in planned if all(_cell_key(a, s) in cells for a in grid.arms)],
        "planned_seeds": planned, "complete": not missing, "missing": missing,
        "preset": preset, "smoke": smoke, "set": request["set"], "config": as_dict(cfg), "command": command,
        "commit": commit, "code_hash": request["code_hash"], "device": device_name(getattr(cfg, "device", "auto")),
        "torch": torch.__version__, "threads": threads[0] if len(threads) == 1 else threads, "cpus": usable_cpus(),
        "wall_time_s": round(sum(c["wall_time_s"] for c in cells.values()), 1), "curve_points": grid.curve_points,
        "cells": cells,
        "weights": f"{out_path.stem}.weights.pt" if weights else None,
    }
    if weights:
        save_checkpoint(weights, out_path.with_name(f"{out_path.stem}.weights.pt"))
    write_json_atomic(record, out_path)
    return out_path


def _prior_cells(path: Path, request: Mapping[str, Any]) -> dict[str, Any]:
    """The record ``--extend`` starts from, checked against the request (the code may have changed since)."""
    if not path.is_file():
        raise ValueError(f"--extend: there is no record {path.name} to extend; run the grid without --extend")
    try:
        prior = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"--extend: cannot read {path.name}: {e}") from None
    changed = [k for k in ("chapter", "preset", "smoke", "set") if prior.get(k) != request[k]]
    if changed:
        raise ValueError(f"--extend: {path.name} was made with other {', '.join(changed)} "
                         f"({', '.join(f'{k}={prior.get(k)!r}' for k in changed)}); extend it with the same ones")
    return {"data": prior, "path": path}


def _import_cells(prior: Mapping[str, Any], work_dir: Path) -> None:
    """Write the prior record's cells (and their fp16 weights) into ``work_dir`` as finished, where missing."""
    from reprobook.engine.checkpoint import load_checkpoint

    d, path = prior["data"], prior["path"]
    weights = load_checkpoint(path.with_name(d["weights"])) if d.get("weights") else {}
    for key, cell in d["cells"].items():
        arm, seed = key.rsplit("/seed", 1)
        done = work_dir / "cells" / f"{arm}-seed{seed}.json"
        if done.exists():
            continue
        prefix = f"{key}/"
        w = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
        if w:
            save_checkpoint(w, work_dir / "cells" / f"{arm}-seed{seed}.weights.pt")
        write_json_atomic({**cell, "commit": cell.get("commit", d["commit"]),
                           "code_hash": cell.get("code_hash", d["code_hash"])}, done)


def _thin_curves(cell: Mapping[str, Any], points: int | None) -> dict[str, Any]:
    """``cell`` with every logged curve cut to at most ``points`` evenly spaced steps (first and last kept)."""
    if not points:
        return dict(cell)
    if points < 2:
        raise ValueError(f"curve_points must be at least 2 (or None for all); got {points}")
    curves = {}
    for phase, metrics in cell.get("curves", {}).items():
        curves[phase] = {}
        for metric, series in metrics.items():
            n = len(series["step"])
            keep = range(n) if n <= points else sorted({round(i * (n - 1) / (points - 1)) for i in range(points)})
            curves[phase][metric] = {k: [v[i] for i in keep] if isinstance(v, list) and len(v) == n else v
                                     for k, v in series.items()}
    return {**cell, "curves": curves}


def _claim_file(work_dir: Path, arm: str, seed: int) -> Path:
    return work_dir / "cells" / f"{arm}-seed{seed}.running"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim(work_dir: Path, arm: str, seed: int) -> bool:
    """Claim a cell for this process (an exclusively created ``.running`` file holding its pid); a claim whose
    process has died is taken over."""
    path = _claim_file(work_dir, arm, seed)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(path.read_text() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid == os.getpid():
                return True
            if pid and _alive(pid):
                return False
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return True
    return False


def _claimed_order(order: list[tuple[str, int]], work_dir: Path):
    """Yield the cells in order, those another live process holds last (claiming each as it is reached)."""
    deferred = []
    for arm, seed in order:
        done = work_dir / "cells" / f"{arm}-seed{seed}.json"
        if done.exists() or _claim(work_dir, arm, seed):
            yield arm, seed
        else:
            deferred.append((arm, seed))
    yield from deferred


def _wait_for_other(work_dir: Path, arm: str, seed: int, poll_s: float = 5.0) -> dict | None:
    """A cell claimed by another live process: wait for its record (None once the cell is ours to run)."""
    done = work_dir / "cells" / f"{arm}-seed{seed}.json"
    while not done.exists():
        if _claim(work_dir, arm, seed):
            return None
        time.sleep(poll_s)
    return json.loads(done.read_text())


def _default_argv(chapter: str, seeds: int, preset: str, sets: Mapping[str, Any]) -> list[str]:
    argv = [chapter, "--seeds", str(seeds)]
    if preset != "book":
        argv += ["--preset", preset]
    for k, v in sorted(sets.items()):
        argv += ["--set", f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"]
    return argv


@dataclass
class EvidenceRecord:
    """A loaded shipped record (see the module docstring)."""

    data: dict[str, Any]
    path: Path
    grid: Grid

    @property
    def seeds(self) -> list[int]:
        return list(self.data["seeds"])

    @property
    def n(self) -> int:
        return len(self.data["seeds"])

    @property
    def complete(self) -> bool:
        """Every planned cell finished (a ``--partial`` record lists its missing cells)."""
        return bool(self.data.get("complete", True))

    def has(self, arm: str, seed: int) -> bool:
        return _cell_key(arm, seed) in self.data["cells"]

    def seeds_of(self, arm: str) -> list[int]:
        """The seeds of ``arm``'s finished cells (every seed of a complete record)."""
        return [s for s in self.data.get("planned_seeds", self.data["seeds"]) if self.has(arm, s)]

    def cell(self, arm: str, seed: int) -> dict[str, Any]:
        try:
            return self.data["cells"][_cell_key(arm, seed)]
        except KeyError:
            raise KeyError(f"the {self.data['chapter']} record has no cell {arm!r} seed {seed}") from None

    def values(self, arm: str, metric: str) -> list[Any]:
        """``metric`` of ``arm`` for every seed, in seed order (paired across arms)."""
        return [self.cell(arm, s)["metrics"][metric] for s in self.seeds]

    def curve(self, arm: str, seed: int, phase: str, metric: str) -> tuple[list[int], list[float]]:
        m = self.cell(arm, seed)["curves"][phase][metric]
        return m["step"], m["value"]

    def weights(self) -> dict[str, Any]:
        from reprobook.engine.checkpoint import load_checkpoint

        if not self.data.get("weights"):
            raise FileNotFoundError(f"the {self.data['chapter']} record ships no weights")
        return load_checkpoint(self.path.with_name(self.data["weights"]))

    def provenance(self) -> dict[str, Any]:
        keys = ("command", "commit", "code_hash", "device", "torch", "threads", "cpus", "wall_time_s")
        p = {k: self.data[k] for k in keys} | {"seeds": self.n, "arms": ", ".join(self.data["arms"])}
        hashes = sorted({c.get("code_hash", self.data["code_hash"]) for c in self.data["cells"].values()})
        if len(hashes) > 1:
            p["code hashes of the cells"] = ", ".join(hashes)
        if not self.complete:
            planned = len(self.data["arms"]) * len(self.data["planned_seeds"])
            p["partial"] = (f"{len(self.data['cells'])} of {planned} cells finished; missing: "
                            + ", ".join(self.data["missing"]))
        return p

    def provenance_markdown(self) -> str:
        p = self.provenance()
        rows = ["| shipped evidence | |", "|---|---|"]
        rows += [f"| {k.replace('_', ' ')} | `{v}` |" for k, v in p.items()]
        rows.append(f"| code hash now | `{code_hash(self.grid.package)}` |")
        return "\n".join(rows)


def load(chapter_name: str) -> EvidenceRecord | None:
    """The chapter's shipped record, or ``None`` when it ships none."""
    from reprobook import chapters

    grid = chapters.CHAPTERS[chapter_name].grid()
    path = grid.record_path()
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise StaleEvidence(f"cannot read the shipped evidence {path.name}: {e}") from None
    if data.get("format") != FORMAT or data.get("chapter") != chapter_name:
        raise StaleEvidence(f"{path.name} is not a format-{FORMAT} evidence record of {chapter_name}")
    return EvidenceRecord(data, path, grid)


@dataclass
class Replay:
    """A live replay of one shipped cell, compared quantity by quantity."""

    chapter: str
    arm: str
    seed: int
    rows: list[tuple[str, float, float, bool]]  # (quantity, shipped, replayed, within tolerance)
    rtol: float
    same_platform: bool
    partial: bool
    command: str
    code_hash_shipped: str
    code_hash_now: str
    wall_time_s: float
    shortened: bool = False  # partial because the platform differs from the record's (Grid.replay_steps_elsewhere)

    @property
    def match(self) -> bool:
        return bool(self.rows) and all(ok for *_, ok in self.rows)

    def markdown(self, limit: int = 12) -> str:
        """The replay beside the shipped numbers: every metric, and the curves' largest difference."""
        bad = [r for r in self.rows if not r[3]]
        shown = [r for r in self.rows if not r[0].startswith("curve ")][:limit]
        curves = [r for r in self.rows if r[0].startswith("curve ")]
        lines = ["| quantity | shipped | replayed live | equal within |", "|---|---|---|---|"]
        tol = f"rel. {self.rtol:g}"
        lines += [f"| {q} | {s:.6g} | {r:.6g} | {tol}: {'yes' if ok else '**no**'} |" for q, s, r, ok in shown]
        if curves:
            worst = max(curves, key=lambda r: _rel(r[1], r[2]))
            where_worst = f"largest rel. difference at {worst[0][6:]}" if _rel(worst[1], worst[2]) > 0 else "all equal"
            lines.append(f"| {len(curves)} logged curve points ({where_worst}) | "
                         f"{worst[1]:.6g} | {worst[2]:.6g} | {tol}: {'yes' if all(r[3] for r in curves) else '**no**'} |")
        for q, s, r, ok in bad[:3]:
            if (q, s, r, ok) not in shown:
                lines.append(f"| {q} | {s:.6g} | {r:.6g} | {tol}: **no** |")
        where = "same device, torch and threads as the record" if self.same_platform else \
            "another device, torch version or thread count than the record"
        what = "the first steps of its first training phase" if self.partial else "the whole cell"
        if self.shortened:
            what += (" (on another platform than the record's only these: float32 rounding differs between CPUs, "
                     "and this training amplifies it, so later steps drift apart)")
        same = "unchanged" if self.code_hash_now == self.code_hash_shipped else \
            "changed since the record; a matching replay shows the change did not touch these numbers"
        return ("\n".join(lines) + f"\n\nReplayed {what} (arm `{self.arm}`, seed {self.seed}) in "
                f"{self.wall_time_s:.1f} s on {where}. Code hash: shipped `{self.code_hash_shipped}`, now "
                f"`{self.code_hash_now}` ({same}).")

    def check(self) -> Replay:
        """Raise :class:`StaleEvidence`, naming the regenerating command, unless the replay matches."""
        if not self.match:
            bad = [r for r in self.rows if not r[3]] or [("nothing to compare", math.nan, math.nan, False)]
            q, s, r, _ = bad[0]
            raise StaleEvidence(f"the shipped {self.chapter} evidence does not match its live replay ({q}: shipped "
                                f"{s:.6g}, replayed {r:.6g}, rel. tolerance {self.rtol:g}); regenerate it with: "
                                f"{self.command}")
        return self


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def _close(a: float, b: float, rtol: float) -> bool:
    return abs(a - b) <= rtol * max(abs(a), abs(b)) + 1e-12


def compare_cells(shipped: Mapping[str, Any], replayed: Mapping[str, Any], rtol: float, *,
                  partial: bool) -> list[tuple[str, float, float, bool]]:
    """Rows ``(quantity, shipped, replayed, ok)`` for every metric both cells have and every curve
    point the replay logged (a partial replay compares its first phase's points only)."""
    rows = []
    for name, r in (replayed.get("metrics") or {}).items():
        s = (shipped.get("metrics") or {}).get(name)
        if s is None:
            continue
        for i, (sv, rv) in enumerate(zip(_flat(s), _flat(r))):
            q = name if not isinstance(s, list) else f"{name}[{i}]"
            rows.append((q, sv, rv, _close(sv, rv, rtol)))
    for phase, metrics in replayed.get("curves", {}).items():
        for metric, series in metrics.items():
            ref = shipped.get("curves", {}).get(phase, {}).get(metric)
            if ref is None:
                rows.append((f"curve {phase}/{metric}", math.nan, math.nan, False))
                continue
            at = dict(zip(ref["step"], ref["value"]))
            for step, v in zip(series["step"], series["value"]):
                if step in at:
                    rows.append((f"curve {phase}/{metric}@{step}", at[step], v, _close(at[step], v, rtol)))
    return rows


def _flat(x: Any) -> list[float]:
    if isinstance(x, (list, tuple)):
        return [float(v) for v in x]
    return [float(x)]


def replay(record: EvidenceRecord, *, arm: str | None = None, seed: int | None = None, progress: bool = True,
           steps: int | None = None, cfg: Any = None) -> Replay:
    """Re-run one shipped cell live (the whole cell, or the first ``steps`` steps of its first phase)."""
    import torch

    from reprobook import chapters
    from reprobook.engine.training import build_config

    grid = record.grid
    d = record.data
    arm = arm or grid.replay_arm or grid.arms[0]
    if seed is None:
        have = record.seeds_of(arm)
        if not have:
            raise StaleEvidence(f"the {d['chapter']} record holds no finished cell of {arm!r} to replay")
        seed = record.seeds[grid.replay_seed] if grid.replay_seed < record.n else have[0]
    shipped = record.cell(arm, seed)
    if cfg is None:
        cfg = build_config(chapters.CHAPTERS[d["chapter"]], preset=d["preset"], smoke=d["smoke"], data_root=None,
                           sets=d["set"])
    same = (d["device"] == device_name(getattr(cfg, "device", "auto")) and d["torch"] == torch.__version__
            and shipped.get("threads", d["threads"]) == torch.get_num_threads())
    shortened = steps is None and not same and grid.replay_steps_elsewhere is not None
    steps = (grid.replay_steps_elsewhere if shortened else grid.replay_steps) if steps is None else steps
    rtol = EXACT_RTOL if same else grid.tolerance
    t0 = time.perf_counter()
    live = run_cell(grid, cfg, arm, seed, fit=_plain_fit(None), progress=progress, cap=steps)
    if steps is not None and grid.evaluate is not None and d.get("weights"):
        prefix = f"{_cell_key(arm, seed)}/"
        w = {k[len(prefix):]: v for k, v in record.weights().items() if k.startswith(prefix)}
        live["metrics"] = dict(grid.evaluate(cfg, arm, seed, w))
    rows = compare_cells(shipped, live, rtol, partial=steps is not None)
    return Replay(d["chapter"], arm, seed, rows, rtol, same, steps is not None, d["command"],
                  shipped.get("code_hash", d["code_hash"]),
                  code_hash(grid.package), time.perf_counter() - t0, shortened=shortened)


def main_argv() -> list[str]:
    """The evidence command's arguments that shape the numbers, for the record (``reprobook evidence …``):
    where it worked and whether it resumed do not."""
    argv = sys.argv[1:]
    argv = argv[1:] if argv and argv[0] == "evidence" else argv
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--work", "--out"):
            skip = True
        elif a in ("--resume", "--quiet", "--extend", "--partial") or a.startswith(("--work=", "--out=")):
            continue
        else:
            out.append(a)
    return out
