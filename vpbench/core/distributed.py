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

The device and the precision are chosen once per process, here:
:func:`configure` (``vpbench evaluate`` and ``vpbench anonymize`` call it
with ``--device`` / ``--precision`` before any work) checks and records them,
every training and prediction loop takes its device from :func:`device` and
wraps its forward passes in :func:`autocast`. Unconfigured, a process runs
as ``auto`` / ``fp32``.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import platform
import re

import numpy as np
import torch
from torch import nn

from .errors import VPBenchError, did_you_mean

PRECISIONS = ("fp32", "bf16")
DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:K")
# How long a rank waits at a collective before the group gives up. torch's defaults (NCCL 10 min, gloo 30 min)
# are shorter than one rank alone may work while the others wait at a barrier: rank 0 decoding a full-size
# dataset into its clip cache on the first run. ``VPBENCH_DIST_TIMEOUT_MIN`` overrides it.
DIST_TIMEOUT_MIN = 180

# The process-wide choice (see configure); None until configured, which then means "auto".
_chosen: dict = {"device": None, "requested": "auto", "precision": "fp32"}


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() else None


def init_from_env() -> bool:
    """Join the process group that torchrun describes in the environment; False when not under torchrun."""
    dist = _dist()
    if dist is None or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        # The configured device decides the backend: `--device cpu` on a GPU machine runs gloo.
        dev = device()
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=collective_timeout())
    return True


def collective_timeout() -> datetime.timedelta:
    """The process group's timeout: :data:`DIST_TIMEOUT_MIN` minutes, or ``VPBENCH_DIST_TIMEOUT_MIN``."""
    raw = os.environ.get("VPBENCH_DIST_TIMEOUT_MIN", "").strip()
    if not raw:
        return datetime.timedelta(minutes=DIST_TIMEOUT_MIN)
    try:
        minutes = float(raw)
    except ValueError:
        minutes = -1.0
    if not (minutes > 0 and math.isfinite(minutes)):
        raise VPBenchError(f"VPBENCH_DIST_TIMEOUT_MIN={raw!r}: give a positive number of minutes")
    return datetime.timedelta(minutes=minutes)


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


def _torchrun_size() -> int:
    """The world size torchrun announces (read from the environment, so it works before the group is joined)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def resolve_device(spec: str) -> torch.device:
    """The device ``spec`` (auto, cpu, cuda, cuda:K) names on this machine; a one-line error for one it cannot be.

    ``auto`` and ``cuda`` under torchrun: the rank's LOCAL_RANK GPU; alone: the current GPU (the first
    one unless set). ``auto`` without a GPU is the CPU; ``cuda`` without one is an error."""
    text = str(spec).strip().lower()
    if text == "cpu":
        return torch.device("cpu")
    if text == "auto" and not torch.cuda.is_available():
        return torch.device("cpu")
    m = re.fullmatch(r"cuda(?::(\d+))?", text)
    if text != "auto" and m is None:
        # "gpu" is closest to "cpu" by spelling, the opposite of what was meant.
        hint = (
            " (did you mean 'cuda'?)"
            if text in ("gpu", "nvidia") or text.startswith("gpu:")
            else did_you_mean(text, ["auto", "cpu", "cuda"] + [f"cuda:{k}" for k in range(_gpu_count())])
        )
        raise VPBenchError(f"unknown device '{spec}'{hint}; choose from: {', '.join(DEVICE_CHOICES)}")
    if not torch.cuda.is_available():
        raise VPBenchError(
            f"--device {spec}: this machine has no CUDA device torch can use (torch {torch.__version__}, "
            f"built for CUDA {torch.version.cuda or 'none'}); pass --device cpu or --device auto"
        )
    count = _gpu_count()
    ranks = _torchrun_size()
    if m is not None and m.group(1) is not None:
        k = int(m.group(1))
        if ranks > 1:
            # Several ranks on one GPU would collide (NCCL refuses it); torchrun gives each its own.
            raise VPBenchError(
                f"--device {spec} under torchrun: each rank takes its LOCAL_RANK GPU, pass --device cuda or auto"
            )
        if k >= count:
            raise VPBenchError(f"--device {spec}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
        return torch.device("cuda", k)
    if ranks > 1:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= count:
            raise VPBenchError(
                f"torchrun started local rank {local} but this machine has {count} CUDA device(s): "
                f"start at most {count} processes per node, or pass --device cpu"
            )
        return torch.device("cuda", local)
    return torch.device("cuda", torch.cuda.current_device())


def _gpu_count() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _bf16_native(dev: torch.device) -> bool:
    """Whether ``dev`` runs bf16 natively (what ``torch.cuda.is_bf16_supported(including_emulation=False)``
    answers for the current GPU, asked here of ``dev``). The CPU: yes (torch's CPU autocast does bf16)."""
    if dev.type != "cuda" or torch.version.hip:
        return True
    return torch.cuda.get_device_capability(dev)[0] >= 8


def configure(device: str = "auto", precision: str = "fp32") -> torch.device:
    """Check and set the device and precision of every loop of this process; returns the device.

    Called once at the start of an evaluation or an anonymization, before any work, so that a device
    this machine lacks or a precision it cannot run is a one-line error, not a failure mid-training."""
    prec = str(precision).strip().lower()
    if prec not in PRECISIONS:
        raise VPBenchError(
            f"unknown precision '{precision}'{did_you_mean(prec, PRECISIONS)}; choose from: {', '.join(PRECISIONS)}"
        )
    dev = resolve_device(device)
    if prec == "bf16" and not _bf16_native(dev):
        major, minor = torch.cuda.get_device_capability(dev)
        raise VPBenchError(
            f"--precision bf16: {dev} has compute capability {major}.{minor}, bf16 needs 8.0 or newer "
            "(Ampere); pass --precision fp32"
        )
    if dev.type == "cuda":
        torch.cuda.set_device(dev)  # so that code asking for "the current GPU" gets this one
    _chosen.update(device=dev, requested=str(device), precision=prec)
    return dev


def device() -> torch.device:
    """This process's device: the configured one; unconfigured, ``auto`` (its LOCAL_RANK GPU under
    torchrun, the current GPU alone, else the CPU)."""
    return _chosen["device"] if _chosen["device"] is not None else resolve_device("auto")


def precision() -> str:
    """``fp32`` or ``bf16``: the configured precision of forward passes."""
    return _chosen["precision"]


def autocast():
    """The context every loop runs its forward passes (and losses) in: bf16 autocast on the configured
    device for ``bf16``, nothing for ``fp32``. Backward passes and optimizer steps stay outside."""
    if _chosen["precision"] == "bf16":
        return torch.autocast(device_type=device().type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def describe() -> dict:
    """What a result records about where it ran: device (and its name), what was asked, precision, ranks."""
    dev = device()
    name = (
        torch.cuda.get_device_name(dev) if dev.type == "cuda" else (platform.processor() or platform.machine() or "cpu")
    )
    return {
        "device": str(dev),
        "device_name": name,
        "requested_device": _chosen["requested"],
        "precision": _chosen["precision"],
        "world_size": world()[1],
    }


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


class _GatherShares(torch.autograd.Function):
    """Forward: the rows of every rank's :func:`share` of ``n`` items, in item order. Backward: this rank's
    rows of the incoming gradient (no communication: see :func:`gather_with_grad`)."""

    @staticmethod
    def forward(ctx, local: torch.Tensor, n: int) -> torch.Tensor:
        rank, size = world()
        bounds = np.linspace(0, n, size + 1).round().astype(int)
        counts = np.diff(bounds)
        mine = int(counts[rank])  # a rank with an empty share holds one row at weight 0 (local_share): send none
        padded = local.new_zeros((int(counts.max()), *local.shape[1:]), dtype=torch.float32)
        padded[:mine] = local[:mine].float()  # float32 on the wire: gloo has no bf16
        parts = [torch.empty_like(padded) for _ in range(size)]
        _dist().all_gather(parts, padded)
        ctx.lo, ctx.mine, ctx.local_shape, ctx.dtype = int(bounds[rank]), mine, local.shape, local.dtype
        return torch.cat([p[:c] for p, c in zip(parts, counts)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        out = grad.new_zeros(ctx.local_shape)
        out[: ctx.mine] = grad[ctx.lo : ctx.lo + ctx.mine]
        return out.to(ctx.dtype), None


def gather_with_grad(local: torch.Tensor, n: int) -> torch.Tensor:
    """The whole global batch's rows (``n`` of them) on every rank, from each rank's :func:`local_share`
    rows, with gradients flowing back to this rank's own rows; ``local`` unchanged alone.

    For a loss over the whole batch that is not a mean of per-item terms (SPAct's NT-Xent, whose
    negatives are the other items): every rank computes the same whole-batch loss; its backward
    reaches only this rank's rows, so a loss weighted by the world size makes DDP's averaged
    gradient the one process's gradient."""
    if world()[1] <= 1:
        return local
    return _GatherShares.apply(local, int(n))
