"""Training the four StrDiffusion networks, and the shipped weights.

``reprobook evidence strdiffusion --seeds 1 --preset evidence`` runs :data:`GRID`, a weights-only
evidence grid whose arms are the four networks: each cell trains one network through the phase fit
it is given (resumable; the cells are independent, so two processes can share one ``--work``
directory) and returns its weights, which the command ships in fp16 beside the record
(``evidence/strdiffusion.weights.pt``), with the held-out numbers of those fp16 weights
(:func:`heldout`) that the notebook's replay recomputes. The chapter loads those when present, else the weights
of the package's ``weights/`` folder (fp16 state dicts ``<net>.pt`` with their provenance
``<net>.json``: steps, seed, wall time, the command and commit that trained them).

The networks are trained separately, as in the official code: the structure net on the
gray→edge process, the structure-guided texture net with the teacher-forced ideal structure,
the IR-SDE baseline (same U-Net, no SPADE) on the texture process alone, and the
discriminator on analytic states only (:mod:`reprobook.strdiffusion.losses`), times the mask in the
book presets (``d_inputs="masked"``: what the sampler feeds it), full in the paper presets.

:func:`train_one` is the one training function: the evidence grid, the notebook's ``retrain`` and
``reprobook train strdiffusion`` (:mod:`reprobook.strdiffusion.trainer`) all call it. Under
``torchrun`` the network is data-parallel, each process holds a slice of every global batch, and
every random draw of a step (mask choice, t, noises) is made for the global batch and sliced.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

from reprobook.engine.checkpoint import CheckpointError, load_checkpoint, load_state_dict_checked, save_checkpoint
from reprobook.engine import distributed, loop
from reprobook.engine.loop import BatchStream, History
from reprobook.engine.evidence import Grid
from reprobook.engine.runtime import resolve_device, seed_everything
from reprobook.strdiffusion import losses
from reprobook.strdiffusion.config import StrDiffusionConfig
from reprobook.strdiffusion.data import BINS, Augment, book_images, make_masks, mask_set, paper_images, structure
from reprobook.strdiffusion.discriminator import Discriminator, ThreeScores
from reprobook.strdiffusion.sde import IRSDE
from reprobook.strdiffusion.unet import ConditionalUNet

NETS = ("structure", "texture", "irsde", "disc")
WEIGHTS_DIR = Path(__file__).parent / "weights"


def build_sde(cfg: StrDiffusionConfig) -> IRSDE:
    return IRSDE(T=cfg.T, max_sigma=cfg.max_sigma, eps=cfg.eps)


def build_net(cfg: StrDiffusionConfig, name: str) -> torch.nn.Module:
    """One of ``structure`` (ε_ϕ), ``texture`` (ε̃_φ, SPADE), ``irsde`` (no SPADE), ``disc`` (D)."""
    kw = dict(nf=cfg.nf, depth=cfg.depth, heads=cfg.heads, dim_head=cfg.dim_head)
    if name == "structure":
        return ConditionalUNet(in_nc=1, spade=False, **kw)
    if name == "texture":
        return ConditionalUNet(in_nc=3, spade=True, **kw)
    if name == "irsde":
        return ConditionalUNet(in_nc=3, spade=False, **kw)
    if name == "disc":
        return Discriminator(nc=4, ngf=cfg.d_ngf, t_emb_dim=4 * cfg.d_ngf if cfg.d_ngf < 64 else 256)
    raise ValueError(f"unknown network {name!r}; choose one of: {', '.join(NETS)}")


def training_data(cfg: StrDiffusionConfig, data_root: str | None = None):
    """``(images, G, E, mask_pool)``: train images with their structure, and masks of 10–50 % holes.

    The only place training images are read (switch dataset loaders here).
    """
    if cfg.data == "book":
        x = book_images("train", size=cfg.size, n_scenes=cfg.n_scenes, seed=cfg.seed)
    else:
        x = paper_images(cfg.data, data_root, "train", size=cfg.size)
    pool = torch.cat([mask_set(cfg.masks, max(64, len(x) // 8), size=cfg.size, lo=lo, hi=hi, seed=1000 + i,
                               data_root=data_root) for i, (lo, hi) in enumerate(BINS)])
    G, E = structure(x, torch.ones_like(x[:, :1]), sigma=cfg.canny_sigma, edges_from="full")
    return x, G, E, pool


def train_one(cfg: StrDiffusionConfig, name: str, data, *, fit: Callable | None = None,
              checkpoint: str | Path | None = None, progress: bool = True) -> tuple[torch.nn.Module, History]:
    """Train network ``name`` for its configured steps; returns it (on CPU, eval mode) and its history.

    ``fit`` runs the steps like :func:`reprobook.engine.loop.fit` (default: that function with
    ``checkpoint``); a ``reprobook train`` run passes its context's checkpointed phase.
    """
    device = distributed.device_for(resolve_device(cfg.device))
    seed_everything(cfg.seed + NETS.index(name))
    sde, net = build_sde(cfg), build_net(cfg, name).to(device)
    # DDP sees one forward per backward: D's three scores come from one ThreeScores call
    model = distributed.wrap(ThreeScores(net) if name == "disc" else net)
    share = losses.Share(cfg.batch_size, distributed.local_slice(cfg.batch_size))
    x, G, E, pool = data
    steps = getattr(cfg, f"steps_{name}")
    # Adam's update, fused into one kernel per step where torch has one (same rule, one pass over the weights)
    fused = {"fused": True} if device.type in ("cpu", "cuda") else {}
    if name == "disc":
        opt = torch.optim.Adam(net.parameters(), lr=cfg.d_lr, betas=(0.5, 0.99), **fused)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[], gamma=0.5)
    else:
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(0.9, 0.99), **fused)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(cfg.lr_milestones), gamma=0.5)
    aug = Augment()

    def step(batch, _):
        img, g, e = (t.to(device) for t in batch)
        both = aug(torch.cat([img, g, e], 1), torch.default_generator)  # same flips for image and structure
        img, g, e = both[:, :3], both[:, 3:4], both[:, 4:5]
        # flips are one draw per batch (the same on every process); mask choice is per sample
        m = pool[torch.randint(len(pool), (share.total,))[share.rows]].to(device)
        if torch.rand(()) < 0.5:
            m = m.flip(-1)
        metrics = {}
        if name == "structure":
            loss = losses.structure_loss(model, sde, g, e, m, share=share)
        elif name in ("texture", "irsde"):
            loss = losses.texture_loss(model, sde, img, g, e, m, guided=name == "texture", share=share)
        else:
            loss, metrics = losses.discriminator_loss(model, sde, img, g, e, m, share=share,
                                                      masked=cfg.d_inputs == "masked")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        return {"loss": loss, **metrics}

    from torch.utils.data import TensorDataset

    run = fit if fit is not None else partial(loop.fit, checkpoint=checkpoint, desc=f"train {name}")
    hist = run(step, steps=steps, stream=BatchStream(TensorDataset(x, G, E), batch_size=cfg.batch_size,
                                                      seed=cfg.seed + NETS.index(name)),
               state={"net": net, "opt": opt, "sched": sched}, ckpt_every=max(1, steps // 10), progress=progress)
    return net.cpu().eval(), hist


def trained_info(cfg: StrDiffusionConfig, name: str, hist: History) -> dict:
    """Provenance of a network trained in this run (the record's ``training`` entry)."""
    return {"source": "trained in this run", "steps": getattr(cfg, f"steps_{name}"),
            "seed": cfg.seed + NETS.index(name), "wall_time_s": round(hist.wall_time_s, 1),
            "loss": hist.series("loss")}


def save_weights(nets: dict[str, torch.nn.Module], out: str | Path, meta: dict) -> None:
    """fp16 state dicts ``<out>/<name>.pt`` and their provenance ``<out>/<name>.json``."""
    out = Path(out)
    for name, net in nets.items():
        save_checkpoint({k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()},
                        out / f"{name}.pt")
        (out / f"{name}.json").write_text(json.dumps(meta[name], indent=2) + "\n")


def net_from_state(cfg: StrDiffusionConfig, name: str, state: dict, what: str) -> torch.nn.Module:
    """A freshly built float32 network ``name`` (eval mode, CPU) holding the (fp16) ``state``."""
    net = build_net(cfg, name)
    load_state_dict_checked(net, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, what=what)
    return net.eval()


def load_weights(cfg: StrDiffusionConfig, names=NETS, directory: str | Path = WEIGHTS_DIR) -> dict[str, torch.nn.Module]:
    """Load shipped fp16 weights into freshly built float32 networks (eval mode, CPU)."""
    return {name: net_from_state(cfg, name, load_checkpoint(Path(directory) / f"{name}.pt"),
                                 f"shipped weights {name}.pt") for name in names}


def load_grid_weights(cfg: StrDiffusionConfig) -> tuple[dict[str, torch.nn.Module], dict] | None:
    """The networks of the shipped evidence record of :data:`GRID` and their provenance, or ``None``
    when the chapter ships no such record (then :func:`load_weights` reads the ``weights/`` folder)."""
    from reprobook.engine import evidence

    rec = evidence.load("strdiffusion")
    if rec is None or not rec.data.get("weights"):
        return None
    seed, states = rec.seeds[0], rec.weights()
    nets = {n: net_from_state(cfg, n, states[f"{n}/seed{seed}/{n}"], f"evidence weights of {n}") for n in NETS}
    info = {n: {"source": "shipped evidence", "steps": rec.cell(n, seed)["metrics"]["steps"],
                "seed": rec.cell(n, seed)["metrics"]["seed"], "wall_time_s": rec.cell(n, seed)["wall_time_s"],
                "command": rec.data["command"], "commit": rec.data["commit"]} for n in NETS}
    return nets, info


def shipped_meta(names=NETS, directory: str | Path = WEIGHTS_DIR) -> dict:
    """Provenance of the shipped weights: ``{net: {steps, seed, wall_time_s, command, commit, ...}}``."""
    out = {}
    for name in names:
        path = Path(directory) / f"{name}.json"
        if not path.is_file():
            raise CheckpointError(f"no shipped weights: {path} is missing; "
                                  "run reprobook evidence strdiffusion --seeds 1 --preset evidence")
        out[name] = json.loads(path.read_text())
    return out


@torch.no_grad()
def weights_check(cfg: StrDiffusionConfig, nets: dict[str, torch.nn.Module], n: int = 16) -> dict[str, float]:
    """Deterministic held-out numbers of a set of networks (the shipped ones are checked by a test).

    On ``n`` test images with fixed masks and a fixed generator: the three matching losses and
    the discriminator's real-minus-fake score.
    """
    from reprobook.strdiffusion.losses import discriminator_inputs

    x = book_images("test", size=cfg.size, n_scenes=256)[torch.linspace(0, 359, n).long()]
    m = make_masks(n, size=cfg.size, lo=0.2, hi=0.4, seed=7)
    G, E = structure(x, m, sigma=cfg.canny_sigma)
    sde = build_sde(cfg)
    out = {}
    for name in ("structure", "texture", "irsde"):
        g = torch.Generator().manual_seed(123)
        loss = losses.structure_loss(nets[name], sde, G, E, m, generator=g) if name == "structure" else \
            losses.texture_loss(nets[name], sde, x, G, E, m, guided=name == "texture", generator=g)
        out[f"loss_{name}"] = round(loss.item(), 6)
    g = torch.Generator().manual_seed(123)
    t = sde.random_t(n, generator=g)
    real, fake, _, S = discriminator_inputs(sde, x, G, E, m, t, generator=g)
    D = nets["disc"]
    out["d_real_minus_fake"] = round((D(t, real, S, stddev_group=1) - D(t, fake, S, stddev_group=1)).mean().item(), 6)
    return out


def write_check(cfg: StrDiffusionConfig, nets: dict[str, torch.nn.Module] | None = None) -> dict[str, float]:
    """Write ``weights/check.json``: :func:`weights_check` of the shipped weights (or of ``nets``)."""
    check = weights_check(cfg, load_weights(cfg) if nets is None else nets)
    (WEIGHTS_DIR / "check.json").write_text(json.dumps(check, indent=2) + "\n")
    return check


@torch.no_grad()
def heldout(cfg: StrDiffusionConfig, name: str, net: torch.nn.Module, n: int = 16) -> dict[str, float]:
    """Deterministic held-out numbers of one network (``book`` data only; else ``{}``).

    On the ``n`` fixed test images and masks of :func:`weights_check`: a U-Net's matching loss
    (``heldout_loss``); for D, the mean real-minus-fake score and the fraction of pairs where the
    real one scores higher, on the inputs D is trained on (``cfg.d_inputs``: ``y⊙m`` or full).
    """
    if cfg.data != "book":
        return {}
    from reprobook.strdiffusion.losses import discriminator_inputs

    net = net.eval()
    x = book_images("test", size=cfg.size, n_scenes=256)[torch.linspace(0, 359, n).long()]
    m = make_masks(n, size=cfg.size, lo=0.2, hi=0.4, seed=7)
    G, E = structure(x, m, sigma=cfg.canny_sigma)
    sde, g = build_sde(cfg), torch.Generator().manual_seed(123)
    if name == "structure":
        return {"heldout_loss": losses.structure_loss(net, sde, G, E, m, generator=g).item()}
    if name in ("texture", "irsde"):
        return {"heldout_loss": losses.texture_loss(net, sde, x, G, E, m, guided=name == "texture", generator=g).item()}
    t = sde.random_t(n, generator=g)
    real, fake, _, S = discriminator_inputs(sde, x, G, E, m, t, generator=g)
    if cfg.d_inputs == "masked":
        real, fake = real * m, fake * m
    d = (net(t, real, S, stddev_group=1) - net(t, fake, S, stddev_group=1)).view(-1)  # [n]
    return {"heldout_real_minus_fake": d.mean().item(), "heldout_real_above_fake": (d > 0).float().mean().item()}


def _fp16_roundtrip(cfg: StrDiffusionConfig, name: str, net: torch.nn.Module) -> torch.nn.Module:
    """The network as the chapter will load it: its weights rounded to fp16, back in float32."""
    state = {k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    return net_from_state(cfg, name, state, f"fp16 weights of {name}")


def evidence_cell(cfg: StrDiffusionConfig, arm: str, seed: int, *, fit, progress: bool = True) -> dict:
    """One cell of :data:`GRID`: network ``arm`` trained with base seed ``seed`` (the network's own
    seed is ``seed + NETS.index(arm)``, as in every training of the chapter); its final loss, the
    held-out numbers of its fp16 weights (:func:`heldout`, what :func:`evidence_evaluate` replays) and
    its weights."""
    cfg = dataclasses.replace(cfg, seed=seed)
    net, hist = train_one(cfg, arm, training_data(cfg, None), fit=partial(fit, arm), progress=progress)
    tail = hist.series("loss")[1][-50:]
    return {"metrics": {"steps": getattr(cfg, f"steps_{arm}"), "seed": cfg.seed + NETS.index(arm),
                        "final_loss": sum(tail) / max(1, len(tail)),
                        **heldout(cfg, arm, _fp16_roundtrip(cfg, arm, net))},
            "weights": {arm: net.state_dict()}}


def evidence_evaluate(cfg: StrDiffusionConfig, arm: str, seed: int, weights: dict) -> dict[str, float]:
    """The replay's evaluation of shipped weights: :func:`heldout` of network ``arm``'s fp16 weights."""
    return heldout(cfg, arm, net_from_state(cfg, arm, weights[arm], f"evidence weights of {arm}"))


# Weights only: one seed trains the one model per network the chapter evaluates. The notebook replays the
# first 20 steps of the structure net's training and the held-out numbers of its shipped weights.
GRID = Grid("strdiffusion", "reprobook.strdiffusion", arms=NETS, run_cell=evidence_cell, seeds=1,
            replay_arm="structure", replay_steps=20, evaluate=evidence_evaluate)
