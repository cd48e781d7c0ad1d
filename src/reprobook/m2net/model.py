r"""M²Net's two networks: the recognition network (a flat ResNet whose blocks can be dropped) and
the policy network with an image branch and a location branch (Chapter 2, §The idea).

**Recognition network** :math:`f_r(x, u)`. A ResNet written as a flat list of :math:`K` residual
blocks :math:`F_1,\dots,F_K`. Each block takes an action :math:`u_k \in \{0, 1\}`:

.. math::  x \leftarrow u_k\,\mathrm{ReLU}\big(r + F_k(x)\big) + (1 - u_k)\,r,

where :math:`r` is the block's shortcut: the identity, or, for the first block of a stage, the
projection (1×1 conv + BN, stride 2) — so a dropped first block still changes resolution and width.

**Policy network** :math:`f_p(x, \ell)`. Image branch: a small ResNet on the 2×-downsampled image,
then ``Linear`` and ``BatchNorm1d`` → :math:`a_\mathrm{img} \in \mathbb{R}^K`. Location branch: the
8-number location :math:`\ell` (degrees, minutes, seconds, sign of latitude and longitude) through a
5-layer MLP with batch norms → :math:`a_\mathrm{loc} \in \mathbb{R}^K`. Fusion into keep
probabilities

.. math::  s = \sigma(w_\mathrm{img}\,a_\mathrm{img} + w_\mathrm{loc}\,a_\mathrm{loc}) \in [0, 1]^K,
           \qquad (w_\mathrm{img}, w_\mathrm{loc}) = (0.3, 0.7).

Without the location branch (BlockDrop, and the "location off" ablation) :math:`s = \sigma(a_\mathrm{img})`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from reprobook.engine import distributed


def conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Residual branch :math:`F(x) = \\mathrm{BN}(\\mathrm{conv}(\\mathrm{ReLU}(\\mathrm{BN}(\\mathrm{conv}(x)))))`
    (no final ReLU: the flat ResNet applies it after adding the shortcut)."""

    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(c_in, planes, stride), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = conv3x3(planes, planes), nn.BatchNorm2d(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))


class Bottleneck(nn.Module):
    """Residual branch 1×1 → 3×3 (stride) → 1×1 (×4 channels), each conv followed by BN, ReLU between."""

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c_in, planes, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = conv3x3(planes, planes, stride), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = nn.Conv2d(planes, planes * 4, 1, bias=False), nn.BatchNorm2d(planes * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class FlatResNet(nn.Module):
    r"""A ResNet as a flat list of ``K = sum(layers)`` droppable blocks.

    Args:
        block: ``"basic"`` or ``"bottleneck"``.
        layers: blocks per stage, e.g. ``(3, 3, 3)`` (book) or ``(7, 7, 7)`` (paper, K = 21).
        planes: width of each stage's residual branch (×4 at the output for bottlenecks).
        strides: stride of each stage's first block.
        stem: ``"small"`` (3×3 conv, BN, ReLU; for 16×16 images) or ``"imagenet"`` (7×7/2 conv,
            BN, ReLU, 3×3/2 max-pool).
        pool: ``AvgPool2d`` kernel before the classifier (``None``: global average).
        fc_in: classifier input size (``None``: the last stage's width); the paper's network
            pools 14×14 with a 7×7 window, giving 2×2×1024 = 4096 features.
        num_classes: classifier outputs (0: no classifier, return features).
    """

    def __init__(self, *, block: str = "basic", layers: Sequence[int] = (3, 3, 3),
                 planes: Sequence[int] = (16, 32, 64), strides: Sequence[int] = (1, 2, 2),
                 in_channels: int = 1, stem: str = "small", stem_width: int | None = None,
                 pool: int | None = None, fc_in: int | None = None, num_classes: int = 10):
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"block must be one of {', '.join(BLOCKS)}; got {block!r}")
        if stem not in ("small", "imagenet"):
            raise ValueError(f"stem must be 'small' or 'imagenet'; got {stem!r}")
        if not (len(layers) == len(planes) == len(strides)) or min(layers) < 1:
            raise ValueError("layers, planes and strides need one entry per stage, with >= 1 block each")
        Block = BLOCKS[block]
        width = stem_width or (64 if stem == "imagenet" else planes[0])
        if stem == "imagenet":
            self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False),
                                      nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1))
        else:
            self.stem = nn.Sequential(conv3x3(in_channels, width), nn.BatchNorm2d(width), nn.ReLU())
        self.blocks, self.ds = nn.ModuleList(), nn.ModuleList()
        for n, p, st in zip(layers, planes, strides):
            out = p * Block.expansion
            # Projection shortcut of the stage's first block when shape changes, else identity.
            self.ds.append(nn.Sequential(nn.Conv2d(width, out, 1, stride=st, bias=False), nn.BatchNorm2d(out))
                           if st != 1 or width != out else nn.Identity())
            stage = [Block(width, p, st)] + [Block(out, p, 1) for _ in range(n - 1)]
            self.blocks.append(nn.ModuleList(stage))
            width = out
        self.layers = tuple(layers)
        self.num_blocks = sum(layers)
        self.pool = nn.AvgPool2d(pool) if pool else nn.AdaptiveAvgPool2d(1)
        self.feat_dim = fc_in or width
        self.fc = nn.Linear(self.feat_dim, num_classes) if num_classes else nn.Identity()
        for m in self.modules():  # He init of convs, BN = identity (as the official code)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[B, classes]`` of images ``x [B, C, H, W]`` through paths ``u [B, K]`` (``None``: all blocks)."""
        x = self.stem(x)
        k = 0
        for s, stage in enumerate(self.blocks):
            for b, block in enumerate(stage):
                r = self.ds[s](x) if b == 0 else x  # shortcut, [B, C_out, H', W']
                if u is None:
                    x = F.relu(r + block(x))
                else:
                    a = u[:, k].to(x.dtype).view(-1, 1, 1, 1)  # [B, 1, 1, 1]
                    if self._any(a):  # every sample drops block k: skip computing it
                        x = a * F.relu(r + block(x)) + (1 - a) * r
                    else:
                        x = r
                k += 1
        x = self.pool(x).flatten(1)  # [B, feat_dim]
        return self.fc(x)

    def _any(self, a: torch.Tensor) -> bool:
        """Whether any sample keeps the block; in multi-process training, any sample of the *global*
        batch, so that every rank runs the block's batch-norm collectives (and the single-process
        skip rule holds)."""
        used = a.any()
        if self.training and distributed.current().enabled:
            used = distributed.all_reduce(used.float(), "max") > 0
        return bool(used)


class LocationBranch(nn.Module):
    """8 → w1 → w2 → w3 → w4 → K MLP on the DMS location code, with the official code's BNs:
    ``Linear, BN, Linear, ReLU, BN, Linear, ReLU, BN, Linear, ReLU, BN, Linear, BN`` (no
    activation after the first Linear)."""

    def __init__(self, *, in_features: int = 8, widths: Sequence[int] = (128, 256, 256, 128), num_blocks: int = 21):
        super().__init__()
        w1, w2, w3, w4 = widths
        self.net = nn.Sequential(
            nn.Linear(in_features, w1), nn.BatchNorm1d(w1),
            nn.Linear(w1, w2), nn.ReLU(), nn.BatchNorm1d(w2),
            nn.Linear(w2, w3), nn.ReLU(), nn.BatchNorm1d(w3),
            nn.Linear(w3, w4), nn.ReLU(), nn.BatchNorm1d(w4),
            nn.Linear(w4, num_blocks), nn.BatchNorm1d(num_blocks))

    def forward(self, loc: torch.Tensor) -> torch.Tensor:
        return self.net(loc)  # [B, 8] -> a_loc [B, K]


class PolicyNet(nn.Module):
    r""":math:`s = \sigma(w_\mathrm{img} a_\mathrm{img} + w_\mathrm{loc} a_\mathrm{loc})`, or
    :math:`\sigma(a_\mathrm{img})` with ``use_location=False``.

    ``features`` is the image branch (a :class:`FlatResNet` without classifier); the image is
    average-pooled 2× before it. ``vnet`` is the value head the official code builds but never
    uses; it is kept so the parameter count matches (it receives no gradient).
    """

    def __init__(self, *, features: FlatResNet, num_blocks: int, use_location: bool = True,
                 loc_widths: Sequence[int] = (128, 256, 256, 128), w_img: float = 0.3, w_loc: float = 0.7):
        super().__init__()
        self.features = features
        self.logit = nn.Linear(features.feat_dim, num_blocks)
        self.vnet = nn.Linear(features.feat_dim, 1)  # unused (official code)
        self.bn_log = nn.BatchNorm1d(num_blocks)
        self.use_location, self.w_img, self.w_loc = use_location, float(w_img), float(w_loc)
        self.loc = LocationBranch(widths=loc_widths, num_blocks=num_blocks) if use_location else None

    def logits(self, x: torch.Tensor, loc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(a_img [B, K], a_loc [B, K] or None)``."""
        a_img = self.bn_log(self.logit(self.features(F.avg_pool2d(x, 2))))
        return a_img, (self.loc(loc) if self.loc is not None else None)

    def forward(self, x: torch.Tensor, loc: torch.Tensor) -> torch.Tensor:
        """Keep probabilities ``s [B, K]`` from images ``x [B, C, H, W]`` and locations ``loc [B, 8]``."""
        a_img, a_loc = self.logits(x, loc)
        if a_loc is None:
            return torch.sigmoid(a_img)
        return torch.sigmoid(self.w_img * a_img + self.w_loc * a_loc)


def num_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def block_flops(rnet: FlatResNet, image_shape: Sequence[int]) -> tuple[float, list[float]]:
    """Multiply-adds of one image through ``rnet``: ``(always, per_block[K])``.

    ``always`` counts the stem, the projection shortcuts (run even when their block is dropped)
    and the classifier; ``per_block[k]`` the convolutions of block ``k``. The cost of a path ``u``
    is ``always + sum_k u_k per_block[k]``.
    """
    macs: dict[str, float] = {}
    hooks = []
    for name, m in rnet.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            def hook(mod, inp, out, name=name):
                if isinstance(mod, nn.Conv2d):
                    k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
                    macs[name] = float(out[0].numel() * k)
                else:
                    macs[name] = float(mod.in_features * mod.out_features)
            hooks.append(m.register_forward_hook(hook))
    was_training = rnet.training
    rnet.eval()
    try:
        rnet(torch.zeros(1, *image_shape, device=next(rnet.parameters()).device))
    finally:
        rnet.train(was_training)
        for h in hooks:
            h.remove()
    per_block, k = [], 0
    for s, stage in enumerate(rnet.blocks):
        for b in range(len(stage)):
            per_block.append(sum(v for n, v in macs.items() if n.startswith(f"blocks.{s}.{b}.")))
            k += 1
    always = sum(macs.values()) - sum(per_block)
    return always, per_block


# --- ImageNet initialisation of the policy's image branch (paper preset) ----------------------------

RESNET18_FILE = "resnet18-f37072fd.pth"  # torchvision's ImageNet ResNet-18 weights (ResNet18_Weights.IMAGENET1K_V1)


def resnet18_weights_path(spec: str) -> Path:
    """The file ``policy_init`` names: ``"imagenet"`` → torchvision's file in torch's hub cache
    (``$TORCH_HOME/hub/checkpoints``), otherwise ``spec`` itself. Raises ``FileNotFoundError`` naming
    the file when it is absent (nothing is downloaded)."""
    import torch.hub

    path = Path(torch.hub.get_dir()) / "checkpoints" / RESNET18_FILE if spec == "imagenet" else Path(spec).expanduser()
    if not path.is_file():
        how = ("place torchvision's ImageNet ResNet-18 weights there (file " + RESNET18_FILE + ")"
               if spec == "imagenet" else "give the path of a ResNet-18 state dict")
        raise FileNotFoundError(f"policy_init={spec!r}: no file {path}; {how}, or set policy_init='scratch'")
    return path


def resnet18_to_flat(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A torchvision ResNet-18 state dict → the keys of a one-block-per-stage :class:`FlatResNet` with the
    ImageNet stem (the official ``load_weights_to_flatresnet``): the stem, the *first* block of every stage
    and its downsampling projection; the second blocks and ``fc`` are not used."""
    out = {}
    for k, v in state.items():
        parts = k.split(".")
        if parts[0] == "conv1":
            out["stem.0." + ".".join(parts[1:])] = v
        elif parts[0] == "bn1":
            out["stem.1." + ".".join(parts[1:])] = v
        elif parts[0].startswith("layer") and parts[1] == "0":
            s = int(parts[0][5:]) - 1
            if parts[2] == "downsample":
                out[f"ds.{s}." + ".".join(parts[3:])] = v
            else:
                out[f"blocks.{s}.0." + ".".join(parts[2:])] = v
    return out


def load_resnet18(features: FlatResNet, spec: str) -> None:
    """Load ImageNet ResNet-18 weights (``policy_init``, see :func:`resnet18_weights_path`) into ``features``."""
    path = resnet18_weights_path(spec)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, Mapping) and "state_dict" in state:
        state = state["state_dict"]
    mapped = resnet18_to_flat(state)
    own = features.state_dict()
    missing = sorted(k for k in own if k not in mapped and not k.endswith("num_batches_tracked"))
    bad = sorted(k for k in mapped if k in own and own[k].shape != mapped[k].shape)
    if missing or bad:
        raise ValueError(f"policy_init file {path} does not fit the policy's image branch (needs ResNet-18 weights "
                         f"and policy_planes=(64, 128, 256, 512)): "
                         f"{'missing ' + ', '.join(missing[:3]) if missing else 'shape mismatch at ' + ', '.join(bad[:3])}")
    features.load_state_dict({k: mapped.get(k, own[k]) for k in own})
