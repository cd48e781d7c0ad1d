r"""Chapter 1 experiment: the five variants, the FC-treatment sweep and the ablations.

Per seed, in this order (the TAC pipeline's order is not published; this is the reading of the
chapter's notes):

1. train the full-precision network (variant ``fp``) for ``fp_steps``;
2. from its weights, train each binary variant (``xnor_conv``, ``xnor_all``, ``fc_binary``) end to
   end (XNOR-Net fine-tunes from the FP weights): ``bin_steps`` steps, and XNOR-all as many steps as
   TAC trains in all (``bin_steps + prune_steps + quant_steps``, unless ``xnor_all_steps`` says
   otherwise); every step is
   (i) mean-centre and clamp the latent binary weights, (ii) forward with :math:`\tilde W=\alpha\,
   \mathrm{sign}(W)` and sign activations, (iii) backward with the corrected weight gradient and the
   clipped straight-through activation gradient, (iv) Adam step on the latent weights;
3. TAC: take the trained ``xnor_conv`` network (binary conv, FP FC), freeze the conv layers ("conv
   and FC layers are separated and optimized individually"), and compress the FC layers:
   prune to ``prune_rate`` and retrain with fixed masks (``prune_steps``), then share weights with
   ``bits`` bits and fine-tune the codebooks (``quant_steps``) — or the other order;
4. the marginal trade from XNOR conv-only: on the same frozen trunk, binarize the FC layers instead
   and retrain them for ``prune_steps + quant_steps`` (``trunk_fc_binary``).

With the conv layers frozen, the FC stages see fixed inputs, so on an in-memory dataset the conv
features are computed once and the FC stages train on them (same numbers, much faster).
The sweep (first ``sweep_seeds`` seeds; every seed of the evidence grid) repeats step 3 for every
pruning rate and bit-width, for the uniform quantizer and for quantize → prune, on the same frozen
trunk as step 4's binary FC, so that all FC treatments of a seed share one binary conv trunk.

:data:`GRID` is the chapter's evidence grid (``reprobook evidence tac``): one cell per seed runs
steps 1–4 and the whole sweep; :class:`Measured` reads per-seed numbers from it or from a live run.

Every training stage goes through a :data:`~reprobook.engine.loop.PhaseFit` ``fitter``: the
notebook's default, :func:`~reprobook.engine.loop.cached_fit`, checkpoints into the run directory;
``reprobook train`` passes its context's resumable phases. Under ``torchrun`` each stage trains a data-parallel copy of the
network (global batch norm, averaged gradients) and test accuracy is summed over the ranks' shards.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset

from reprobook.engine import distributed
from reprobook.engine.config import as_dict
from reprobook.engine.evidence import EvidenceRecord, Grid
from reprobook.engine.loop import BatchStream, History, PhaseFit, cached_fit
from reprobook.engine.runtime import resolve_device, seed_everything
from reprobook.tac.accounting import Accounting, account
from reprobook.tac.compress import enforce_masks
from reprobook.tac.config import TACConfig
from reprobook.tac.data import digits_hard, real_dataset
from reprobook.tac.model import TACNet

MAIN_VARIANTS = ("fp", "xnor_all", "xnor_conv", "fc_binary", "tac")
TRUNK_FC_BINARY = "trunk_fc_binary"  # XNOR conv-only with its FC layers binarized on the frozen trunk


@dataclass
class SeedRun:
    seed: int
    nets: dict[str, TACNet]  # variant -> trained network (on CPU)
    acc: dict[str, float]  # variant -> test accuracy
    histories: dict[str, History]
    features: tuple[TensorDataset, TensorDataset] | None  # conv features of the xnor_conv trunk (train, test)


@dataclass
class TACResult:
    config: TACConfig
    runs: list[SeedRun]
    costs: dict[str, Accounting]  # variant -> size and cost (seed 0's network)
    sweep: list[dict] = field(default_factory=list)  # one row per FC treatment and seed

    def acc(self, variant: str) -> list[float]:
        return [r.acc[variant] for r in self.runs]


def load_data(cfg: TACConfig) -> tuple[Dataset, Dataset]:
    if cfg.dataset == "digits_hard":
        kw = dict(noise=cfg.noise, occlude=cfg.occlude, shift=cfg.shift)
        return digits_hard(split="train", **kw), digits_hard(split="test", **kw)
    if cfg.dataset == "digits":
        from reprobook.engine.data import digits

        return digits(split="train"), digits(split="test")
    return real_dataset(cfg.dataset, "train", cfg.data_root), real_dataset(cfg.dataset, "test", cfg.data_root)


def build_net(cfg: TACConfig, variant: str = "fp") -> TACNet:
    kw = {} if cfg.arch == "digits" and cfg.num_classes == 10 else {"classes": cfg.num_classes}
    return TACNet(arch=cfg.arch, variant=variant, grad_rescale=cfg.grad_rescale, **kw)


def _batches(ds: Dataset, cfg: TACConfig):
    if isinstance(ds, TensorDataset):
        n = len(ds)
        for i in range(0, n, cfg.eval_batch):
            yield tuple(t[i:i + cfg.eval_batch] for t in ds.tensors)
    else:
        yield from DataLoader(ds, batch_size=cfg.eval_batch, num_workers=cfg.num_workers)


def _shard(ds: Dataset) -> Dataset:
    """This rank's share of a test set (items rank, rank + N, ...); the whole set for one process."""
    ctx = distributed.current()
    if not ctx.enabled:
        return ds
    idx = torch.arange(ctx.rank, len(ds), ctx.world_size)
    if isinstance(ds, TensorDataset):
        return TensorDataset(*(t[idx] for t in ds.tensors))
    return torch.utils.data.Subset(ds, idx.tolist())


@torch.no_grad()
def accuracy(fn: Callable[[torch.Tensor], torch.Tensor], ds: Dataset, cfg: TACConfig, device) -> float:
    """Top-1 accuracy over ``ds``; under ``torchrun`` each rank scores its shard and the counts are summed."""
    correct = total = 0
    for x, y in _batches(_shard(ds), cfg):
        x, y = x.to(device), y.to(device)
        correct += (fn(x).argmax(1) == y).sum().item()
        total += len(y)
    if distributed.current().enabled:
        correct, total = distributed.all_reduce(torch.tensor([correct, total], dtype=torch.float64)).tolist()
    return correct / total


def net_accuracy(net: TACNet, ds: Dataset, cfg: TACConfig, device) -> float:
    net.eval()
    net.prepare_binary_()  # XNOR-Net also binarizes (centre, clamp) before testing
    return accuracy(net, ds, cfg, device)


def head_accuracy(net: TACNet, feats: Dataset, cfg: TACConfig, device) -> float:
    net.head.eval()
    net.prepare_binary_(list(net.head))
    return accuracy(net.head, feats, cfg, device)


def _schedule(opt, steps: int, milestones: Sequence[float]):
    bounds = [m * steps for m in milestones]
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.1 ** sum(s >= b for b in bounds))


def train(net: TACNet, part: str, train_ds: Dataset, *, steps: int, lr: float, cfg: TACConfig,
          tag: str, seed: int, device, encode: Callable | None = None, progress: bool = True,
          fitter: PhaseFit | None = None) -> History:
    """Train the parameters of ``part``: ``"all"`` layers, or the FC layers (``"head"``) on conv features.

    ``encode`` maps a batch's inputs to the modules' inputs (``None``: they are the inputs already).
    Masks are enforced on gradients and Adam moments before each step and on weights after it.
    The stage is the fitter's phase ``<tag>-seed<seed>``.
    """
    seq = net if part == "all" else net.head
    # identity for one process; under torchrun global BN + DDP. Wrapping replaces the BN layers,
    # so it comes before the optimizer collects the parameters.
    model = distributed.wrap(seq)
    modules = net.layers() if part == "all" else list(net.head)
    params = [p for p in seq.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=cfg.weight_decay)
    sched = _schedule(opt, steps, cfg.lr_milestones)
    binary = [m for m in modules if m.binary]

    def step(batch, _):
        x, y = (t.to(device) for t in batch)
        if encode is not None:
            x = encode(x)
        model.train()
        net.prepare_binary_(binary)  # (i) centre + clamp latent binary weights (same on every rank)
        loss = F.cross_entropy(model(x), y)  # (ii) forward with W̃ = α·sign(W), sign activations
        opt.zero_grad(set_to_none=True)
        loss.backward()  # (iii) corrected XNOR gradient, clipped STE
        enforce_masks(modules, opt)  # pruned entries: no gradient, no moments
        opt.step()  # (iv) update the latent weights / codebooks
        enforce_masks(modules, opt, grads=False)
        sched.step()
        return {"loss": loss}

    if steps == 0:
        return History()
    fitter = fitter or cached_fit("tac", as_dict(cfg))
    return fitter(f"{tag}-seed{seed}", step, steps=steps,
                  stream=BatchStream(train_ds, batch_size=cfg.batch_size, seed=seed, num_workers=cfg.num_workers),
                  state={"net": net, "opt": opt, "sched": sched},
                  ckpt_every=max(1, steps // 2) if steps >= 1000 else 0, desc=f"{tag} seed {seed}",
                  progress=progress)


def compress_fc(net: TACNet, cfg: TACConfig, feats: Dataset, *, rate: float, bits: int, quantizer: str,
                order: str, tag: str, seed: int, device, encode=None, progress: bool = False,
                pruned: dict | None = None, fitter: PhaseFit | None = None) -> tuple[TACNet, dict]:
    """TAC's FC stages on a copy of ``net``: prune ↔ quantize in ``order``, each followed by retraining.

    Returns the compressed network and ``{"pruned_acc": accuracy after pruning + retraining}``.
    ``pruned`` caches the pruned-and-retrained network per rate (prune → quantize only).
    """
    targets = lambda n: [lay for lay in n.head if lay.spec.group == "fc" or  # noqa: E731
                         (cfg.compress_classifier and lay.spec.group == "classifier")]
    evaluate = (lambda n: head_accuracy(n, feats[1], cfg, device)) if encode is None else \
        (lambda n: net_accuracy(n, feats[1], cfg, device))
    info = {}
    if order == "prune_quantize":
        if pruned is not None and rate in pruned:
            p, info["pruned_acc"] = pruned[rate]
        else:
            p = copy.deepcopy(net)
            for lay in targets(p):
                lay.prune_(rate)
            train(p, "head", feats[0], steps=cfg.prune_steps, lr=cfg.head_lr, cfg=cfg,
                  tag=f"{tag}-prune{rate:g}", seed=seed, device=device, encode=encode, progress=progress,
                  fitter=fitter)
            info["pruned_acc"] = evaluate(p)
            if pruned is not None:
                pruned[rate] = (p, info["pruned_acc"])
        q = copy.deepcopy(p)
        for lay in targets(q):
            lay.quantize_(bits, method=quantizer, iters=cfg.kmeans_iters)
        train(q, "head", feats[0], steps=cfg.quant_steps, lr=cfg.head_lr, cfg=cfg,
              tag=f"{tag}-prune{rate:g}-{quantizer}{bits}", seed=seed, device=device, encode=encode,
              progress=progress, fitter=fitter)
    else:
        q = copy.deepcopy(net)
        for lay in targets(q):
            lay.quantize_(bits, method=quantizer, iters=cfg.kmeans_iters)
        train(q, "head", feats[0], steps=cfg.quant_steps, lr=cfg.head_lr, cfg=cfg,
              tag=f"{tag}-{quantizer}{bits}", seed=seed, device=device, encode=encode, progress=progress,
              fitter=fitter)
        for lay in targets(q):
            lay.prune_(rate)
        train(q, "head", feats[0], steps=cfg.prune_steps, lr=cfg.head_lr, cfg=cfg,
              tag=f"{tag}-{quantizer}{bits}-prune{rate:g}", seed=seed, device=device, encode=encode,
              progress=progress, fitter=fitter)
    return q, info


@torch.no_grad()
def conv_features(net: TACNet, ds: TensorDataset, cfg: TACConfig, device) -> TensorDataset:
    """The frozen trunk's output for every item: ``[N, C·H·W]`` features with the labels."""
    net.eval()
    net.prepare_binary_()
    xs, ys = [], []
    for x, y in _batches(ds, cfg):
        xs.append(net.trunk(x.to(device)))
        ys.append(y.to(device))
    return TensorDataset(torch.cat(xs), torch.cat(ys))


def run_seed(cfg: TACConfig, seed: int, train_ds: Dataset, test_ds: Dataset, *, sweep: bool,
             progress: bool = True, fitter: PhaseFit | None = None) -> tuple[SeedRun, list[dict]]:
    device = distributed.device_for(resolve_device(cfg.device))
    fitter = fitter or cached_fit("tac", as_dict(cfg))
    seed_everything(seed)
    nets, acc, hist = {}, {}, {}
    # 1. full precision
    fp = build_net(cfg, "fp").to(device)
    hist["fp"] = train(fp, "all", train_ds, steps=cfg.fp_steps, lr=cfg.lr, cfg=cfg, tag="fp", seed=seed,
                       device=device, progress=progress, fitter=fitter)
    nets["fp"], acc["fp"] = fp, net_accuracy(fp, test_ds, cfg, device)
    # 2. binary variants, each from the FP weights
    for v in ("xnor_conv", "xnor_all", "fc_binary"):
        seed_everything(seed)
        net = copy.deepcopy(fp).set_variant(v)
        # XNOR-all trains as many steps as TAC: TAC's trunk (bin_steps) plus its FC stages
        steps = cfg.xnor_all_train_steps if v == "xnor_all" else cfg.bin_steps
        hist[v] = train(net, "all", train_ds, steps=steps, lr=cfg.lr, cfg=cfg, tag=v, seed=seed,
                        device=device, progress=progress, fitter=fitter)
        nets[v], acc[v] = net, net_accuracy(net, test_ds, cfg, device)
    # 3. TAC: FC layers of the xnor_conv network pruned + quantized, conv frozen
    base = copy.deepcopy(nets["xnor_conv"]).set_variant("tac")
    for p in base.features.parameters():
        p.requires_grad_(False)
    if isinstance(train_ds, TensorDataset):
        feats, encode = (conv_features(base, train_ds, cfg, device), conv_features(base, test_ds, cfg, device)), None
    else:
        base.features.eval()
        feats, encode = (train_ds, test_ds), torch.no_grad()(base.trunk)
    seed_everything(seed)
    pruned: dict = {}
    tac, _ = compress_fc(base, cfg, feats, rate=cfg.prune_rate, bits=cfg.bits, quantizer=cfg.quantizer,
                         order=cfg.order, tag="tac", seed=seed, device=device, encode=encode, progress=progress,
                         pruned=pruned, fitter=fitter)
    nets["tac"] = tac
    acc["tac"] = net_accuracy(tac, test_ds, cfg, device)
    # the marginal trade from XNOR conv-only: its FC layers binarized instead, on the same frozen trunk,
    # for as many steps as TAC's FC stages
    seed_everything(seed)
    fcb = copy.deepcopy(base).set_variant("xnor_all")
    train(fcb, "head", feats[0], steps=cfg.prune_steps + cfg.quant_steps, lr=cfg.head_lr, cfg=cfg,
          tag="trunk-binaryfc", seed=seed, device=device, encode=encode, progress=progress, fitter=fitter)
    nets[TRUNK_FC_BINARY] = fcb
    acc[TRUNK_FC_BINARY] = net_accuracy(fcb, test_ds, cfg, device)
    done = {(cfg.prune_rate, cfg.bits, cfg.quantizer, cfg.order): tac}
    rows = sweep_fc(cfg, base, feats, seed, device, encode, pruned, done, fcb, fitter=fitter,
                    progress=progress) if sweep else []
    run = SeedRun(seed, {k: v.cpu() for k, v in nets.items()}, acc, hist,
                  feats if encode is None else None)
    return run, rows


def sweep_points(cfg: TACConfig) -> list[tuple[float, int, str, str]]:
    """The sweep's (pruning rate, bits, quantizer, order) points: the rate sweep at ``bits``, the bit
    sweep at ``prune_rate``, the other quantizer and the other order at the default point."""
    points = [(r, cfg.bits, cfg.quantizer, "prune_quantize") for r in cfg.sweep_rates]
    points += [(cfg.prune_rate, b, cfg.quantizer, "prune_quantize") for b in cfg.sweep_bits]
    other = "uniform" if cfg.quantizer == "kmeans" else "kmeans"
    other_order = "quantize_prune" if cfg.order == "prune_quantize" else "prune_quantize"
    points += [(cfg.prune_rate, cfg.bits, other, cfg.order), (cfg.prune_rate, cfg.bits, cfg.quantizer, other_order)]
    return list(dict.fromkeys(points))


def sweep_keys(cfg: TACConfig) -> list[dict]:
    """The sweep's rows, in the order :func:`sweep_fc` produces them (without the measured numbers)."""
    points = sweep_points(cfg)
    keys = [{"treatment": "FC full precision", "rate": 0.0, "bits": 32},
            {"treatment": "FC binary", "rate": 0.0, "bits": 1}]
    keys += [{"treatment": f"FC pruned + {q}", "rate": r, "bits": b, "quantizer": q, "order": o} for r, b, q, o in points]
    keys += [{"treatment": "FC pruned", "rate": r, "bits": 32}
             for r in sorted({r for r, _, _, o in points if o == "prune_quantize"})]
    return keys


def sweep_fc(cfg: TACConfig, base: TACNet, feats, seed: int, device, encode, pruned: dict, done: dict,
             binary_fc: TACNet, *, fitter: PhaseFit | None = None, progress: bool = True) -> list[dict]:
    """FC treatments on one binary conv trunk: as they are, binary, pruned, pruned + shared, ablations.

    ``done`` maps points already trained (TAC's own) to their networks and ``binary_fc`` is the trunk
    with binary FC layers, so that no stage trains twice.
    """
    from tqdm.auto import tqdm

    ev = (lambda n: head_accuracy(n, feats[1], cfg, device)) if encode is None else \
        (lambda n: net_accuracy(n, feats[1], cfg, device))
    keys = sweep_keys(cfg)
    nets: list[tuple[TACNet, float]] = [(base, ev(base)), (binary_fc, ev(binary_fc))]
    bar = tqdm(total=len(keys), desc=f"FC sweep seed {seed}", disable=not (progress and distributed.is_main()))
    bar.update(2)
    for rate, bits, quantizer, order in sweep_points(cfg):
        if (rate, bits, quantizer, order) in done:
            q = done[(rate, bits, quantizer, order)]
        else:
            seed_everything(seed)
            q, _ = compress_fc(base, cfg, feats, rate=rate, bits=bits, quantizer=quantizer, order=order,
                               tag="sweep", seed=seed, device=device, encode=encode, pruned=pruned, fitter=fitter)
        nets.append((q, ev(q)))
        bar.update(1)
    nets += [pruned[k["rate"]] for k in keys[len(nets):]]
    bar.update(len(keys) - bar.n)
    bar.close()
    rows = []
    for key, (net, a) in zip(keys, nets):
        c = account(net, index_bits=cfg.index_bits)
        rows.append({**key, "seed": seed, "acc": a, "compression": c.compression, "speedup": c.speedup,
                     "size_mb": c.size_mb})
    return rows


def run(cfg: TACConfig, *, progress: bool = True, fitter: PhaseFit | None = None) -> TACResult:
    train_ds, test_ds = load_data(cfg)
    runs, rows = [], []
    for s in range(cfg.n_seeds):
        r, rw = run_seed(cfg, cfg.seed + s, train_ds, test_ds, sweep=s < cfg.sweep_seeds, progress=progress,
                         fitter=fitter)
        runs.append(r)
        rows += rw
    costs = {v: account(runs[0].nets[v], index_bits=cfg.index_bits) for v in MAIN_VARIANTS}
    return TACResult(cfg, runs, costs, rows)


COSTED = (*MAIN_VARIANTS, TRUNK_FC_BINARY)  # variants whose size and cost are recorded per seed


def seed_metrics(cfg: TACConfig, run: SeedRun, rows: Sequence[dict]) -> dict:
    """One seed's numbers as flat metrics: top-1, compression and speed-up of every variant, and
    the sweep's rows (in :func:`sweep_keys` order) as lists."""
    m: dict = {}
    for v in COSTED:
        c = account(run.nets[v], index_bits=cfg.index_bits)
        m[f"acc_{v}"], m[f"compression_{v}"], m[f"speedup_{v}"] = run.acc[v], c.compression, c.speedup
    for k in ("acc", "compression", "speedup"):
        m[f"sweep_{k}"] = [r[k] for r in rows]
    return m


@dataclass
class Measured:
    """Per-seed numbers the claims and figures use, from a live run or from the shipped evidence."""

    config: TACConfig
    seeds: list[int]
    acc: dict[str, list[float]]  # variant -> top-1 per seed (paired by seed)
    compression: dict[str, list[float]]
    speedup: dict[str, list[float]]
    sweep: list[dict]  # one row per FC treatment and seed
    source: str

    @property
    def n(self) -> int:
        return len(self.seeds)

    @classmethod
    def from_result(cls, result: TACResult) -> Measured:
        cfg = result.config
        per = [seed_metrics(cfg, r, []) for r in result.runs]
        pick = lambda k: {v: [p[f"{k}_{v}"] for p in per] for v in COSTED}  # noqa: E731
        return cls(cfg, [r.seed for r in result.runs], pick("acc"), pick("compression"), pick("speedup"),
                   list(result.sweep), f"this run ({len(result.runs)} seeds)")

    @classmethod
    def from_evidence(cls, ev: EvidenceRecord, cfg: TACConfig) -> Measured:
        pick = lambda k: {v: ev.values(ARM, f"{k}_{v}") for v in COSTED}  # noqa: E731
        keys, sweep = sweep_keys(cfg), []
        for s in ev.seeds:
            m = ev.cell(ARM, s)["metrics"]
            sweep += [{**key, "seed": s, "acc": a, "compression": c, "speedup": sp}
                      for key, a, c, sp in zip(keys, m["sweep_acc"], m["sweep_compression"], m["sweep_speedup"])]
        return cls(cfg, ev.seeds, pick("acc"), pick("compression"), pick("speedup"), sweep,
                   f"the shipped evidence ({ev.n} paired seeds)")


ARM = "all_variants"  # one evidence cell = one seed's whole pipeline (every variant starts from its FP net)


def evidence_cell(cfg: TACConfig, arm: str, seed: int, *, fit: PhaseFit, progress: bool = True) -> dict:
    """One cell of the evidence grid: every variant of ``seed`` and the whole FC sweep on its trunk."""
    train_ds, test_ds = load_data(cfg)
    run, rows = run_seed(cfg, seed, train_ds, test_ds, sweep=True, progress=progress, fitter=fit)
    return {"metrics": seed_metrics(cfg, run, rows)}


# The notebook replays the first REPLAY_STEPS steps of seed 0's full-precision stage against the shipped
# loss curve: equal on the machine, torch version and thread count that wrote the record; elsewhere kernels
# round differently. Measured with two threads instead of one, the logged losses of the first steps agree to
# a few 1e-7 (relative); the stated tolerance is 1e-4. (Before conv1's bias was frozen, Adam turned the
# rounding noise of its zero gradient into full-size steps and the losses drifted apart by percents.)
REPLAY_STEPS = 30
GRID = Grid("tac", "reprobook.tac", arms=(ARM,), run_cell=evidence_cell, seeds=12, tolerance=1e-4,
            replay_arm=ARM, replay_steps=REPLAY_STEPS)


RUN_ONLY = ("n_seeds", "sweep_seeds", "seed", "device", "data_root", "num_workers", "eval_batch")


def record_config(ev: EvidenceRecord) -> TACConfig:
    """The configuration the shipped record was computed with."""
    from reprobook import chapters
    from reprobook.engine.training import build_config

    d = ev.data
    return build_config(chapters.CHAPTERS["tac"], preset=d["preset"], smoke=d["smoke"], data_root=None, sets=d["set"])


def evidence_matches(ev: EvidenceRecord, cfg: TACConfig) -> bool:
    """Whether the record's method (everything but which seeds run, and where) is ``cfg``'s."""
    shipped, asked = as_dict(record_config(ev)), as_dict(cfg)
    return all(shipped[k] == asked.get(k) for k in shipped if k not in RUN_ONLY)


@torch.no_grad()
def live_compression(result: TACResult, rate: float, bits: int, *, quantizer: str | None = None) -> dict:
    """The widget's quantity: seed 0's binary-conv network with its FC layers pruned to ``rate`` and
    shared with ``bits`` bits, *without* retraining; test accuracy, size and speed-up."""
    cfg = result.config
    run0 = result.runs[0]
    if run0.features is None:
        raise ValueError("live compression needs cached conv features (an in-memory dataset)")
    net = copy.deepcopy(run0.nets["xnor_conv"]).set_variant("tac")
    for lay in net.head:
        if lay.spec.group == "fc" or (cfg.compress_classifier and lay.spec.group == "classifier"):
            if rate > 0:
                lay.prune_(rate)
            if bits < 32:
                lay.quantize_(bits, method=quantizer or cfg.quantizer, iters=cfg.kmeans_iters)
    a = head_accuracy(net, run0.features[1], cfg, torch.device("cpu"))
    c = account(net, index_bits=cfg.index_bits)
    return {"acc": a, "size_mb": c.size_mb, "compression": c.compression, "speedup": c.speedup}
