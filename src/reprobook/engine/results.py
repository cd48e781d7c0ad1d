"""Results records: metrics, claims with computed verdicts, provenance.

Every chapter run ends with ``record.save()``, which writes ``results.json`` into the run
directory (``$REPROBOOK_RUN_DIR`` when the CLI runs the notebook, else the current folder). The
record holds the chapter, its parameters and seed, the metrics, one entry per claim, package
versions, the git commit, the wall time and the torch threads and CPUs it ran with (records
written before those two fields existed lack them). The book's scoreboard collects these files.

A claim's verdict is never typed: the rules of :mod:`reprobook.engine.stats` (paired intervals over
seeds, margins, equivalence, parts) compute it from the measured numbers and return the rule text
with it. Each claim has a *kind*: ``paper`` (a claim the paper makes; only these count as
reproduced or not), ``extension`` (beyond the paper) or ``check`` (a precondition of the chapter;
``by_construction`` marks facts that follow from the equations without training). A chapter may
declare reference *baselines* (chance, the untuned model, a trivial fill); a comparison whose arms
all lose to a named baseline is flagged in the claims table and the scoreboard.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reprobook.engine.checkpoint import write_json_atomic
from reprobook.engine.stats import VERDICTS, Verdict

RUN_DIR_ENV = "REPROBOOK_RUN_DIR"
KINDS = ("paper", "extension", "check")


@dataclass(frozen=True)
class Baseline:
    """A reference a reader would ask about (chance, the untuned model, a mean-colour fill).

    ``value`` is in the display units of the claims it is compared with; ``higher_is_better`` is
    taken from each claim's verdict.
    """

    name: str
    value: float
    description: str = ""


@dataclass
class Claim:
    id: str
    claim: str
    paper: str
    measured: str
    rule: str
    verdict: str
    kind: str = "paper"
    by_construction: bool = False
    n: int | None = None
    estimate: float | str | None = None
    ci: list | None = None
    test: str | None = None
    margin: float | str | None = None
    detectable: float | str | None = None
    unit: str = ""
    summary: str = ""
    parts: list | None = None
    beaten_by: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}; got {self.verdict!r}")
        if self.kind not in KINDS:
            raise ValueError(f"claim kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        if self.by_construction and self.kind != "check":
            raise ValueError("a fact true by construction is a 'check', not a reproduced claim")


def fmt(xs: Sequence[float] | float, *, digits: int = 2, scale: float = 1.0, unit: str = "") -> str:
    """``mean ± std (n=k)`` for several values, the plain value for one."""
    if isinstance(xs, (int, float)):
        xs = [xs]
    xs = [float(x) * scale for x in xs]
    m = sum(xs) / len(xs)
    if len(xs) == 1:
        return f"{m:.{digits}f}{unit}"
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))
    return f"{m:.{digits}f} ± {sd:.{digits}f}{unit} (n={len(xs)})"


_chapter: str | None = None  # the chapter of this process's Record, which names its run folder


def run_dir() -> Path:
    """Where this run writes its record and checkpoints.

    ``$REPROBOOK_RUN_DIR`` when set (``reprobook run`` sets it to its ``--out``). A notebook opened
    from the repository's ``notebooks/`` folder (JupyterLab's working directory there) writes under
    ``runs/<chapter>/`` of the repository, the chapter being the one its :class:`Record` names, so
    results and checkpoints never land next to the committed notebooks. Anywhere else: the
    working directory.
    """
    if os.environ.get(RUN_DIR_ENV):
        return Path(os.environ[RUN_DIR_ENV])
    cwd = Path.cwd()
    if _chapter and cwd.name == "notebooks" and (cwd.parent / "_config.yml").is_file():
        return cwd.parent / "runs" / _chapter
    return cwd


def git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if out.returncode != 0:
        return "unknown"
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def package_versions() -> dict[str, str]:
    import numpy
    import torch
    import torchvision

    import reprobook

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": numpy.__version__,
            "reprobook": reprobook.__version__, "platform": platform.platform(),
            "cpu_count": str(os.cpu_count())}


def usable_cpus() -> int | None:
    """CPUs this process may run on (an affinity mask can hide some of ``os.cpu_count()``)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


@dataclass
class Record:
    """The results record of one chapter run; create it at the start of the run."""

    chapter: str
    parameters: dict[str, Any]
    seed: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)
    baselines: dict[str, Baseline] = field(default_factory=dict)
    _t0: float = field(default_factory=time.perf_counter, repr=False)

    def __post_init__(self):
        global _chapter
        _chapter = self.chapter  # names the run folder of a notebook opened from notebooks/ (run_dir)

    def baseline(self, name: str, value: float, description: str = "") -> Baseline:
        """Declare a reference baseline (display units) that claims can name in ``baselines=``."""
        if not math.isfinite(float(value)):
            raise ValueError(f"baseline {name!r} needs a finite value, got {value!r}")
        b = self.baselines[name] = Baseline(name, float(value), description)
        return b

    def claim(self, id: str, claim: str, paper: str, verdict: Verdict, *, kind: str = "paper",
              by_construction: bool = False, baselines: Sequence[str] = ()) -> Claim:
        """Add a claim whose numbers and verdict come from a computed :class:`~reprobook.engine.stats.Verdict`.

        ``baselines`` names declared baselines the compared arms should beat; those that beat every
        arm are listed in ``beaten_by`` (the comparison then does not count as a reproduction).
        """
        if any(c.id == id for c in self.claims):
            raise ValueError(f"claim id {id!r} already recorded")
        unknown = [b for b in baselines if b not in self.baselines]
        if unknown:
            raise ValueError(f"claim {id!r} names undeclared baselines {unknown}; declared: {sorted(self.baselines)}")
        beaten_by = [b for b in baselines if beats_all(self.baselines[b].value, verdict)]
        extra = verdict.to_dict()
        c = Claim(id=id, claim=claim, paper=paper, measured=verdict.measured, rule=verdict.rule,
                  verdict=verdict.verdict, kind=kind, by_construction=by_construction, summary=verdict.summary(),
                  beaten_by=beaten_by, **extra)
        self.claims.append(c)
        return c

    def to_dict(self) -> dict[str, Any]:
        return {
            "chapter": self.chapter,
            "parameters": self.parameters,
            "seed": self.seed,
            "metrics": _jsonable(self.metrics),
            "claims": [asdict(c) for c in self.claims],
            "baselines": {k: asdict(b) for k, b in self.baselines.items()},
            "versions": package_versions(),
            "git_commit": git_commit(),
            "wall_time_s": round(time.perf_counter() - self._t0, 2),
            "threads": _torch_threads(),
            "cpus": usable_cpus(),
            "load": _load_average(),
            "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }

    def save(self, directory: str | os.PathLike | None = None) -> Path:
        """Write ``results.json`` atomically into ``directory`` (default: :func:`run_dir`)."""
        return write_json_atomic(self.to_dict(), Path(directory or run_dir()) / "results.json")

    def claims_markdown(self) -> str:
        return claims_markdown([asdict(c) for c in self.claims])

    def claims_table(self):
        """The claims as a Markdown table for display in a notebook."""
        from IPython.display import Markdown

        return Markdown(self.claims_markdown())


def _load_average() -> float | None:
    """The machine's load over the last minute (runnable processes, all users), where the OS says."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def beats_all(value: float, verdict: Verdict) -> bool:
    """Whether a baseline's ``value`` is better than the mean of every arm of ``verdict``."""
    arms = list(verdict.arms.values())
    if not arms:
        return False
    return value > max(arms) if verdict.higher_is_better else value < min(arms)


def _detectable(c: Mapping[str, Any]) -> str:
    d = c.get("detectable")
    if c.get("verdict") != "inconclusive" or d is None:
        return ""
    if isinstance(d, str) or not math.isfinite(float(d)):
        return " (n too small for an interval)"
    u = f" {c['unit']}" if c.get("unit") else ""
    return f" (smallest detectable effect at this n: ±{float(d):.3g}{u})"


def verdict_badge(verdict: str) -> str:
    """A verdict as a text badge: bold text wherever Markdown renders, a coloured box in the book
    (classes ``verdict verdict-<verdict>``, styled by the book's stylesheet). Text, not emoji, so it
    reads the same where no emoji font is installed."""
    slug = re.sub(r"[^a-z]+", "-", verdict.lower()).strip("-")
    return f'<strong class="verdict verdict-{slug}">{verdict}</strong>'


def verdict_cell(c: Mapping[str, Any], mark: Mapping[str, str] | None = None) -> str:
    """The verdict column: the verdict (a :func:`verdict_badge` unless ``mark`` maps it), what an
    inconclusive one could have detected, baseline flags."""
    v = (mark or {}).get(c["verdict"]) or verdict_badge(c["verdict"])
    text = v + _detectable(c)
    if c.get("beaten_by"):
        text += f"; every arm loses to {', '.join(c['beaten_by'])}: not a reproduction"
    return text


def claims_markdown(claims: Sequence[Mapping[str, Any]], mark: Mapping[str, str] | None = None) -> str:
    rows = ["| claim | kind | paper | this run: estimate [95 % interval] (n, test) | rule | verdict |",
            "|---|---|---|---|---|---|"]
    for c in claims:
        kind = c.get("kind", "paper") + (" (by construction)" if c.get("by_construction") else "")
        this_run = c["measured"] + (f"; estimate {c['summary']}" if c.get("summary") else "")
        cells = [c["claim"], kind, c["paper"], this_run, c["rule"], verdict_cell(c, mark)]
        rows.append("| " + " | ".join(str(x).replace("|", "\\|").replace("\n", " ") for x in cells) + " |")
    return "\n".join(rows)


def load_record(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    try:
        rec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read results record {path}: {e}") from None
    for key in ("chapter", "parameters", "seed", "metrics", "claims", "versions", "git_commit", "wall_time_s"):
        if key not in rec:
            raise ValueError(f"results record {path} lacks {key!r}")
    return rec


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item") and callable(x.item) and getattr(x, "ndim", 1) == 0:
        return x.item()
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return x
