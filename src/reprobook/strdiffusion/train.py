"""Training the four StrDiffusion networks, and the shipped weights.

``python -m reprobook.strdiffusion.train --out DIR [--nets structure texture irsde disc]``
trains each network through :func:`reprobook.engine.loop.fit` (resumable: re-running the same
command continues from ``DIR/<net>-ckpt.pt``), then writes fp16 weights ``DIR/<net>.pt`` and
``DIR/meta.json`` (config, steps, seed, wall time, command). ``--ship`` writes them into the
package's ``weights/`` folder, which the chapter loads by default.

The networks are trained separately, as in the official code: the structure net on the
gray→edge process, the structure-guided texture net with the teacher-forced ideal structure,
the IR-SDE baseline (same U-Net, no SPADE) on the texture process alone, and the
discriminator on analytic states only (:mod:`reprobook.strdiffusion.losses`).

:func:`train_one` is the one training function: this script, the notebook's ``retrain`` and
``reprobook train strdiffusion`` (:mod:`reprobook.strdiffusion.trainer`) all call it. Under
``torchrun`` the network is data-parallel, each process holds a slice of every global batch, and
every random draw of a step (mask choice, t, noises) is made for the global batch and sliced.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

from reprobook.engine.checkpoint import CheckpointError, load_checkpoint, load_state_dict_checked, save_checkpoint
from reprobook.engine.config import as_dict
from reprobook.engine import distributed, loop
from reprobook.engine.loop import BatchStream, History
from reprobook.engine.results import git_commit
from reprobook.engine.runtime import resolve_device, seed_everything
from reprobook.strdiffusion import losses
from reprobook.strdiffusion.config import PRESETS, StrDiffusionConfig, from_params
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
    if name == "disc":
        opt = torch.optim.Adam(net.parameters(), lr=cfg.d_lr, betas=(0.5, 0.99))
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[], gamma=0.5)
    else:
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
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
            loss, metrics = losses.discriminator_loss(model, sde, img, g, e, m, share=share)
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


def load_weights(cfg: StrDiffusionConfig, names=NETS, directory: str | Path = WEIGHTS_DIR) -> dict[str, torch.nn.Module]:
    """Load shipped fp16 weights into freshly built float32 networks (eval mode, CPU)."""
    nets = {}
    for name in names:
        net = build_net(cfg, name)
        state = load_checkpoint(Path(directory) / f"{name}.pt")
        load_state_dict_checked(net, {k: v.float() if v.is_floating_point() else v for k, v in state.items()},
                                what=f"shipped weights {name}.pt")
        nets[name] = net.eval()
    return nets


def shipped_meta(names=NETS, directory: str | Path = WEIGHTS_DIR) -> dict:
    """Provenance of the shipped weights: ``{net: {steps, seed, wall_time_s, command, commit, ...}}``."""
    out = {}
    for name in names:
        path = Path(directory) / f"{name}.json"
        if not path.is_file():
            raise CheckpointError(f"no shipped weights: {path} is missing; "
                                  "run python -m reprobook.strdiffusion.train --ship")
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="book", choices=list(PRESETS))
    p.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    p.add_argument("--out", default=None, help="output folder (default: the package's weights/ with --ship)")
    p.add_argument("--ship", action="store_true", help="write the weights into the package's weights/ folder")
    p.add_argument("--data-root", default=None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=None)
    for n in NETS:
        p.add_argument(f"--steps-{n}", type=int, default=None)
    p.add_argument("--write-check", action="store_true",
                   help="only evaluate the shipped weights on a fixed held-out batch and write weights/check.json")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    cfg = from_params(preset=a.preset, seed=a.seed, **{f"steps_{n}": getattr(a, f"steps_{n}") for n in NETS})
    if a.write_check:
        check = weights_check(cfg, load_weights(cfg))
        (WEIGHTS_DIR / "check.json").write_text(json.dumps(check, indent=2) + "\n")
        print(check)
        return 0
    out = Path(a.out) if a.out else WEIGHTS_DIR if a.ship else Path("strdiffusion-weights")
    ckpt_dir = Path(a.out or "strdiffusion-weights") / "checkpoints"
    data = training_data(cfg, a.data_root)
    for name in a.nets:
        t0 = time.perf_counter()
        net, hist = train_one(cfg, name, data, checkpoint=ckpt_dir / f"{name}-ckpt.pt")
        wall = hist.wall_time_s
        save_weights({name: net}, out, {name: {
            "steps": getattr(cfg, f"steps_{name}"), "seed": cfg.seed + NETS.index(name),
            "wall_time_s": round(wall, 1), "final_loss": round(sum(hist.series("loss")[1][-50:]) /
                                                              max(1, len(hist.series("loss")[1][-50:])), 5),
            "command": "python -m reprobook.strdiffusion.train " + " ".join(argv if argv is not None else sys.argv[1:]),
            "commit": git_commit(), "config": as_dict(cfg), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "machine": platform.machine(), "this_call_s": round(time.perf_counter() - t0, 1)}})
        print(f"{name}: {getattr(cfg, f'steps_{name}')} steps, {wall:.0f} s, final loss "
              f"{hist.last('loss'):.4f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
