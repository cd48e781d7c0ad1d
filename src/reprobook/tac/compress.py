r"""FC-layer compression: magnitude pruning with fixed masks and low-bit weight sharing (Chapter 1, §The idea).

TAC replaces the binarization of fully connected layers by pruning plus low-bit quantization.
The paper's text is not available, so the steps follow the standard pipeline its abstract names
(Han et al.'s Deep Compression); every choice below is a parameter of the chapter's config.

**Pruning.** Per layer, keep the fraction :math:`1-p` of weights of largest magnitude,

.. math:: M_{ij} = \mathbf 1\big[\,|W_{ij}| \text{ is among the } \lceil(1-p)\,N\rceil \text{ largest}\big],\qquad W \leftarrow M\odot W,

then retrain with the mask fixed: gradients, Adam moments and weights of pruned entries are
zeroed after every backward pass and step, so pruned weights never regrow.

**Weight sharing.** The surviving weights of a layer are clustered into :math:`K = 2^b` values
:math:`c_1..c_K` by 1-D k-means (centroids initialised linearly between the smallest and largest
weight, as Deep Compression recommends); each weight stores a :math:`b`-bit index :math:`I_{ij}`
and :math:`W_{ij} = c_{I_{ij}}`. Fine-tuning updates the centroids with the summed gradients of
their members,

.. math:: \frac{\partial L}{\partial c_k} = \sum_{ij} \frac{\partial L}{\partial W_{ij}}\,\mathbf 1[I_{ij}=k],

which is what autograd gives for the gather :math:`W = c[I]`. The *uniform* alternative keeps the
linear grid (no Lloyd iterations): every weight is rounded to the nearest of :math:`2^b` evenly
spaced levels between its layer's extremes.
"""

from __future__ import annotations

import torch

QUANTIZERS = ("kmeans", "uniform")


def magnitude_mask(W: torch.Tensor, rate: float, *, tiebreak: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean mask keeping the ``round((1 - rate)·N)`` largest ``|W|``.

    Ties are broken by the larger ``|tiebreak|`` (e.g. latent weights behind shared values), then by
    position.
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"pruning rate must be in [0, 1), got {rate}")
    n = W.numel()
    keep = max(1, int(round((1.0 - rate) * n)))
    key = W.detach().abs().flatten()
    order = torch.arange(n, device=W.device)
    if tiebreak is not None:
        order = torch.argsort(tiebreak.detach().abs().flatten(), descending=True, stable=True)
    order = order[torch.argsort(key[order], descending=True, stable=True)]
    mask = torch.zeros(n, dtype=torch.bool, device=W.device)
    mask[order[:keep]] = True
    return mask.view_as(W)


def linear_codebook(values: torch.Tensor, bits: int) -> torch.Tensor:
    """:math:`2^b` evenly spaced values from ``values.min()`` to ``values.max()``: shape ``[2^b]``."""
    return torch.linspace(values.min().item(), values.max().item(), 2**bits, dtype=values.dtype)


def assign(values: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest codebook entry for each value (ties to the lower value).

    1-D nearest neighbour by binary search on the midpoints of the sorted codebook: O(N log K).
    """
    c, order = torch.sort(codebook)
    mid = (c[1:] + c[:-1]) / 2  # [K-1] decision boundaries
    pos = torch.bucketize(values.reshape(-1).contiguous(), mid, right=False)  # value == mid -> lower
    return order[pos].view(values.shape)


def kmeans_1d(values: torch.Tensor, bits: int, *, iters: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means on 1-D ``values`` with :math:`2^b` linearly initialised centroids.

    Returns ``(codebook [2^b], index [len(values)])``. An empty cluster keeps its centroid.
    """
    values = values.detach().flatten()
    c = linear_codebook(values, bits)
    idx = assign(values, c)
    for _ in range(iters):
        sums = torch.zeros_like(c).index_add_(0, idx, values)
        counts = torch.zeros_like(c).index_add_(0, idx, torch.ones_like(values))
        c = torch.where(counts > 0, sums / counts.clamp_min(1), c)
        new = assign(values, c)
        if torch.equal(new, idx):
            break
        idx = new
    return c, idx


def weight_sharing(W: torch.Tensor, mask: torch.Tensor | None, bits: int, *, method: str = "kmeans",
                   iters: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """Codebook ``[2^b]`` and index (shape of ``W``) for the weights kept by ``mask`` (all if ``None``)."""
    if method not in QUANTIZERS:
        raise ValueError(f"quantizer must be one of {', '.join(QUANTIZERS)}; got {method!r}")
    if not 1 <= bits <= 16:
        raise ValueError(f"bits must be between 1 and 16, got {bits}")
    W = W.detach()
    kept = W[mask] if mask is not None else W.flatten()
    if method == "kmeans":
        codebook, _ = kmeans_1d(kept, bits, iters=iters)
    else:
        codebook = linear_codebook(kept, bits)
    return codebook, assign(W, codebook)


def sparse_entries(mask: torch.Tensor, index_bits: int) -> int:
    """Stored entries of a mask in relative-index format with ``index_bits``-bit gaps.

    Non-zeros are stored in row-major order with the distance to the previous one; a distance
    larger than :math:`2^{\\text{index\\_bits}}` needs filler zero entries (Deep Compression's format), so
    entries = nnz + Σ ⌊(d − 1) / 2^{index_bits}⌋ over the distances d.
    """
    pos = mask.flatten().nonzero().flatten()
    if pos.numel() == 0:
        return 0
    d = torch.diff(pos, prepend=pos.new_tensor([-1]))  # first distance counted from position −1
    return int(pos.numel() + ((d - 1) // (2**index_bits)).sum().item())


@torch.no_grad()
def enforce_masks(layers, optimizer: torch.optim.Optimizer | None = None, *, grads: bool = True) -> None:
    """Zero pruned weights (and their gradients and Adam moments) of every masked layer."""
    for layer in layers:
        mask = getattr(layer, "mask", None)
        if mask is None or getattr(layer, "codebook", None) is not None:
            continue
        W = layer.op.weight
        W.mul_(mask)
        if grads and W.grad is not None:
            W.grad.mul_(mask)
        if optimizer is not None and W in optimizer.state:
            for key in ("exp_avg", "exp_avg_sq", "momentum_buffer"):
                buf = optimizer.state[W].get(key)
                if buf is not None and buf.shape == W.shape:
                    buf.mul_(mask)

