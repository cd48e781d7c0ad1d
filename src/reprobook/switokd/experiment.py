"""Chapter 3 experiment: SwitOKD vs DML vs vanilla (and offline KD) through the shared loop.

:func:`run` trains, for each seed, the same initial teacher/student pair with every method of
``cfg.methods`` (vanilla first: its trained teacher is the offline-KD teacher), then the
ablations: SwitOKD with a fixed threshold, without the ``t < s`` test, with the figure's ε,
at other temperatures, and SwitOKD vs DML across teacher widths (the capacity-gap sweep). The
multi-network presets (``topology`` ``1T2S``/``2T1S``) train the three networks of Table 7.

Every run goes through a ``fit``-like callable: the engine's :func:`~reprobook.engine.loop.fit`
with a run-directory checkpoint (notebook), or ``TrainContext.fit`` (``reprobook train``, see
:mod:`reprobook.switokd.trainer`). Networks are wrapped with
:func:`~reprobook.engine.distributed.wrap` (the identity in one process); evaluation shards the
test set over processes and sums the counts.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset, TensorDataset

from reprobook.engine import distributed
from reprobook.engine.config import as_dict
from reprobook.engine.loop import BatchStream, PhaseFit, cached_fit
from reprobook.engine.runtime import resolve_device, seed_everything
from reprobook.switokd.architectures import build, official_reinit
from reprobook.switokd.config import SwitOKDConfig
from reprobook.switokd.data import CLASSES, digits_hard, paper_datasets
from reprobook.switokd.models import book_student, book_teacher
from reprobook.switokd.multinet import step_1t2s, step_2t1s
from reprobook.switokd.okd import lr_at, okd_step, set_lr
from reprobook.switokd.switch import SwitchRule

STEP_KEYS = ("G", "s", "t", "eps", "delta", "expert", "paused")


@dataclass
class PairRun:
    """One training run of a teacher/student pair: per-step scalars and per-epoch test accuracy."""

    key: str  # "<variant>/<method>", e.g. "main/switokd", "fixed0.6/switokd", "width16/dml"
    method: str
    seed: int
    teacher_width: int
    steps_per_epoch: int
    steps: list[int]
    series: dict[str, list[float]]  # STEP_KEYS -> one value per step
    eval_steps: list[int]
    acc_t: list[float]
    acc_s: list[float]
    wall_s: float

    @property
    def final_t(self) -> float:
        return self.acc_t[-1]

    @property
    def final_s(self) -> float:
        return self.acc_s[-1]

    def fraction(self, key: str = "paused") -> float:
        """Share of steps with ``key`` = 1 (``paused``: teacher really skipped; ``expert``: rule fired)."""
        v = self.series[key]
        return sum(v) / len(v)

    def per_epoch(self, key: str) -> list[float]:
        """Mean of a per-step series over each epoch."""
        v, n = self.series[key], self.steps_per_epoch
        return [sum(v[i:i + n]) / len(v[i:i + n]) for i in range(0, len(v), n)]


@dataclass
class SwitOKDResult:
    config: SwitOKDConfig
    runs: dict[str, list[PairRun]] = field(default_factory=dict)  # key -> one run per seed
    wall_s: float = 0.0

    def acc(self, key: str, who: str = "s") -> list[float]:
        """Final-epoch test accuracy of the student (``who="s"``) or teacher (``"t"``), one per seed.

        No epoch is picked by its test accuracy: the test set gives the reported number only."""
        return [getattr(r, f"final_{who}") for r in self.runs[key]]


# ----------------------------------------------------------------------------- building blocks
def rule_of(cfg: SwitOKDConfig) -> SwitchRule:
    return SwitchRule(tau=cfg.tau, epsilon_form=cfg.epsilon_form, fixed_delta=cfg.fixed_delta,
                      require_t_lt_s=cfg.require_t_lt_s)


def datasets(cfg: SwitOKDConfig):
    """(train, test): the generated digits for the book, the real set under ``data_root`` otherwise."""
    if cfg.dataset == "digits_hard":
        kw = dict(copies=cfg.data_copies, test_copies=cfg.data_copies, shift=cfg.data_shift, noise=cfg.data_noise,
                  occlusion=cfg.data_occlusion)
        return digits_hard(split="train", **kw), digits_hard(split="test", **kw)
    return paper_datasets(cfg.dataset, cfg.data_root)


def build_net(cfg: SwitOKDConfig, role: str, *, width: int | None = None) -> nn.Module:
    """The network of ``role`` (teacher, student, third), re-initialised as the official script
    does when ``role`` is in ``cfg.reinit``."""
    net = _build_net(cfg, role, width=width)
    return official_reinit(net) if role in cfg.reinit else net


def _build_net(cfg: SwitOKDConfig, role: str, *, width: int | None = None) -> nn.Module:
    arch = getattr(cfg, role)
    classes = CLASSES[cfg.dataset]
    if arch == "mlp":
        if role == "student":
            return book_student(width or cfg.student_width, classes=classes)
        if role == "third":
            return book_teacher(width or cfg.third_width, classes=classes)
        return book_teacher(width or cfg.teacher_width, classes=classes)
    return build(arch, classes=classes)


def make_optimizer(kind: str, params, *, lr: float, cfg: SwitOKDConfig) -> torch.optim.Optimizer:
    """SGD (momentum, weight decay on every parameter) or Adam, as the official scripts."""
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=cfg.adam_weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


@torch.no_grad()
def accuracy(model: nn.Module, test, *, device, batch: int, num_workers: int = 0) -> float:
    """Top-1 accuracy of ``model`` (unwrapped, eval mode) on the whole test set.

    In a process group each rank counts every ``world_size``-th example and the counts are
    summed, so every rank returns the single-process number.
    """
    model.eval()
    ctx = distributed.current()
    if ctx.enabled:  # every world_size-th example on this rank; counts summed below
        if isinstance(test, TensorDataset):
            test = TensorDataset(*(t[ctx.rank::ctx.world_size] for t in test.tensors))
        else:
            test = Subset(test, range(ctx.rank, len(test), ctx.world_size))
    correct, n = _count_correct(model, test, device=device, batch=batch, num_workers=num_workers)
    if ctx.enabled:
        correct, n = distributed.all_reduce(torch.tensor([correct, n], dtype=torch.float64, device=device)).tolist()
    return correct / n


def _count_correct(model: nn.Module, test, *, device, batch: int, num_workers: int) -> tuple[int, int]:
    correct = n = 0
    if isinstance(test, TensorDataset):
        x, y = test.tensors
        for i in range(0, len(y), batch):
            correct += (model(x[i:i + batch].to(device)).argmax(1).cpu() == y[i:i + batch]).sum().item()
        return correct, len(y)
    for x, y in DataLoader(test, batch_size=batch, num_workers=num_workers):
        correct += (model(x.to(device)).argmax(1).cpu() == y).sum().item()
        n += len(y)
    return correct, n




def phase_name(tag: str) -> str:
    """A file-name-safe training phase name: ``"no_t<s/switokd"`` → ``"no_tlts-switokd"``."""
    return tag.replace("/", "-").replace("<", "lt")


def _fit(fit_fn: PhaseFit | None, phase: str, tag_cfg: dict, step, **kwargs):
    """``fit_fn(phase, step, **kwargs)``, or the notebook's fit with a run checkpoint keyed by ``tag_cfg``."""
    return (fit_fn or cached_fit("switokd", tag_cfg))(phase_name(phase), step, **kwargs)


def _history_to_run(key, method, seed, width, spe, hist, wall) -> PairRun:
    steps, _ = hist.series("expert")
    series = {k: hist.series(k)[1] for k in STEP_KEYS if k in hist.metrics}
    ev, acc_t = hist.series("acc_t")
    return PairRun(key=key, method=method, seed=seed, teacher_width=width, steps_per_epoch=spe, steps=steps,
                   series=series, eval_steps=ev, acc_t=acc_t, acc_s=hist.series("acc_s")[1], wall_s=wall)


# ----------------------------------------------------------------------------- one pair run
def train_pair(cfg: SwitOKDConfig, *, method: str, seed: int, train, test, key: str | None = None,
               rule: SwitchRule | None = None, teacher_width: int | None = None,
               kd_teacher: nn.Module | None = None, progress: bool = True,
               fit_fn: PhaseFit | None = None, logged: tuple[str, ...] = STEP_KEYS,
               ) -> tuple[PairRun, nn.Module, nn.Module]:
    """Train one teacher/student pair with ``method``; returns the run and both networks (on CPU).

    The same ``seed`` gives the same initial networks and batch order for every method.
    ``fit_fn`` (``TrainContext.fit``) replaces the engine's fit; the phase is ``<key>-seed<seed>``.
    ``logged``: the batch scalars kept per step (``expert`` and ``paused`` always).
    """
    logged = tuple(dict.fromkeys(("expert", "paused") + tuple(logged)))
    if any(k not in STEP_KEYS for k in logged):
        raise ValueError(f"logged must be a subset of {', '.join(STEP_KEYS)}; got {logged}")
    device = distributed.device_for(resolve_device(cfg.device))
    rule = rule or rule_of(cfg)
    width = teacher_width or cfg.teacher_width
    key = key or f"main/{method}"
    seed_everything(seed)
    teacher = build_net(cfg, "teacher", width=width)
    student = build_net(cfg, "student")
    if method == "kd":
        if kd_teacher is None:
            raise ValueError("method 'kd' needs a trained teacher (kd_teacher)")
        teacher.load_state_dict(kd_teacher.state_dict())
    teacher, student = teacher.to(device), student.to(device)
    # Data-parallel copies for training (identity in one process); the bare nets hold the state.
    # The offline-KD teacher is frozen, so it is never wrapped.
    teacher_dp = teacher if method == "kd" else distributed.wrap(teacher)
    student_dp = distributed.wrap(student)
    opt_t = None if method == "kd" else make_optimizer("sgd", teacher.parameters(), lr=cfg.lr_t, cfg=cfg)
    opt_s = make_optimizer(cfg.opt_s, student.parameters(), lr=cfg.lr_s, cfg=cfg)
    stream = BatchStream(train, batch_size=cfg.batch_size, seed=seed, num_workers=cfg.num_workers)
    spe = stream.steps_per_epoch

    def step(batch, k):
        x, y = batch[0].to(device), batch[1].to(device)
        epoch = (k - 1) // spe
        set_lr(opt_s, lr_at(cfg.lr_s, epoch, cfg.milestones, cfg.gamma))
        if opt_t is not None:
            set_lr(opt_t, lr_at(cfg.lr_t, epoch, cfg.milestones, cfg.gamma))
        out = okd_step(x, y, teacher=teacher_dp, student=student_dp, opt_t=opt_t, opt_s=opt_s, method=method,
                       rule=rule)
        return {k_: out[k_] for k_ in logged}

    def evaluate(_):
        kw = dict(device=device, batch=cfg.eval_batch, num_workers=cfg.num_workers)
        return {"acc_t": accuracy(teacher, test, **kw), "acc_s": accuracy(student, test, **kw)}

    state = {"teacher": teacher, "student": student, "opt_s": opt_s}
    if opt_t is not None:
        state["opt_t"] = opt_t
    tag_cfg = {**as_dict(cfg), "run": key, "seed": seed, "width": width, "rule": repr(rule)}
    t0 = time.perf_counter()
    hist = _fit(fit_fn, f"{key}-seed{seed}", tag_cfg, step, steps=cfg.epochs * spe, stream=stream, state=state,
                ckpt_every=0 if cfg.dataset == "digits_hard" else spe, eval_fn=evaluate, eval_every=spe,
                desc=f"{key} seed {seed}", progress=progress)
    run = _history_to_run(key, method, seed, width, spe, hist, time.perf_counter() - t0)
    return run, teacher.cpu(), student.cpu()


# ----------------------------------------------------------------------------- the chapter's run
def ablation_variants(cfg: SwitOKDConfig) -> dict[str, SwitchRule]:
    """SwitOKD rule variants of the ablation study, keyed by variant name."""
    base = rule_of(cfg)
    out = {f"fixed{d:g}": replace(base, fixed_delta=d) for d in cfg.fixed_deltas}
    out["no_t<s"] = replace(base, require_t_lt_s=False)
    out["figure_eps"] = replace(base, epsilon_form="figure" if base.epsilon_form == "code" else "code")
    out.update({f"tau{t:g}": replace(base, tau=t) for t in cfg.taus if t != base.tau})
    return out


@contextmanager
def torch_threads(n: int):
    """Use ``n`` torch CPU threads inside the block (0: leave torch's setting), then restore."""
    if not n:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


METHOD_ORDER = ("vanilla", "dml", "switokd", "kd")  # vanilla before kd: its teacher is kd's


def run(cfg: SwitOKDConfig, *, progress: bool = True, fit_fn: PhaseFit | None = None,
        order: tuple[str, ...] = METHOD_ORDER) -> SwitOKDResult:
    """The whole experiment of the chapter (see the module docstring).

    ``order``: the order in which the methods of ``cfg.methods`` are trained for each seed
    (``kd`` needs ``vanilla`` before it); ``fit_fn``: see :func:`train_pair`.
    """
    if cfg.topology != "pair":
        raise ValueError("multi-network presets are trained with run_multinet(cfg)")
    if "kd" in order and "vanilla" in order and order.index("kd") < order.index("vanilla"):
        raise ValueError("order must train 'vanilla' before 'kd'")
    with torch_threads(cfg.threads):
        return _run(cfg, progress=progress, fit_fn=fit_fn, order=order)


def _run(cfg: SwitOKDConfig, *, progress: bool, fit_fn: PhaseFit | None, order: tuple[str, ...]) -> SwitOKDResult:
    t0 = time.perf_counter()
    train, test = datasets(cfg)
    res = SwitOKDResult(cfg)
    order = [m for m in order if m in cfg.methods]
    seeds = [cfg.seed + i for i in range(cfg.n_seeds)]
    for seed in seeds:
        vanilla_teacher = None
        for m in order:
            if m == "kd" and vanilla_teacher is None:
                continue  # offline KD needs the vanilla teacher of the same seed
            r, teacher, _ = train_pair(cfg, method=m, seed=seed, train=train, test=test,
                                       kd_teacher=vanilla_teacher, progress=progress, fit_fn=fit_fn)
            res.runs.setdefault(r.key, []).append(r)
            if m == "vanilla":
                vanilla_teacher = teacher
    if cfg.ablations and "switokd" in cfg.methods:
        ab_seeds = seeds[: cfg.ablation_seeds]
        for name, rule in ablation_variants(cfg).items():
            for seed in ab_seeds:
                r, _, _ = train_pair(cfg, method="switokd", seed=seed, train=train, test=test, rule=rule,
                                     key=f"{name}/switokd", progress=progress, fit_fn=fit_fn)
                res.runs.setdefault(r.key, []).append(r)
        for w in cfg.gap_widths:
            for m in ("dml", "switokd"):
                for seed in ab_seeds:
                    if w == cfg.teacher_width and f"main/{m}" in res.runs:  # reuse the main runs
                        r = next(x for x in res.runs[f"main/{m}"] if x.seed == seed)
                        r = replace(r, key=f"width{w}/{m}")
                    else:
                        r, _, _ = train_pair(cfg, method=m, seed=seed, train=train, test=test, teacher_width=w,
                                             key=f"width{w}/{m}", progress=progress, fit_fn=fit_fn)
                    res.runs.setdefault(r.key, []).append(r)
    res.wall_s = time.perf_counter() - t0
    return res


# ----------------------------------------------------------------------------- three networks
def run_multinet(cfg: SwitOKDConfig, *, seed: int | None = None, progress: bool = True,
                 fit_fn: PhaseFit | None = None):
    """Train the three networks of a ``1T2S``/``2T1S`` preset; returns ``(History, networks)``.

    ``fit_fn``: see :func:`train_pair`; the phase is ``<topology>-seed<seed>``.
    """
    if cfg.topology == "pair":
        raise ValueError("run_multinet needs topology '1T2S' or '2T1S'")
    device = distributed.device_for(resolve_device(cfg.device))
    seed = cfg.seed if seed is None else seed
    train, test = datasets(cfg)
    seed_everything(seed)
    nets = {"teacher": build_net(cfg, "teacher").to(device), "student": build_net(cfg, "student").to(device),
            "third": build_net(cfg, "third").to(device)}
    opt_kind = {"teacher": "sgd", "student": cfg.opt_s, "third": cfg.opt_third}
    base_lr = {"teacher": cfg.lr_t, "student": cfg.lr_s, "third": cfg.lr_third}
    opts = {k: make_optimizer(opt_kind[k], nets[k].parameters(), lr=base_lr[k], cfg=cfg) for k in nets}
    dp = {k: distributed.wrap(m) for k, m in nets.items()}  # trained copies; ``nets`` hold the state
    stream = BatchStream(train, batch_size=cfg.batch_size, seed=seed, num_workers=cfg.num_workers)
    spe = stream.steps_per_epoch
    rule = rule_of(cfg)

    def step(batch, k):
        x, y = batch[0].to(device), batch[1].to(device)
        for name, opt in opts.items():
            set_lr(opt, lr_at(base_lr[name], (k - 1) // spe, cfg.milestones, cfg.gamma))
        if cfg.topology == "2T1S":  # T1 = teacher, T2 = third, S = student
            return step_2t1s(x, y, T1=dp["teacher"], T2=dp["third"], S=dp["student"], opt_T1=opts["teacher"],
                             opt_T2=opts["third"], opt_S=opts["student"], rule=rule,
                             official_quirks=cfg.official_quirks)
        return step_1t2s(x, y, T=dp["teacher"], S1=dp["student"], S2=dp["third"], opt_T=opts["teacher"],
                         opt_S1=opts["student"], opt_S2=opts["third"], rule=rule, official_quirks=cfg.official_quirks)

    def evaluate(_):
        kw = dict(device=device, batch=cfg.eval_batch, num_workers=cfg.num_workers)
        return {f"acc_{k}": accuracy(m, test, **kw) for k, m in nets.items()}

    state = {**nets, **{f"opt_{k}": o for k, o in opts.items()}}
    with torch_threads(cfg.threads):
        hist = _fit(fit_fn, f"{cfg.topology}-seed{seed}", {**as_dict(cfg), "seed": seed}, step,
                    steps=cfg.epochs * spe, stream=stream, state=state,
                    ckpt_every=0 if cfg.dataset == "digits_hard" else spe, eval_fn=evaluate, eval_every=spe,
                    desc=f"{cfg.topology} seed {seed}", progress=progress)
    return hist, {k: m.cpu() for k, m in nets.items()}


def train_networks(cfg: SwitOKDConfig, *, progress: bool = True):
    """Dispatch for a command-line or GPU run: :func:`run` for pairs, :func:`run_multinet` otherwise."""
    if cfg.topology == "pair":
        return run(cfg, progress=progress)
    return run_multinet(cfg, progress=progress)



# ----------------------------------------------------------------------------- reporting
def summary_rows(res: SwitOKDResult, prefix: tuple[str, ...] = ("main",)) -> list[dict]:
    """One row per run key starting with one of ``prefix``: accuracies and expert fraction over seeds."""
    from reprobook.engine.results import fmt

    rows = []
    for key, rs in res.runs.items():
        if not key.startswith(prefix):
            continue
        rows.append({"run": key, "seeds": len(rs),
                     "teacher acc %": fmt([r.final_t for r in rs], scale=100, digits=1),
                     "student acc %": fmt([r.final_s for r in rs], scale=100, digits=1),
                     "expert fraction": fmt([r.fraction("expert") for r in rs], digits=2),
                     "teacher paused": fmt([r.fraction("paused") for r in rs], digits=2)})
    return rows


def summary_table(res: SwitOKDResult, prefix: tuple[str, ...] = ("main",)):
    """:func:`summary_rows` as a Markdown table for a notebook."""
    from IPython.display import Markdown

    rows = summary_rows(res, prefix)
    if not rows:
        return Markdown("*(no runs)*")
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(r[h]).replace("|", "\\|") for h in head) + " |" for r in rows]
    return Markdown("\n".join(lines))


def metrics(res: SwitOKDResult) -> dict:
    """Per-seed numbers of every run key, for the results record."""
    out = {}
    for key, rs in res.runs.items():
        out[key] = {"final_teacher_acc": [r.final_t for r in rs], "final_student_acc": [r.final_s for r in rs],
                    "expert_fraction": [r.fraction("expert") for r in rs],
                    "paused_fraction": [r.fraction("paused") for r in rs], "seeds": [r.seed for r in rs]}
    out["wall_s_experiment"] = res.wall_s
    return out


MULTINET_ROLES = {"2T1S": {"teacher": "T1", "third": "T2", "student": "S"},
                  "1T2S": {"teacher": "T", "student": "S1", "third": "S2"}}


def multinet_rows(runs: dict) -> list[dict]:
    """Rows for ``{topology: (History, nets)}`` from :func:`run_multinet`: final accuracy of each
    network and how often each teacher paused (2T1S) or how often the 1T2S gates were closed."""
    rows = []
    for top, (hist, nets) in runs.items():
        names = MULTINET_ROLES[top]
        row = {"topology": top}
        for role in ("teacher", "third", "student") if top == "2T1S" else ("teacher", "student", "third"):
            hidden = [m.out_features for m in nets[role].modules() if isinstance(m, nn.Linear)][:-1]
            arch = "MLP " + "-".join(map(str, hidden)) if hidden else type(nets[role]).__name__
            row[f"{names[role]} ({arch}) acc %"] = f"{100 * hist.last(f'acc_{role}'):.1f}"
        if top == "2T1S":
            row["T1 paused"] = f"{sum(hist.series('paused1')[1]) / len(hist.series('paused1')[1]):.2f}"
            row["T2 paused"] = f"{sum(hist.series('paused2')[1]) / len(hist.series('paused2')[1]):.2f}"
        else:
            for g in ("w1", "w2", "w0"):
                v = hist.series(g)[1]
                row[f"{g} = 0"] = f"{sum(1 for x in v if x == 0) / len(v):.2f}"
        rows.append(row)
    return rows


def multinet_table(runs: dict):
    """:func:`multinet_rows` as Markdown, one small table per topology."""
    from IPython.display import Markdown

    parts = []
    for row in multinet_rows(runs):
        head = list(row)
        parts += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                  "| " + " | ".join(str(row[h]) for h in head) + " |", ""]
    return Markdown("\n".join(parts) if parts else "*(no multi-network runs)*")


def describe(cfg: SwitOKDConfig) -> str:
    """The networks, data and schedule of a config, in words (Markdown), every number from ``cfg``."""
    from reprobook.switokd.models import n_params

    t, s = build_net(cfg, "teacher"), build_net(cfg, "student")
    nt, ns = n_params(t), n_params(s)
    if cfg.dataset == "digits_hard":
        train, test = datasets(cfg)
        data = (f"`digits_hard`: {cfg.data_copies} perturbed copies of each of scikit-learn's 8×8 digits "
                f"(shift up to {cfg.data_shift} px, pixel noise std {cfg.data_noise:g}, "
                + (f"a zeroed {cfg.data_occlusion}×{cfg.data_occlusion} square" if cfg.data_occlusion else "no occlusion")
                + f"), {len(train)} training and {len(test)} test images")
        nets = (f"teacher MLP 64-{cfg.teacher_width}-{cfg.teacher_width}-10 ({nt:,} parameters), student MLP "
                f"64-{cfg.student_width}-10 ({ns:,} parameters), {nt / ns:.0f}× fewer")
    else:
        data = f"`{cfg.dataset}` under `data_root`"
        nets = f"teacher `{cfg.teacher}` ({nt:,} parameters), student `{cfg.student}` ({ns:,} parameters)"
    return (f"**Networks:** {nets}. **Data:** {data}. **Schedule:** {cfg.epochs} epochs, batch {cfg.batch_size}, "
            f"SGD (momentum {cfg.momentum:g}, weight decay {cfg.weight_decay:g}), learning rate teacher {cfg.lr_t:g} / "
            f"student {cfg.lr_s:g}, ×{cfg.gamma:g} at epochs {', '.join(map(str, cfg.milestones))}; τ = {cfg.tau:g}; "
            f"fixed thresholds of the ablation δ ∈ {{{', '.join(f'{d:g}' for d in cfg.fixed_deltas)}}}; "
            f"capacity-gap teacher widths {', '.join(map(str, cfg.gap_widths))}.")
