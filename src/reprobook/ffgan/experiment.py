"""Chapter 6 experiment: train the DAMSM encoders, the evaluation networks and FF-GAN (+ ablations).

Order, as in the paper's pipeline: (1) the DAMSM text/image encoders are trained on the matching
losses and frozen; (2) an independent encoder pair and an attribute classifier are trained for
evaluation only; (3) each generator variant is trained against its per-stage discriminators with
one update per step in the official order: every :math:`D_i` on the same fake batch, then
:math:`G` through the *updated* discriminators, then the EMA copy of :math:`G`. Every stage goes
through a ``fit(phase, step_fn, **kwargs)`` callable: the engine's ``cached_fit`` (the notebook's
run-cache checkpoints) or ``reprobook train``'s :meth:`TrainContext.fit`.

**Several processes** (``torchrun``; see :mod:`reprobook.engine.distributed`). Every trained
network is wrapped for DDP (batch norm over the global batch); each rank holds a slice of every
global batch. Random batch content is drawn for the global batch and sliced: the noise
:math:`z` and the CA noise :math:`\varepsilon`, the text encoder's dropout masks, CUB's caption
choice. Each :math:`D_i` trains through a :class:`~reprobook.ffgan.losses.DiscriminatorLoss`
wrapper (one DDP forward per backward); G's step calls the plain :math:`D_i` with its parameters
frozen, so no gradient reaches a discriminator and its DDP hooks stay idle; every rank runs the
same branches. The DAMSM losses gather the global batch (:func:`reprobook.ffgan.damsm.gather`).
G and the EMA copy are therefore identical on all ranks after every step.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from reprobook.engine import distributed
from reprobook.engine.checkpoint import load_checkpoint, load_state_dict_checked, save_checkpoint
from reprobook.engine.config import as_dict
from reprobook.engine.data import get_dataset
from reprobook.engine.loop import BatchStream, History, PhaseFit, cached_fit
from reprobook.engine.runtime import resolve_device, seed_everything
from reprobook.ffgan.config import FFGANConfig
from reprobook.ffgan.damsm import ImageEncoder, InceptionEncoder, TextEncoder, damsm_loss, require_inception
from reprobook.ffgan.data import CUBAllCaptions, choose_captions
from reprobook.ffgan.losses import DiscriminatorLoss, generator_adv_loss
from reprobook.ffgan.metrics import AttrClassifier, attr_loss
from reprobook.ffgan.model import Discriminator, Generator, kl_loss, trim_words, weights_init

@dataclass
class Models:
    """Everything a run needs for evaluation: frozen encoders, evaluation networks, EMA generators."""

    text_enc: TextEncoder
    img_enc: ImageEncoder
    eval_text: TextEncoder
    eval_img: ImageEncoder
    clf: AttrClassifier | None  # None for CUB (no attribute labels)
    generators: dict[str, Generator]
    histories: dict[str, History] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def eval(self) -> "Models":
        for m in (self.text_enc, self.img_enc, self.eval_text, self.eval_img, self.clf, *self.generators.values()):
            if m is not None:
                m.eval()
        return self


def build_generator(cfg: FFGANConfig, variant: str = "full") -> Generator:
    return Generator(ngf=cfg.ngf, nef=cfg.nef, z_dim=cfg.z_dim, c_dim=cfg.c_dim, base_size=cfg.base_size,
                     branch_num=cfg.branch_num, acm_hidden=cfg.acm_hidden, r_num=cfg.r_num, variant=variant,
                     attn_mask=cfg.attn_mask, matched_ablation=cfg.matched_ablation)


def build_discriminators(cfg: FFGANConfig) -> list[Discriminator]:
    return [Discriminator(size=cfg.base_size * 2 ** i, ndf=cfg.ndf, nef=cfg.nef) for i in range(cfg.branch_num)]


def build_encoders(cfg: FFGANConfig, width: int) -> tuple[TextEncoder, ImageEncoder | InceptionEncoder]:
    """The DAMSM pair: bi-LSTM and the small CNN (``book``) or the frozen Inception-v3 (``paper``)."""
    img = InceptionEncoder(nef=cfg.nef, weights=cfg.inception_weights) if cfg.image_encoder == "inception" \
        else ImageEncoder(nef=cfg.nef, width=width)
    return TextEncoder(n_words=cfg.n_words, emb_dim=cfg.emb_dim, nef=cfg.nef), img


def words_for_g(cfg: FFGANConfig, w: torch.Tensor, cap_len: torch.Tensor) -> torch.Tensor:
    """The word features G sees: cut to the batch's longest caption when ``cfg.trim_words`` (official)."""
    return trim_words(w, cap_len) if cfg.trim_words else w


def datasets(cfg: FFGANConfig, data_root: str | None = None):
    """Train and test sets of the config's dataset (CUB raises DataRootError without ``data_root``)."""
    if cfg.dataset == "cub_birds":  # training items carry all captions; the step picks one (choose_captions)
        opts = dict(data_root=data_root, base_size=cfg.base_size, branch_num=cfg.branch_num, words_num=cfg.words_num)
        return (CUBAllCaptions(get_dataset("cub_birds", split="train", **opts)),
                get_dataset("cub_birds", split="test", **opts))
    opts = dict(size=cfg.image_size, seed=cfg.seed)
    return (get_dataset("ffgan_shapes", split="train", n=cfg.n_train, **opts),
            get_dataset("ffgan_shapes", split="test", n=cfg.n_test, **opts))


def test_set(cfg: FFGANConfig, data_root: str | None = None):
    """The held-out test split only (what evaluation needs)."""
    if cfg.dataset == "cub_birds":
        return get_dataset("cub_birds", split="test", data_root=data_root, base_size=cfg.base_size,
                           branch_num=cfg.branch_num, words_num=cfg.words_num)
    return get_dataset("ffgan_shapes", split="test", n=cfg.n_test, size=cfg.image_size, seed=cfg.seed)


def _device(cfg: FFGANConfig) -> torch.device:
    return distributed.device_for(resolve_device(cfg.device))


def unpack(batch, cfg: FFGANConfig, device, *, step: int, seed: int):
    """``(reals per stage, x, cap, cap_len, cls)`` of a two-shapes or a CUB batch (this rank's slice).

    CUB items carry all captions of their image: one is chosen (and shortened) here from draws for
    the global batch, seeded by ``(seed, step)``, so the choice is the same for any number of ranks.
    """
    if len(batch) == 4:  # CUB: (images at every stage, caps [b,K,L] or cap [b,T], lens, class id)
        imgs, cap, cap_len, cls = batch
        if cap.dim() == 3:
            n_global = len(cls) * distributed.world_size()
            g = torch.Generator().manual_seed(seed * 1_000_003 + step)
            cap, cap_len = choose_captions(cap, cap_len, words_num=cfg.words_num, generator=g, n_global=n_global,
                                           rows=distributed.local_slice(n_global))
        reals = [t.to(device) for t in imgs]
        return reals, reals[-1], cap.to(device), torch.as_tensor(cap_len).to(device), torch.as_tensor(cls).to(device)
    x, cap, cap_len, _, _, _, cls = (t.to(device) for t in batch)  # two shapes
    return stage_reals(x, cfg.branch_num), x, cap, cap_len, cls


def train_damsm(cfg: FFGANConfig, train, *, width: int, seed: int, name: str, progress: bool = True,
                fit: PhaseFit | None = None):
    """DAMSM pretraining: Adam 2e-3, β (0.5, 0.999), lr ×0.98 per epoch (floor lr/10), RNN grad-clip 0.25."""
    fit = fit or cached_fit("ffgan", as_dict(cfg), progress=progress)
    device = _device(cfg)
    seed_everything(seed)
    text_enc, img_enc = (m.to(device) for m in build_encoders(cfg, width))
    text_net, img_net = distributed.wrap(text_enc), distributed.wrap(img_enc)  # DDP (identity for one process)
    params = [p for p in list(text_enc.parameters()) + list(img_enc.parameters()) if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.damsm_lr, betas=(0.5, 0.999))
    stream = BatchStream(train, batch_size=cfg.damsm_batch, seed=seed)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: max(0.98 ** (k // stream.steps_per_epoch), 0.1))

    def step(batch, k):
        _, x, cap, cap_len, cls = unpack(batch, cfg, device, step=k, seed=seed)
        text_net.train(), img_net.train()
        n_global = len(cap) * distributed.world_size()
        noise = text_enc.dropout_noise(n_global, cap.shape[1])[distributed.local_slice(n_global)]
        w, s = text_net(cap, cap_len, noise=noise)  # dropout masks of the global batch, this rank's rows
        loss = damsm_loss(img_net, x, w, s, cap_len, cls, gamma1=cfg.gamma1, gamma2=cfg.gamma2, gamma3=cfg.gamma3)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(text_enc.rnn.parameters(), cfg.rnn_clip)  # grads already averaged
        opt.step()
        sched.step()
        return {"damsm": loss}

    hist = fit(name, step, steps=cfg.damsm_steps, stream=stream,
               state={"text": text_enc, "img": img_enc, "opt": opt, "sched": sched},
               ckpt_every=max(1, cfg.damsm_steps // 4), desc=name)
    return text_enc.eval().cpu(), img_enc.eval().cpu(), hist


def train_classifier(cfg: FFGANConfig, train, *, progress: bool = True, fit: PhaseFit | None = None):
    """Attribute classifier on real images (7 heads), for AttrAcc and the Fréchet distance."""
    fit = fit or cached_fit("ffgan", as_dict(cfg), progress=progress)
    device = _device(cfg)
    seed_everything(cfg.seed + 7)
    clf = AttrClassifier().to(device)
    net = distributed.wrap(clf)
    opt = torch.optim.Adam(clf.parameters(), lr=1e-3)

    def step(batch, _):
        x, attrs = batch[0].to(device), batch[3].to(device)
        net.train()
        loss = attr_loss(net(x)[0], attrs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"clf": loss}

    hist = fit("clf", step, steps=cfg.clf_steps,
               stream=BatchStream(train, batch_size=min(64, len(train)), seed=cfg.seed + 7),
               state={"clf": clf, "opt": opt}, ckpt_every=max(1, cfg.clf_steps // 2), desc="attribute classifier")
    return clf.eval().cpu(), hist


def stage_reals(x: torch.Tensor, n: int) -> list[torch.Tensor]:
    """The real image at every stage's size (area downsampling of the same picture)."""
    return [F.avg_pool2d(x, 2 ** (n - 1 - i)) if i < n - 1 else x for i in range(n)]


def make_gan_step(cfg: FFGANConfig, G: Generator, G_ema: Generator, Ds, opt_g, opt_ds, text_enc, img_enc, device,
                  *, G_net=None, D_nets=None):
    """One FF-GAN iteration ``step(batch, k)`` in the official order (see the module docstring).

    ``G_net`` and ``D_nets`` are the networks that train (DDP wrappers of ``G`` and of
    :class:`DiscriminatorLoss` ``(D_i)``; by default the plain modules). The DAMSM encoders are
    frozen here (no gradient, eval mode): G's gradient flows *through* the image encoder, never into it.
    """
    G_net = G_net if G_net is not None else G
    D_nets = D_nets if D_nets is not None else [DiscriminatorLoss(D) for D in Ds]
    for p in list(text_enc.parameters()) + list(img_enc.parameters()):
        p.requires_grad_(False)
    text_enc.eval(), img_enc.eval()

    def step(batch, k):
        reals, x, cap, cap_len, cls = unpack(batch, cfg, device, step=k, seed=cfg.seed)
        with torch.no_grad():
            w, s = text_enc(cap, cap_len)  # frozen DAMSM text encoder: [b, n_e, T], [b, n_e]
            w = words_for_g(cfg, w, cap_len)  # paper: T = the global batch's longest caption
        n_global = len(x) * distributed.world_size()
        rows = distributed.local_slice(n_global)
        z = torch.randn(n_global, cfg.z_dim)[rows].to(device)  # noise of the global batch, this rank's rows
        eps = torch.randn(n_global, cfg.c_dim)[rows].to(device)  # CA noise ε, likewise
        G_net.train()
        fakes, _, mu, logvar = G_net(z, s, w, cap_len, eps=eps)  # one forward pass for the D and G steps
        out = {}
        for i, (D_net, opt) in enumerate(zip(D_nets, opt_ds)):  # 1. every D_i on the detached fakes
            loss_d = D_net(reals[i], fakes[i], s)
            opt.zero_grad(set_to_none=True)
            loss_d.backward()
            opt.step()
            out[f"D{i}"] = loss_d.detach()
        for D in Ds:  # 2. G through the updated D_i: plain modules, frozen (no D gradient, no DDP hook)
            D.requires_grad_(False)
        try:
            adv = sum(generator_adv_loss(D, f, s) for D, f in zip(Ds, fakes))
            sem = damsm_loss(img_enc, fakes[-1], w, s, cap_len, cls, gamma1=cfg.gamma1, gamma2=cfg.gamma2,
                             gamma3=cfg.gamma3) if cfg.lam > 0 else torch.zeros((), device=device)
            kl = kl_loss(mu, logvar)
            loss_g = adv + cfg.lam * sem + kl
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
        finally:
            for D in Ds:
                D.requires_grad_(True)
        ema_update(G_ema, G, cfg.ema)  # 3. θ̄ ← ema·θ̄ + (1 − ema)·θ, the same on every rank
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


def init_networks(cfg: FFGANConfig, variant: str) -> tuple[Generator, list[Discriminator]]:
    """G and the D_i with the official initialisation, seeded so that variants of one seed pair up.

    Three random streams derived from ``cfg.seed``: G's weights (the modules every variant shares,
    CA and stage 0, are built first and so start equal), the discriminators' weights (equal in every
    variant) and, left in the global generator for the training loop, the noise z and ε of every step
    (equal in every variant).
    """
    seed_everything(cfg.seed)
    G = build_generator(cfg, variant)
    torch.manual_seed(cfg.seed * 1_000_003 + 5)  # weights_init redraws every weight, shared modules first
    G.apply(weights_init)
    torch.manual_seed(cfg.seed * 1_000_003 + 17)
    Ds = build_discriminators(cfg)
    for D in Ds:
        D.apply(weights_init)
    torch.manual_seed(cfg.seed * 1_000_003 + 29)  # the training noise stream
    return G, Ds


def train_gan(cfg: FFGANConfig, train, text_enc, img_enc, *, variant: str = "full", progress: bool = True,
              fit: PhaseFit | None = None):
    """Train one generator variant; returns its EMA copy (eval mode, CPU) and the history."""
    fit = fit or cached_fit("ffgan", as_dict(cfg), progress=progress)
    device = _device(cfg)
    G, Ds = init_networks(cfg, variant)
    G, Ds = G.to(device), [D.to(device) for D in Ds]
    G_ema = copy.deepcopy(G)
    G_net = distributed.wrap(G)  # global batch norm + DDP; G itself keeps the state
    D_nets = [distributed.wrap(DiscriminatorLoss(D)) for D in Ds]
    text_enc, img_enc = text_enc.to(device), img_enc.to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_ds = [torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2)) for D in Ds]
    step = make_gan_step(cfg, G, G_ema, Ds, opt_g, opt_ds, text_enc, img_enc, device, G_net=G_net, D_nets=D_nets)
    state = {"G": G, "G_ema": G_ema, "opt_g": opt_g, **{f"D{i}": D for i, D in enumerate(Ds)},
             **{f"opt_d{i}": o for i, o in enumerate(opt_ds)}}
    hist = fit(f"gan-{variant}", step, steps=cfg.gan_steps,
               stream=BatchStream(train, batch_size=cfg.batch_size, seed=cfg.seed),
               state=state, ckpt_every=max(1, cfg.gan_steps // 10), desc=f"FF-GAN [{variant}]")
    text_enc.cpu(), img_enc.cpu()
    return G_ema.eval().cpu(), hist


def train_all(cfg: FFGANConfig, *, data_root: str | None = None, progress: bool = True,
              fit: PhaseFit | None = None, variants: tuple[str, ...] | None = None) -> Models:
    """The whole pipeline from scratch (``retrain=True``, ``reprobook evidence ffgan``, ``reprobook train``).

    Two shapes: the DAMSM pair, the independent evaluation pair, the attribute classifier, then
    every generator variant (``variants``, default ``cfg.variants``). CUB: the DAMSM pair, then the
    generators; R-precision uses the same
    DAMSM, as the official evaluation does (there are no attribute labels for a classifier).
    """
    if cfg.image_encoder == "inception":
        require_inception(cfg.inception_weights)  # before any work
    fit = fit or cached_fit("ffgan", as_dict(cfg), progress=progress)
    train, _ = datasets(cfg, data_root)
    text_enc, img_enc, h1 = train_damsm(cfg, train, width=cfg.img_enc_width, seed=cfg.seed, name="damsm", fit=fit)
    hists = {"damsm": h1}
    if cfg.dataset == "cub_birds":
        eval_text, eval_img, clf = text_enc, img_enc, None
    else:
        eval_text, eval_img, hists["damsm_eval"] = train_damsm(cfg, train, width=cfg.eval_enc_width,
                                                               seed=cfg.seed + 1000, name="damsm-eval", fit=fit)
        clf, hists["clf"] = train_classifier(cfg, train, fit=fit)
    gens = {}
    for v in (cfg.variants if variants is None else variants):
        gens[v], hists[f"gan_{v}"] = train_gan(cfg, train, text_enc, img_enc, variant=v, fit=fit)
    return Models(text_enc, img_enc, eval_text, eval_img, clf, gens, hists).eval()


def save_weights(models: Models, cfg: FFGANConfig, path: str | Path, *, meta: dict | None = None) -> Path:
    """Store every network in fp16 (state dicts only) with the config and ``meta``."""
    def half(m):
        return {k: (v.half() if v.is_floating_point() else v) for k, v in m.state_dict().items()}

    obj = {"config": as_dict(cfg), "meta": dict(meta or {}),
           "text_enc": half(models.text_enc), "img_enc": half(models.img_enc), "eval_text": half(models.eval_text),
           "eval_img": half(models.eval_img), "clf": half(models.clf),
           "generators": {v: half(g) for v, g in models.generators.items()},
           "losses": {k: h.state_dict()["metrics"] for k, h in models.histories.items()}}
    return save_checkpoint(obj, path)


def models_from_states(cfg: FFGANConfig, nets: dict, generators: dict, *, meta: dict | None = None) -> Models:
    """:class:`Models` of ``cfg`` from stored state dicts (fp16 → fp32): ``nets`` holds ``text_enc``,
    ``img_enc``, ``eval_text``, ``eval_img`` and ``clf``; ``generators`` one state dict per variant."""
    def load(m, state, what):
        load_state_dict_checked(m, {k: v.float() if v.is_floating_point() else v for k, v in state.items()},
                                what=f"shipped weights ({what})")
        return m.eval()

    text_enc, img_enc = build_encoders(cfg, cfg.img_enc_width)
    eval_text, eval_img = build_encoders(cfg, cfg.eval_enc_width)
    return Models(load(text_enc, nets["text_enc"], "text encoder"), load(img_enc, nets["img_enc"], "image encoder"),
                  load(eval_text, nets["eval_text"], "eval text encoder"),
                  load(eval_img, nets["eval_img"], "eval image encoder"), load(AttrClassifier(), nets["clf"], "classifier"),
                  {v: load(build_generator(cfg, v), generators[v], f"generator {v}") for v in cfg.variants
                   if v in generators}, meta=dict(meta or {}))


def load_weights(cfg: FFGANConfig, path: str | Path) -> Models:
    """Load a weights file of :func:`save_weights` into freshly built networks of ``cfg`` (fp16 → fp32),
    with the "− FF-Block" layout the file was written with (its config's ``matched_ablation``)."""
    obj = load_checkpoint(path)
    cfg = replace(cfg, matched_ablation=bool(obj.get("config", {}).get("matched_ablation", cfg.matched_ablation)))
    models = models_from_states(cfg, obj, obj["generators"], meta=obj.get("meta", {}))
    models.meta["losses"] = obj.get("losses", {})
    return models


def get_models(cfg: FFGANConfig, *, retrain: bool = False, data_root: str | None = None,
               progress: bool = True) -> Models:
    """Shipped weights (default) or the whole pipeline retrained from scratch.

    The shipped networks come from the evidence record (``reprobook evidence ffgan``,
    :mod:`.shipped`); without that record, a clear error naming the command that writes it.
    """
    if retrain:
        return train_all(cfg, data_root=data_root, progress=progress)
    if cfg.dataset != "ffgan_shapes":
        raise ValueError("no shipped weights for the 'paper' preset: use retrain=True with data_root on a GPU "
                         "(or reprobook train ffgan --preset paper)")
    from reprobook.ffgan.shipped import COMMAND, load_shipped

    models = load_shipped(cfg)
    if models is None:
        raise FileNotFoundError(f"FF-GAN ships no evidence record with weights to load; write it with `{COMMAND}` "
                                "or pass retrain=True")
    return models
