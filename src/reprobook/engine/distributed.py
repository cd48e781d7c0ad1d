"""Multi-process data-parallel training with PyTorch's own engine (``torchrun`` + DDP).

Launched as ``torchrun --nproc_per_node N -m reprobook train ...``, every process runs the same
code; :func:`init` reads torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``) and joins
the process group: NCCL on CUDA, gloo on CPU. Without torchrun everything here is a no-op, so a
chapter's code is the same for one process and for many.

The rule that makes N processes train *the same model* as one process with the same global
batch ``B``: each rank works on its own slice ``B/N`` of every global batch, and every quantity
that the single-process run computes *over the batch* is reduced over ranks:

* parameter gradients — :class:`~torch.nn.parallel.DistributedDataParallel` averages them;
* batch-norm statistics — :func:`convert_batchnorm` (``SyncBatchNorm`` on GPU, :class:`GlobalBatchNorm`
  on CPU, where ``SyncBatchNorm`` does not run);
* batch means that drive decisions or losses (a switching criterion, the batch-statistics loss of
  a data-free generator, a quantizer's range) — :func:`global_mean`, :func:`global_moments`,
  :func:`all_reduce`.

Random draws that make a batch (a generator's noise, its labels) are drawn for the whole global
batch from the same seeded stream on every rank and sliced with :func:`local_slice`, so the global
batch is the single-process one. Only rank 0 writes files (:func:`is_main`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_CTX = Context()
_GROUPS = 0  # process groups this process has joined


def current() -> Context:
    """The process group this process belongs to (world size 1 without torchrun)."""
    return _CTX


def is_main() -> bool:
    return _CTX.rank == 0


def world_size() -> int:
    return _CTX.world_size


def init(device: str | torch.device = "auto") -> Context:
    """Join torchrun's process group if this process was started by torchrun; return the context.

    Returns the single-process context when ``WORLD_SIZE`` is unset or 1. Calling it again in the
    same process reuses the group.
    """
    global _CTX, _GROUPS
    n = int(os.environ.get("WORLD_SIZE", "1"))
    if n <= 1:
        _CTX = Context()
        return _CTX
    missing = [v for v in ENV_VARS + ("MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise RuntimeError(f"WORLD_SIZE={n} but {', '.join(missing)} unset: start multi-process runs with torchrun")
    rank, local = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    want_cuda = str(device).startswith("cuda") or (str(device) == "auto" and torch.cuda.is_available())
    backend = "nccl" if want_cuda else "gloo"
    if want_cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        # A group re-created in the same processes (several runs in one torchrun) must not read
        # the previous group's addresses from torchrun's store: each group gets its own key prefix.
        _GROUPS += 1
        store, _, _ = next(dist.rendezvous("env://"))
        # On GPUs, CPU tensors (logged metrics, counts) still need a backend: gloo beside NCCL.
        dist.init_process_group("cpu:gloo,cuda:nccl" if want_cuda else "gloo", rank=rank, world_size=n,
                                store=dist.PrefixStore(f"reprobook-group{_GROUPS}/", store))
    _CTX = Context(rank=rank, world_size=n, local_rank=local, backend=backend)
    return _CTX


def shutdown() -> None:
    """Leave the process group (no-op for one process)."""
    global _CTX
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _CTX = Context()


def device_for(device: torch.device) -> torch.device:
    """This rank's device: ``cuda:LOCAL_RANK`` when ``device`` is CUDA, else ``device`` unchanged."""
    if device.type == "cuda" and _CTX.enabled:
        return torch.device("cuda", _CTX.local_rank)
    return device


def barrier() -> None:
    if _CTX.enabled:
        dist.barrier()


def local_slice(n_global: int) -> slice:
    """This rank's contiguous share of a global batch of ``n_global`` items."""
    n = _CTX.world_size
    if n_global % n:
        raise ValueError(f"global batch size {n_global} is not divisible by the {n} processes; "
                         f"choose a batch size that is a multiple of {n}")
    b = n_global // n
    return slice(_CTX.rank * b, (_CTX.rank + 1) * b)


def all_reduce(x: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """``sum``/``max``/``min``/``mean`` of ``x`` over ranks, out of place, no gradient."""
    if not _CTX.enabled:
        return x
    ops = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN, "mean": dist.ReduceOp.SUM}
    y = x.detach().clone()
    dist.all_reduce(y, op=ops[op])
    return y / _CTX.world_size if op == "mean" else y


def _differentiable_sum(x: torch.Tensor) -> torch.Tensor:
    # The gradient of a sum over ranks w.r.t. this rank's input is the sum of the upstream
    # gradients of all ranks; torch.distributed.nn's all_reduce implements exactly that.
    from torch.distributed.nn.functional import all_reduce as ar

    return ar(x)


def global_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over its first (batch) dimension across all ranks, differentiable.

    Equals ``x.mean(0)`` of the concatenated global batch.
    """
    if not _CTX.enabled:
        return x.mean(0)
    s = torch.cat([x.sum(0).reshape(-1), x.new_tensor([x.shape[0]], dtype=x.dtype)])
    s = _differentiable_sum(s)
    return (s[:-1] / s[-1]).reshape(x.shape[1:])


def global_moments(x: torch.Tensor, dims: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and biased variance of ``x`` over ``dims`` of the global batch, differentiable."""
    count = 1
    for d in dims:
        count *= x.shape[d]
    if not _CTX.enabled:
        return x.mean(dims), x.var(dims, unbiased=False)
    s1, s2 = x.sum(dims), (x * x).sum(dims)
    shape = s1.shape
    total = _differentiable_sum(torch.cat([s1.reshape(-1), s2.reshape(-1), x.new_tensor([count])]))
    k = s1.numel()
    n = total[-1]
    mean = total[:k] / n
    var = (total[k:2 * k] / n - mean * mean).clamp_min(0)
    return mean.reshape(shape), var.reshape(shape)


def mean_metrics(values: dict) -> dict:
    """Average a dict of scalar metrics over ranks (every rank must pass the same keys in the same order)."""
    if not _CTX.enabled or not values:
        return values
    keys = list(values)
    t = torch.tensor([float(v.detach().float().item() if isinstance(v, torch.Tensor) else v)
                      for v in values.values()], dtype=torch.float64)
    t = all_reduce(t, "mean")
    return {k: float(v) for k, v in zip(keys, t.tolist())}


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose batch statistics are those of the global batch, for CPU process groups.

    ``torch.nn.SyncBatchNorm`` only runs on accelerators; this layer does the same on gloo: it
    all-reduces the per-channel sum and sum of squares (differentiably) and normalises with the
    global mean and biased variance; running statistics use the unbiased variance, as PyTorch's.
    """

    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input, got {x.dim()}D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training or not self.track_running_stats):
            return super().forward(x)
        dims = (0,) + tuple(range(2, x.dim()))
        mean, var = global_moments(x, dims)
        n = x.numel() // x.shape[1] * _CTX.world_size
        if self.training and self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / max(n - 1, 1), alpha=m)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        y = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + self.eps)
        if self.affine:
            y = y * self.weight.reshape(shape) + self.bias.reshape(shape)
        return y


def convert_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every batch-norm layer by one that normalises over the global batch (no-op for one process)."""
    if not _CTX.enabled:
        return module
    if _CTX.backend == "nccl":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _convert_cpu(module)


def _convert_cpu(module: nn.Module) -> nn.Module:
    out = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, GlobalBatchNorm):
        out = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                              module.track_running_stats)
        out.load_state_dict(module.state_dict())
        out.train(module.training)
        if module.running_mean is not None:
            out.to(module.running_mean.device)
    for name, child in module.named_children():
        out.add_module(name, _convert_cpu(child))
    return out


def wrap(module: nn.Module, *, sync_bn: bool = True, **ddp_kwargs) -> nn.Module:
    """Prepare a network for data-parallel training: global batch norm, then DDP (identity for one process).

    Keep a reference to the unwrapped module for checkpoints and evaluation (``unwrap``).
    """
    if not _CTX.enabled:
        return module
    if sync_bn:
        module = convert_batchnorm(module)
    device_ids = [_CTX.local_rank] if _CTX.backend == "nccl" else None
    # Buffers are kept equal by the global statistics themselves; broadcasting rank 0's at every
    # forward would hide a bug instead of fixing it (older torch spells this broadcast_buffers).
    import inspect

    params = inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters
    ddp_kwargs.setdefault("forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers", False)
    return nn.parallel.DistributedDataParallel(module, device_ids=device_ids, **ddp_kwargs)


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module
