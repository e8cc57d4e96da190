"""Multi-process training with PyTorch DDP, started by ``torchrun`` (one process per GPU or per CPU slot).

``torchrun --nproc_per_node 4 -m vpbench evaluate ...`` sets ``RANK`` /
``WORLD_SIZE`` / ``MASTER_ADDR``; :func:`init_from_env` then joins the process
group (NCCL on GPUs, gloo on CPUs). Without torchrun everything here is a
no-op, and a single process runs as before.

The split of work follows one rule, so that ``N`` processes compute what one
process with the same global batch computes: every rank draws the same random
numbers for the whole global batch (same seed, same generator calls), takes its
own contiguous share of the batch, and weights its loss by its share of the
batch, so DDP's gradient averaging gives the full batch's mean gradient.
Testing is sharded by video and the predictions are gathered in video order.
Only rank 0 writes files (checkpoints, results, previews); the others wait at
a barrier so nobody reads a checkpoint before it is complete.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() else None


def init_from_env() -> bool:
    """Join the process group that torchrun describes in the environment; False when not under torchrun."""
    dist = _dist()
    if dist is None or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        use_cuda = torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return True


def world() -> tuple[int, int]:
    """``(rank, world_size)``: ``(0, 1)`` outside a process group."""
    dist = _dist()
    if dist is None or not dist.is_initialized():
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def is_main() -> bool:
    return world()[0] == 0


def barrier() -> None:
    if world()[1] > 1:
        _dist().barrier()


def device() -> torch.device:
    """This process's device: its GPU under torchrun (LOCAL_RANK), the first GPU alone, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) if world()[1] > 1 else torch.cuda.current_device())
    return torch.device("cpu")


def wrap(model: nn.Module, find_unused_parameters: bool = False) -> nn.Module:
    """``model`` as DDP over the process group (BatchNorm synchronised on GPUs), or unchanged alone.

    ``find_unused_parameters``: for a loss that leaves part of the model out (STPrivacy's phases
    each train through only some of its heads)."""
    if world()[1] <= 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    dev = device()
    if dev.type == "cuda":
        # SyncBatchNorm needs GPUs; on CPU ranks each BatchNorm keeps its own batch statistics.
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[dev.index], find_unused_parameters=find_unused_parameters)
    return DistributedDataParallel(model, find_unused_parameters=find_unused_parameters)


def share(n: int) -> tuple[slice, float]:
    """This rank's contiguous part of a global batch of ``n`` items, and the weight of its mean loss
    (its size x world / n) that makes DDP's averaged gradient the mean over all ``n``."""
    rank, size = world()
    bounds = np.linspace(0, n, size + 1).round().astype(int)
    lo, hi = int(bounds[rank]), int(bounds[rank + 1])
    return slice(lo, hi), (hi - lo) * size / max(n, 1)


def local_share(n: int) -> tuple[np.ndarray, float]:
    """Indices into a global batch of ``n`` that this rank trains on, and its loss weight. A rank
    whose share is empty (a last batch smaller than the world) runs the first item at weight 0,
    since DDP needs every rank in every backward pass."""
    part, weight = share(n)
    idx = np.arange(n)[part]
    return (idx, weight) if len(idx) else (np.arange(min(n, 1)), 0.0)


def sum_across(values) -> np.ndarray:
    """Elementwise sums of a few numbers over the ranks (counts and loss sums for logging)."""
    t = torch.tensor(np.asarray(values, dtype=np.float64))
    if world()[1] > 1:
        _dist().all_reduce(t)
    return t.numpy()


def gather_rows(local: np.ndarray, n: int) -> np.ndarray:
    """The per-item rows every rank computed for its :func:`share` of ``n`` items, in item order, on every rank."""
    if world()[1] <= 1:
        return local
    parts: list = [None] * world()[1]
    _dist().all_gather_object(parts, local)
    out = np.concatenate([p for p in parts if len(p)])
    assert len(out) == n, (len(out), n)
    return out


def mean_across(value: float) -> float:
    """The mean of one number over the ranks (for logging losses)."""
    if world()[1] <= 1:
        return value
    t = torch.tensor([float(value)], dtype=torch.float64)
    _dist().all_reduce(t)
    return float(t.item()) / world()[1]
