"""The chapter registry: name → notebook, package, presets, time budgets.

A chapter is *available* once its notebook exists in ``notebooks/``; ``reprobook list`` shows
the available ones. Budgets are the wall-clock limits of the default run and of smoke mode on
a 2-core CPU. The registry imports nothing heavy: the preset names are written here (a test
checks them against the config modules), so listing chapters or refusing an unknown one takes
no torch import.
"""

from __future__ import annotations

import difflib
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
    preset_names: tuple[str, ...] = ("book", "paper")  # the keys of the config's presets dict, in order
    smoke_budget_s: int = 20
    trainer: str = ""  # "module:function" run by `reprobook train`: train(cfg, ctx) -> Record
    evidence: str = ""  # "module:ATTRIBUTE" of the chapter's evidence Grid, run by `reprobook evidence`
    key_code: tuple[str, ...] = ()  # "module:qualname" of the method's key code, shown on the chapter's page

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
        """The preset names, from the registry (no import of the chapter's code)."""
        return self.preset_names

    def config_presets(self) -> tuple[str, ...]:
        """The preset names as the chapter's config module defines them (imports torch)."""
        module, attr = self.config.split(":")
        return tuple(getattr(importlib.import_module(module), attr))


_DFQ_PAPER = ("paper", "paper_cifar100", "paper_imagenet_r18", "paper_imagenet_mv2", "paper_imagenet_r50",
              "paper_imagenet_r50_w5")

CHAPTERS: dict[str, Chapter] = {c.name: c for c in [
    Chapter("intro", 0, "The toolkit: a run, a figure, a widget, a record", "00_intro.ipynb",
            "reprobook.intro", "reprobook.intro.config:PRESETS", 30, preset_names=("book", "long"),
            trainer="reprobook.intro.trainer:train",
            evidence="reprobook.intro.experiment:GRID", key_code=("reprobook.intro.experiment:train_one",)),
    Chapter("tac", 1, "TAC: targeted acceleration and compression of 1-bit networks", "01_tac.ipynb",
            "reprobook.tac", "reprobook.tac.config:PRESETS", 120, preset_names=("book", "paper", "paper_cifar"),
            trainer="reprobook.tac.trainer:train", evidence="reprobook.tac.experiment:GRID",
            key_code=("reprobook.tac.binarize:XNORWeight", "reprobook.tac.compress:weight_sharing")),
    Chapter("m2net", 2, "M²Net: geo-aware inference-path selection", "02_m2net.ipynb",
            "reprobook.m2net", "reprobook.m2net.config:PRESETS", 120,
            trainer="reprobook.m2net.trainer:train", evidence="reprobook.m2net.experiment:GRID",
            key_code=("reprobook.m2net.method:reward", "reprobook.m2net.method:phase1_loss")),
    Chapter("switokd", 3, "SwitOKD: switchable online knowledge distillation", "03_switokd.ipynb",
            "reprobook.switokd", "reprobook.switokd.config:PRESETS", 120,
            preset_names=("book", "paper", "paper_cifar10", "paper_cifar100", "paper_tiny", "paper_imagenet",
                          "paper_2t1s", "paper_1t2s"),
            trainer="reprobook.switokd.trainer:train", evidence="reprobook.switokd.shipped:GRID",
            key_code=("reprobook.switokd.switch:decide", "reprobook.switokd.okd:okd_step")),
    Chapter("adasg", 4, "AdaSG: data-free quantization as a zero-sum game", "04_adasg.ipynb",
            "reprobook.dfq", "reprobook.dfq.config:ADASG_PRESETS", 180, preset_names=("book", "evidence", *_DFQ_PAPER),
            trainer="reprobook.dfq.trainer:train", evidence="reprobook.dfq.grid:GRID",
            key_code=("reprobook.dfq.adaptability:normalized_entropy", "reprobook.dfq.adaptability:margin_loss",
                      "reprobook.dfq.adasg:adasg_method")),
    Chapter("adadfq", 5, "AdaDFQ: adaptive data-free quantization", "05_adadfq.ipynb",
            "reprobook.dfq", "reprobook.dfq.config:ADADFQ_PRESETS", 180, preset_names=("book", *_DFQ_PAPER),
            trainer="reprobook.dfq.trainer:train",
            key_code=("reprobook.dfq.adaptability:disagreement_loss", "reprobook.dfq.adaptability:agreement_loss",
                      "reprobook.dfq.adaptability:balance_loss", "reprobook.dfq.adadfq:adadfq_method")),
    Chapter("ffgan", 6, "FF-GAN: fine-grained text-image fusion", "06_ffgan.ipynb",
            "reprobook.ffgan", "reprobook.ffgan.config:PRESETS", 180, trainer="reprobook.ffgan.trainer:train",
            evidence="reprobook.ffgan.shipped:GRID",
            key_code=("reprobook.ffgan.model:ACM", "reprobook.ffgan.model:SentenceAttention")),
    Chapter("strdiffusion", 7, "StrDiffusion: structure-guided diffusion inpainting", "07_strdiffusion.ipynb",
            "reprobook.strdiffusion", "reprobook.strdiffusion.config:PRESETS", 240,
            preset_names=("book", "evidence", "paper", "paper_t400"),
            trainer="reprobook.strdiffusion.trainer:train", evidence="reprobook.strdiffusion.fitting:GRID",
            key_code=("reprobook.strdiffusion.sde:IRSDE", "reprobook.strdiffusion.sampler:Resampling")),
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


def get(name: str | int) -> Chapter:
    """The available chapter called ``name``, in any case, or numbered ``name`` (``3`` or ``"3"``).

    An unknown name fails with one line naming the closest chapter and all available ones.
    """
    chapters = available()
    key = str(name).strip()
    by_key = {**{c.name.lower(): c for c in chapters.values()}, **{str(c.number): c for c in chapters.values()}}
    if key.lower() in by_key:
        return by_key[key.lower()]
    close = difflib.get_close_matches(key.lower(), [c.name for c in chapters.values()], n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ValueError(f"unknown chapter {key!r}; {hint}available: "
                     f"{', '.join(f'{c.name} ({c.number})' for c in chapters.values())}")
