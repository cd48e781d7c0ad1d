r"""M²Net's learning rule: path sampling, the diversity + sparsity reward, REINFORCE with a greedy
self-critical baseline (Chapter 2, §The idea). BlockDrop is the special case without diversity
term and with a curriculum.

For a batch of :math:`B` paths :math:`u_i \in \{0,1\}^K`:

* **Sampling.** Keep probabilities are bounded, :math:`\tilde s = \alpha s + (1-\alpha)(1-s)` with
  :math:`\alpha = 0.8`; a training path is :math:`u \sim \mathrm{Bernoulli}(\tilde s)`, the greedy
  (test-time and baseline) path is :math:`\tilde u = \mathbb{1}[s \ge 0.5]`.
* **Reward.** :math:`d_i = \frac1B\sum_j \mathrm{Ham}(u_i, u_j)` (fraction of differing blocks,
  :math:`j` over the whole batch including :math:`i`),
  :math:`R_\mathrm{div} = 1 - (1-d_i)^2`, :math:`R_\mathrm{sp} = 1 - (\lVert u_i\rVert_1/K)^2` and

  .. math::  R(u_i) = \begin{cases} 0.6\,R_\mathrm{div} + 0.4\,R_\mathrm{sp} & \text{prediction through } u_i \text{ correct}\\
                     \gamma & \text{otherwise} \end{cases}

  with :math:`\gamma = -1` in phase 1 and :math:`-5` in phase 2. BlockDrop: :math:`R = R_\mathrm{sp}`
  if correct, else :math:`\gamma`.
* **Policy gradient.** :math:`A_i = R(u_i) - R(\tilde u_i)` and
  :math:`\nabla J = \mathbb{E}[A\,\nabla\log\pi(u\mid x,\ell)]` with
  :math:`\log\pi(u) = \sum_k u_k\log\tilde s_k + (1-u_k)\log(1-\tilde s_k)`.
  Phase 1 loss :math:`\frac1B\big(\sum_{ik} -\log\pi(u_{ik})A_i - \beta\sum_{ik} -\tilde s_{ik}\log\tilde s_{ik}\big)`
  (:math:`\beta = 0.1`, recognition network frozen); phase 2 loss
  :math:`\sum_i -A_i\sum_k\log\pi(u_{ik}) + \mathrm{CE}(f_r(x, u), y)` (summed over the batch, as the
  official code; the cross-entropy is the batch mean, on the *sampled* path).
"""

from __future__ import annotations

import torch


def bound_probs(s: torch.Tensor, alpha: float = 0.8) -> torch.Tensor:
    r""":math:`\tilde s = \alpha s + (1-\alpha)(1-s)`: keeps every probability in :math:`[1-\alpha, \alpha]`."""
    return alpha * s + (1 - alpha) * (1 - s)


def greedy_path(s: torch.Tensor) -> torch.Tensor:
    r""":math:`\tilde u = \mathbb{1}[s \ge 0.5]` (float, no gradient)."""
    return (s.detach() >= 0.5).float()


def sample_path(s_tilde: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``u ~ Bernoulli(s̃)`` elementwise (float, no gradient)."""
    return torch.bernoulli(s_tilde.detach(), generator=generator)


def curriculum_path(u: torch.Tensor, c: int) -> torch.Tensor:
    """BlockDrop's curriculum: the first ``K − c`` blocks are forced on; only the last ``c`` are decided."""
    K = u.shape[1]
    if c >= K:
        return u
    u = u.clone()
    u[:, : K - c] = 1.0
    return u


def curriculum_mask(K: int, c: int, *, device=None) -> torch.Tensor:
    """``[K]`` mask, 1 on the last ``c`` (learned) blocks: the policy-gradient terms of forced blocks are removed."""
    m = torch.zeros(K, device=device)
    m[max(0, K - c):] = 1.0
    return m


def hamming_diversity(u: torch.Tensor, batch: torch.Tensor | None = None) -> torch.Tensor:
    r""":math:`d_i = \frac1B\sum_j \frac1K\sum_k |u_{ik} - u_{jk}|`: mean Hamming fraction to the batch, ``[B]``.

    ``batch [B, K]`` is the whole batch the :math:`j` run over (default ``u``); a process of a
    multi-process run passes the global batch and gets the values of its own rows ``u``.
    """
    u = u.float()
    v = u if batch is None else batch.float()
    # For binary vectors |a − b| = a + b − 2ab, so the [B, B] distance matrix is a matrix product.
    K = u.shape[1]
    dist = (u.sum(1)[:, None] + v.sum(1)[None, :] - 2 * u @ v.T) / K  # [B_local, B]
    return dist.mean(1)


def diversity_reward(u: torch.Tensor, batch: torch.Tensor | None = None) -> torch.Tensor:
    r""":math:`R_\mathrm{div} = 1 - (1 - d_i)^2`, ``[B]``."""
    return 1 - (1 - hamming_diversity(u, batch)) ** 2


def sparsity_reward(u: torch.Tensor) -> torch.Tensor:
    r""":math:`R_\mathrm{sp} = 1 - (\lVert u_i\rVert_1/K)^2`, ``[B]``."""
    return 1 - (u.float().mean(1)) ** 2


def reward(correct: torch.Tensor, u: torch.Tensor, *, penalty: float, w_div: float = 0.6,
           w_sp: float = 0.4, batch: torch.Tensor | None = None) -> torch.Tensor:
    r""":math:`R = w_\mathrm{div}R_\mathrm{div} + w_\mathrm{sp}R_\mathrm{sp}` where ``correct``, else ``penalty``; ``[B]``.

    M²Net: ``w_div=0.6, w_sp=0.4``; BlockDrop: ``w_div=0, w_sp=1``. ``batch``: the global batch of
    paths the diversity is measured against (default ``u``).
    """
    r = w_sp * sparsity_reward(u)
    if w_div:
        r = r + w_div * diversity_reward(u, batch)
    return torch.where(correct.bool(), r, torch.full_like(r, float(penalty)))


def log_prob(s_tilde: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    r"""Per-block :math:`\log\pi(u_{ik}) = u\log\tilde s + (1-u)\log(1-\tilde s)`, ``[B, K]``."""
    p = s_tilde.clamp(1e-7, 1 - 1e-7)
    return u * torch.log(p) + (1 - u) * torch.log(1 - p)


def phase1_loss(s_tilde: torch.Tensor, u: torch.Tensor, advantage: torch.Tensor, *, beta: float = 0.1,
                mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""Phase-1 loss :math:`\frac1B(\sum_{ik}-\log\pi(u_{ik})A_i\,m_k - \beta\sum_{ik}-\tilde s\log\tilde s)`.

    ``advantage [B]`` is treated as a constant; ``mask [K]`` is the curriculum mask (BlockDrop).
    The "entropy" is the official code's :math:`-\tilde s\log\tilde s`, not the Bernoulli entropy.
    """
    B = u.shape[0]
    pg = -log_prob(s_tilde, u) * advantage.detach()[:, None]  # [B, K]
    if mask is not None:
        pg = pg * mask
    p = s_tilde.clamp(1e-15, 1 - 1e-15)
    entropy = -(p * torch.log(p))  # [B, K]
    return (pg.sum() - beta * entropy.sum()) / B


def phase2_policy_loss(s_tilde: torch.Tensor, u: torch.Tensor, advantage: torch.Tensor) -> torch.Tensor:
    r"""Phase-2 REINFORCE term :math:`\sum_i -A_i\sum_k\log\pi(u_{ik})` (a sum over the batch, as the official code)."""
    return (-log_prob(s_tilde, u).sum(1) * advantage.detach()).sum()


# --- path statistics (evaluation) -------------------------------------------------------------

def unique_paths(u: torch.Tensor) -> int:
    """Number of distinct rows of ``u [N, K]``."""
    return int(torch.unique(u.round().to(torch.int64), dim=0).shape[0])


def mean_pairwise_hamming(u: torch.Tensor) -> float:
    r"""Mean Hamming fraction over all ordered pairs :math:`i \ne j` of ``u [N, K]`` (batch-free diversity)."""
    N = u.shape[0]
    if N < 2:
        return 0.0
    u = u.float()
    p = u.mean(0)  # [K] fraction of paths that use block k
    # sum_{i,j} |u_ik − u_jk| = 2 N² p_k (1 − p_k); divide by N(N−1) pairs and K blocks.
    return float((2 * N * N * p * (1 - p)).sum() / (N * (N - 1) * u.shape[1]))


def path_ids(u: torch.Tensor) -> torch.Tensor:
    """Integer code of each path, ``sum_k u_k 2^k``, ``[N]``."""
    w = 2 ** torch.arange(u.shape[1], device=u.device)
    return (u.round().long() * w).sum(1)


def explained_share(u: torch.Tensor, group: torch.Tensor) -> float:
    r"""Share of the paths' variance explained by a grouping (e.g. the city):
    :math:`\sum_k \mathrm{Var}(\mathbb{E}[u_k\mid g]) / \sum_k \mathrm{Var}(u_k)` (0: paths ignore the
    group; 1: the group fixes the path). ``u [N, K]``, ``group [N]``."""
    u = u.float()
    total = u.var(0, unbiased=False).sum()
    if total == 0:
        return 0.0
    mean = u.mean(0)
    between = sum((group == g).float().mean() * ((u[group == g].mean(0) - mean) ** 2).sum() for g in group.unique())
    return float(between / total)


def _entropy_bits(counts: torch.Tensor) -> float:
    p = counts[counts > 0].double() / counts.sum()
    return float(-(p * p.log2()).sum())


def plugin_mutual_information(u: torch.Tensor, group: torch.Tensor) -> float:
    r"""Plug-in estimate :math:`\hat I(U;G) = \hat H(U) - \sum_g \hat p(g)\,\hat H(U\mid g)` in bits, over the
    distinct paths of ``u [N, K]`` and the labels ``group [N]``."""
    ids = torch.unique(path_ids(u), return_inverse=True)[1]
    gid = torch.unique(group, return_inverse=True)[1]
    h = _entropy_bits(torch.bincount(ids))
    n = len(ids)
    for g in gid.unique():
        sel = gid == g
        h -= float(sel.sum()) / n * _entropy_bits(torch.bincount(ids[sel]))
    return h


def path_information(u: torch.Tensor, group: torch.Tensor, *, permutations: int = 20, seed: int = 0) -> float:
    r"""How much the greedy path tells about a grouping (class, city), in bits: the plug-in mutual
    information :math:`\hat I(U;G)` less its mean over ``permutations`` random relabellings of
    ``group`` (the estimator's bias for paths that ignore the group, which grows with the number of
    distinct paths). About 0 for paths that ignore the group — however many distinct paths there
    are — and up to :math:`H(G)` for paths that fix it. ``u [N, K]``, ``group [N]``."""
    g = torch.Generator().manual_seed(seed)
    null = [plugin_mutual_information(u, group[torch.randperm(len(group), generator=g)]) for _ in range(permutations)]
    return plugin_mutual_information(u, group) - sum(null) / max(1, len(null))
