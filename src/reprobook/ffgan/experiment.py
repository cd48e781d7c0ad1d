"""Chapter 6 experiment: train the DAMSM encoders, the evaluation networks and FF-GAN (+ ablations).

Order, as in the paper's pipeline: (1) the DAMSM text/image encoders are trained on the matching
losses and frozen; (2) an independent encoder pair and an attribute classifier are trained for
evaluation only; (3) each generator variant is trained against its per-stage discriminators with
one update per step in the official order: every :math:`D_i` on the same fake batch, then
:math:`G` through the *updated* discriminators, then the EMA copy of :math:`G`. Every stage goes
through :func:`reprobook.engine.loop.fit` (progress bars, resumable checkpoints).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from reprobook.engine.checkpoint import load_checkpoint, load_state_dict_checked, run_checkpoint, save_checkpoint
from reprobook.engine.config import as_dict
from reprobook.engine.data import get_dataset
from reprobook.engine.loop import BatchStream, History, fit
from reprobook.engine.runtime import resolve_device, seed_everything
from reprobook.ffgan.config import FFGANConfig
from reprobook.ffgan.damsm import ImageEncoder, TextEncoder, damsm_loss
from reprobook.ffgan.losses import discriminator_loss, generator_adv_loss
from reprobook.ffgan.metrics import AttrClassifier, attr_loss
from reprobook.ffgan.model import Discriminator, Generator, kl_loss, weights_init

WEIGHTS = Path(__file__).parent / "weights" / "ffgan_book.pt"


@dataclass
class Models:
    """Everything a run needs for evaluation: frozen encoders, evaluation networks, EMA generators."""

    text_enc: TextEncoder
    img_enc: ImageEncoder
    eval_text: TextEncoder
    eval_img: ImageEncoder
    clf: AttrClassifier
    generators: dict[str, Generator]
    histories: dict[str, History] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def eval(self) -> "Models":
        for m in (self.text_enc, self.img_enc, self.eval_text, self.eval_img, self.clf, *self.generators.values()):
            m.eval()
        return self


def build_generator(cfg: FFGANConfig, variant: str = "full") -> Generator:
    return Generator(ngf=cfg.ngf, nef=cfg.nef, z_dim=cfg.z_dim, c_dim=cfg.c_dim, base_size=cfg.base_size,
                     branch_num=cfg.branch_num, acm_hidden=cfg.acm_hidden, r_num=cfg.r_num, variant=variant,
                     attn_mask=cfg.attn_mask)


def build_discriminators(cfg: FFGANConfig) -> list[Discriminator]:
    return [Discriminator(size=cfg.base_size * 2 ** i, ndf=cfg.ndf, nef=cfg.nef) for i in range(cfg.branch_num)]


def build_encoders(cfg: FFGANConfig, width: int) -> tuple[TextEncoder, ImageEncoder]:
    return (TextEncoder(n_words=cfg.n_words, emb_dim=cfg.emb_dim, nef=cfg.nef),
            ImageEncoder(nef=cfg.nef, width=width))


def datasets(cfg: FFGANConfig, data_root: str | None = None):
    """Train and test sets of the config's dataset (CUB raises DataRootError without ``data_root``)."""
    if cfg.dataset == "cub_birds":
        opts = dict(data_root=data_root, base_size=cfg.base_size, branch_num=cfg.branch_num, words_num=cfg.words_num)
        return get_dataset("cub_birds", split="train", **opts), get_dataset("cub_birds", split="test", **opts)
    opts = dict(size=cfg.image_size, seed=cfg.seed)
    return (get_dataset("ffgan_shapes", split="train", n=cfg.n_train, **opts),
            get_dataset("ffgan_shapes", split="test", n=cfg.n_test, **opts))


def test_set(cfg: FFGANConfig, data_root: str | None = None):
    """The held-out test split only (what evaluation needs)."""
    if cfg.dataset == "cub_birds":
        return get_dataset("cub_birds", split="test", data_root=data_root, base_size=cfg.base_size,
                           branch_num=cfg.branch_num, words_num=cfg.words_num)
    return get_dataset("ffgan_shapes", split="test", n=cfg.n_test, size=cfg.image_size, seed=cfg.seed)


def _tag(cfg: FFGANConfig, name: str):
    return run_checkpoint(f"ffgan-{name}", as_dict(cfg))


def train_damsm(cfg: FFGANConfig, train, *, width: int, seed: int, name: str, progress: bool = True):
    """DAMSM pretraining: Adam 2e-3, β (0.5, 0.999), lr ×0.98 per epoch (floor lr/10), RNN grad-clip 0.25."""
    device = resolve_device(cfg.device)
    seed_everything(seed)
    text_enc, img_enc = (m.to(device) for m in build_encoders(cfg, width))
    params = list(text_enc.parameters()) + list(img_enc.parameters())
    opt = torch.optim.Adam(params, lr=cfg.damsm_lr, betas=(0.5, 0.999))
    stream = BatchStream(train, batch_size=cfg.damsm_batch, seed=seed)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: max(0.98 ** (k // stream.steps_per_epoch), 0.1))

    def step(batch, _):
        x, cap, cap_len, _, _, _, cls = (t.to(device) for t in batch)
        text_enc.train(), img_enc.train()
        w, s = text_enc(cap, cap_len)
        loss = damsm_loss(img_enc, x, w, s, cap_len, cls, gamma1=cfg.gamma1, gamma2=cfg.gamma2, gamma3=cfg.gamma3)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(text_enc.rnn.parameters(), cfg.rnn_clip)
        opt.step()
        sched.step()
        return {"damsm": loss}

    hist = fit(step, steps=cfg.damsm_steps, stream=stream,
               state={"text": text_enc, "img": img_enc, "opt": opt, "sched": sched},
               checkpoint=_tag(cfg, name), ckpt_every=max(1, cfg.damsm_steps // 4), desc=name, progress=progress)
    return text_enc.eval().cpu(), img_enc.eval().cpu(), hist


def train_classifier(cfg: FFGANConfig, train, *, progress: bool = True):
    """Attribute classifier on real images (7 heads), for AttrAcc and the Fréchet distance."""
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed + 7)
    clf = AttrClassifier().to(device)
    opt = torch.optim.Adam(clf.parameters(), lr=1e-3)

    def step(batch, _):
        x, attrs = batch[0].to(device), batch[3].to(device)
        clf.train()
        loss = attr_loss(clf(x)[0], attrs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"clf": loss}

    hist = fit(step, steps=cfg.clf_steps, stream=BatchStream(train, batch_size=min(64, len(train)), seed=cfg.seed + 7),
               state={"clf": clf, "opt": opt}, checkpoint=_tag(cfg, "clf"), ckpt_every=max(1, cfg.clf_steps // 2),
               desc="attribute classifier", progress=progress)
    return clf.eval().cpu(), hist


def stage_reals(x: torch.Tensor, n: int) -> list[torch.Tensor]:
    """The real image at every stage's size (area downsampling of the same picture)."""
    return [F.avg_pool2d(x, 2 ** (n - 1 - i)) if i < n - 1 else x for i in range(n)]


def make_gan_step(cfg: FFGANConfig, G: Generator, G_ema: Generator, Ds, opt_g, opt_ds, text_enc, img_enc, device):
    """One FF-GAN iteration ``step(batch, k)`` in the official order (see the module docstring).

    The DAMSM encoders are frozen here (no gradient, eval mode): G's gradient flows *through* the
    image encoder, never into it.
    """
    for p in list(text_enc.parameters()) + list(img_enc.parameters()):
        p.requires_grad_(False)
    text_enc.eval(), img_enc.eval()

    def step(batch, _):
        if len(batch) == 4:  # CUB: (images at every stage, cap, cap_len, class id)
            imgs, cap, cap_len, cls = batch
            reals = [t.to(device) for t in imgs]
            x, cap, cap_len, cls = reals[-1], cap.to(device), cap_len.to(device), cls.to(device)
        else:  # two shapes: (x, cap, cap_len, attrs, masks, word_obj, cls)
            x, cap, cap_len, _, _, _, cls = (t.to(device) for t in batch)
            reals = stage_reals(x, cfg.branch_num)
        with torch.no_grad():
            w, s = text_enc(cap, cap_len)  # frozen DAMSM text encoder: [B, n_e, T], [B, n_e]
        z = torch.randn(len(x), cfg.z_dim, device=device)
        G.train()
        fakes, _, mu, logvar = G(z, s, w, cap_len)  # one forward pass for the D and G steps
        out = {}
        for i, (D, opt) in enumerate(zip(Ds, opt_ds)):  # 1. every D_i on the detached fakes
            loss_d = discriminator_loss(D, reals[i], fakes[i], s)
            opt.zero_grad(set_to_none=True)
            loss_d.backward()
            opt.step()
            out[f"D{i}"] = loss_d.detach()
        adv = sum(generator_adv_loss(D, f, s) for D, f in zip(Ds, fakes))  # 2. G through the updated D_i
        sem = damsm_loss(img_enc, fakes[-1], w, s, cap_len, cls, gamma1=cfg.gamma1, gamma2=cfg.gamma2,
                         gamma3=cfg.gamma3) if cfg.lam > 0 else torch.zeros((), device=device)
        kl = kl_loss(mu, logvar)
        loss_g = adv + cfg.lam * sem + kl
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        ema_update(G_ema, G, cfg.ema)  # 3. θ̄ ← ema·θ̄ + (1 − ema)·θ
        out.update(G=loss_g.detach(), damsm=sem.detach(), kl=kl.detach())
        return out

    return step


@torch.no_grad()
def ema_update(G_ema: torch.nn.Module, G: torch.nn.Module, decay: float) -> None:
    """EMA of the parameters only; BN running statistics are copied from ``G`` (official behaviour)."""
    for pe, p in zip(G_ema.parameters(), G.parameters()):
        pe.lerp_(p, 1.0 - decay)
    for be, b in zip(G_ema.buffers(), G.buffers()):
        be.copy_(b)


def train_gan(cfg: FFGANConfig, train, text_enc, img_enc, *, variant: str = "full", progress: bool = True):
    """Train one generator variant; returns its EMA copy (eval mode, CPU) and the history."""
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    G = build_generator(cfg, variant).to(device)
    Ds = [D.to(device) for D in build_discriminators(cfg)]
    G.apply(weights_init)
    for D in Ds:
        D.apply(weights_init)
    G_ema = copy.deepcopy(G)
    text_enc, img_enc = text_enc.to(device), img_enc.to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_ds = [torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2)) for D in Ds]
    step = make_gan_step(cfg, G, G_ema, Ds, opt_g, opt_ds, text_enc, img_enc, device)
    state = {"G": G, "G_ema": G_ema, "opt_g": opt_g, **{f"D{i}": D for i, D in enumerate(Ds)},
             **{f"opt_d{i}": o for i, o in enumerate(opt_ds)}}
    hist = fit(step, steps=cfg.gan_steps, stream=BatchStream(train, batch_size=cfg.batch_size, seed=cfg.seed),
               state=state, checkpoint=_tag(cfg, f"gan-{variant}"), ckpt_every=max(1, cfg.gan_steps // 10),
               desc=f"FF-GAN [{variant}]", progress=progress)
    text_enc.cpu(), img_enc.cpu()
    return G_ema.eval().cpu(), hist


def train_all(cfg: FFGANConfig, *, data_root: str | None = None, progress: bool = True) -> Models:
    """The whole pipeline from scratch (what ``retrain=True`` and ``python -m reprobook.ffgan.train`` run)."""
    train, _ = datasets(cfg, data_root)
    text_enc, img_enc, h1 = train_damsm(cfg, train, width=cfg.img_enc_width, seed=cfg.seed, name="damsm",
                                        progress=progress)
    eval_text, eval_img, h2 = train_damsm(cfg, train, width=cfg.eval_enc_width, seed=cfg.seed + 1000,
                                          name="damsm-eval", progress=progress)
    clf, h3 = train_classifier(cfg, train, progress=progress)
    gens, hists = {}, {"damsm": h1, "damsm_eval": h2, "clf": h3}
    for v in cfg.variants:
        gens[v], hists[f"gan_{v}"] = train_gan(cfg, train, text_enc, img_enc, variant=v, progress=progress)
    return Models(text_enc, img_enc, eval_text, eval_img, clf, gens, hists).eval()


def save_weights(models: Models, cfg: FFGANConfig, path: str | Path = WEIGHTS, *, meta: dict | None = None) -> Path:
    """Store every network in fp16 (state dicts only) with the config and ``meta``."""
    def half(m):
        return {k: (v.half() if v.is_floating_point() else v) for k, v in m.state_dict().items()}

    obj = {"config": as_dict(cfg), "meta": dict(meta or {}),
           "text_enc": half(models.text_enc), "img_enc": half(models.img_enc), "eval_text": half(models.eval_text),
           "eval_img": half(models.eval_img), "clf": half(models.clf),
           "generators": {v: half(g) for v, g in models.generators.items()},
           "losses": {k: h.state_dict()["metrics"] for k, h in models.histories.items()}}
    return save_checkpoint(obj, path)


def load_weights(cfg: FFGANConfig, path: str | Path = WEIGHTS) -> Models:
    """Load shipped weights into freshly built networks of ``cfg`` (fp16 → fp32)."""
    obj = load_checkpoint(path)

    def load(m, state, what):
        load_state_dict_checked(m, {k: v.float() if v.is_floating_point() else v for k, v in state.items()},
                                what=f"shipped weights ({what})")
        return m.eval()

    text_enc, img_enc = build_encoders(cfg, cfg.img_enc_width)
    eval_text, eval_img = build_encoders(cfg, cfg.eval_enc_width)
    models = Models(load(text_enc, obj["text_enc"], "text encoder"), load(img_enc, obj["img_enc"], "image encoder"),
                    load(eval_text, obj["eval_text"], "eval text encoder"),
                    load(eval_img, obj["eval_img"], "eval image encoder"), load(AttrClassifier(), obj["clf"], "classifier"),
                    {v: load(build_generator(cfg, v), obj["generators"][v], f"generator {v}") for v in cfg.variants
                     if v in obj["generators"]}, meta=dict(obj.get("meta", {})))
    models.meta["losses"] = obj.get("losses", {})
    return models


def get_models(cfg: FFGANConfig, *, retrain: bool = False, data_root: str | None = None,
               progress: bool = True) -> Models:
    """Shipped weights (default) or the whole pipeline retrained from scratch."""
    if retrain:
        return train_all(cfg, data_root=data_root, progress=progress)
    if cfg.dataset != "ffgan_shapes":
        raise ValueError("no shipped weights for the 'paper' preset: use retrain=True with data_root on a GPU "
                         "(or python -m reprobook.ffgan.train --preset paper)")
    return load_weights(cfg)
