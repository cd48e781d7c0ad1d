"""The chapter registry: name → notebook, package, presets, time budgets.

A chapter is *available* once its notebook exists in ``notebooks/``; ``reprobook list`` shows
the available ones. Budgets are the wall-clock limits of the default run and of smoke mode on
a 2-core CPU.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Chapter:
    name: str
    number: int
    title: str
    notebook: str  # file name in notebooks/
    package: str  # the chapter's code
    config: str  # "module:ATTRIBUTE" of the presets dict
    budget_s: int  # default run, 2-core CPU
    smoke_budget_s: int = 20
    trainer: str = ""  # "module:function" run by `reprobook train`: train(cfg, ctx) -> Record
    evidence: str = ""  # "module:ATTRIBUTE" of the chapter's evidence Grid, run by `reprobook evidence`

    @property
    def stem(self) -> str:
        return Path(self.notebook).stem

    @property
    def params(self) -> str:
        """``module:function`` building the config from ``preset``, ``smoke`` and overrides."""
        module = self.config.split(":")[0]
        return f"{module}:{self.name}_from_params" if self.package == "reprobook.dfq" else f"{module}:from_params"

    def grid(self):
        """The chapter's :class:`~reprobook.engine.evidence.Grid` (``reprobook evidence``)."""
        if not self.evidence:
            raise ValueError(f"chapter {self.name!r} has no evidence grid")
        module, attr = self.evidence.split(":")
        return getattr(importlib.import_module(module), attr)

    def presets(self) -> tuple[str, ...]:
        module, attr = self.config.split(":")
        return tuple(getattr(importlib.import_module(module), attr))


CHAPTERS: dict[str, Chapter] = {c.name: c for c in [
    Chapter("intro", 0, "The toolkit: a run, a figure, a widget, a record", "00_intro.ipynb",
            "reprobook.intro", "reprobook.intro.config:PRESETS", 30, trainer="reprobook.intro.trainer:train",
            evidence="reprobook.intro.experiment:GRID"),
    Chapter("tac", 1, "TAC: targeted acceleration and compression of 1-bit networks", "01_tac.ipynb",
            "reprobook.tac", "reprobook.tac.config:PRESETS", 120, trainer="reprobook.tac.trainer:train"),
    Chapter("m2net", 2, "M²Net: geo-aware inference-path selection", "02_m2net.ipynb",
            "reprobook.m2net", "reprobook.m2net.config:PRESETS", 120,
            trainer="reprobook.m2net.trainer:train"),
    Chapter("switokd", 3, "SwitOKD: switchable online knowledge distillation", "03_switokd.ipynb",
            "reprobook.switokd", "reprobook.switokd.config:PRESETS", 120,
            trainer="reprobook.switokd.trainer:train"),
    Chapter("adasg", 4, "AdaSG: data-free quantization as a zero-sum game", "04_adasg.ipynb",
            "reprobook.dfq", "reprobook.dfq.config:ADASG_PRESETS", 180,
            trainer="reprobook.dfq.trainer:train", evidence="reprobook.dfq.grid:GRID"),
    Chapter("adadfq", 5, "AdaDFQ: adaptive data-free quantization", "05_adadfq.ipynb",
            "reprobook.dfq", "reprobook.dfq.config:ADADFQ_PRESETS", 180,
            trainer="reprobook.dfq.trainer:train"),
    Chapter("ffgan", 6, "FF-GAN: fine-grained text-image fusion", "06_ffgan.ipynb",
            "reprobook.ffgan", "reprobook.ffgan.config:PRESETS", 180, trainer="reprobook.ffgan.trainer:train",
            evidence="reprobook.ffgan.shipped:GRID"),
    Chapter("strdiffusion", 7, "StrDiffusion: structure-guided diffusion inpainting", "07_strdiffusion.ipynb",
            "reprobook.strdiffusion", "reprobook.strdiffusion.config:PRESETS", 240,
            trainer="reprobook.strdiffusion.trainer:train", evidence="reprobook.strdiffusion.fitting:GRID"),
]}


class SourceCheckoutError(RuntimeError):
    """The notebooks and book sources live in the repository, not in the installed package."""


def repo_root() -> Path:
    """The source checkout this package is installed from (editable install)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "notebooks").is_dir() or not (root / "_config.yml").is_file():
        raise SourceCheckoutError("notebooks and book sources not found: install reprobook editable "
                                  "from its repository (pip install -e .)")
    return root


def notebook_path(chapter: Chapter) -> Path:
    return repo_root() / "notebooks" / chapter.notebook


def available() -> dict[str, Chapter]:
    """Chapters whose notebook exists, in book order."""
    nb_dir = repo_root() / "notebooks"
    return {n: c for n, c in sorted(CHAPTERS.items(), key=lambda kv: kv[1].number)
            if (nb_dir / c.notebook).is_file()}


def get(name: str) -> Chapter:
    chapters = available()
    if name not in chapters:
        raise ValueError(f"unknown chapter {name!r}; available: {', '.join(chapters)}")
    return chapters[name]
