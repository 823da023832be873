"""Process-group helpers in detectron2's vocabulary (``detectron2/utils/comm.py``), for runs under ``torchrun``.

One process per GPU (or one or more CPU processes with gloo). ``torchrun`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init_distributed` reads them once. Without them every
helper here behaves as a single process (rank 0 of 1), so library code calls them unconditionally.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from eanet.errors import InvalidInputError

__all__ = [
    "DistInfo",
    "init_distributed",
    "local_device",
    "destroy_distributed",
    "is_distributed",
    "get_rank",
    "get_world_size",
    "get_local_rank",
    "is_main_process",
    "synchronize",
    "barrier",
    "all_gather",
    "all_reduce_min",
    "reduce_dict",
    "broadcast_object",
    "broadcast_buffers",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value is None else int(value)


def init_distributed(device: torch.device, timeout_minutes: float = 30.0) -> DistInfo:
    """Join the process group described by torchrun's environment variables (no-op without them).

    The backend follows the device: NCCL for CUDA, gloo for CPU. For CUDA the caller must have chosen
    ``cuda:LOCAL_RANK`` as ``device`` (see :func:`local_device`).
    """
    world_size = _env_int("WORLD_SIZE", 1)
    if world_size == 1 or not dist.is_available():
        return DistInfo()
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if dist.is_initialized():
        return DistInfo(rank, world_size, local_rank, dist.get_backend())
    backend = "nccl" if device.type == "cuda" else "gloo"
    kwargs: dict[str, Any] = {"backend": backend, "timeout": timedelta(minutes=timeout_minutes)}
    if device.type == "cuda":
        torch.cuda.set_device(device)  # object collectives and barriers use the current device
        kwargs["device_id"] = device
    dist.init_process_group(**kwargs)
    logger.info("joined process group: rank %d of %d (local rank %d, %s)", rank, world_size, local_rank, backend)
    return DistInfo(rank, world_size, local_rank, backend)


def local_device(spec: str) -> torch.device:
    """The device of this process: ``auto``/``cuda`` become ``cuda:LOCAL_RANK`` under torchrun when CUDA is there."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InvalidInputError(f"device {spec!r} was asked for, but CUDA is not available; use device=cpu")
        if device.index is None:
            device = torch.device("cuda", _env_int("LOCAL_RANK", 0))
    return device


def destroy_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def get_local_rank() -> int:
    return _env_int("LOCAL_RANK", 0) if is_distributed() else 0


def is_main_process() -> bool:
    return get_rank() == 0


def synchronize() -> None:
    """Barrier across all processes (no-op for one process)."""
    if is_distributed():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


barrier = synchronize


def all_gather(obj: Any) -> list[Any]:
    """Gather a picklable object from every process; every process gets the list, indexed by rank."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s object on every process."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_reduce_min(flag: torch.Tensor) -> torch.Tensor:
    """Element-wise minimum over processes (in place); e.g. "is the loss finite on *every* rank"."""
    if is_distributed():
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return flag


def broadcast_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (BatchNorm statistics) to every process, e.g. before a sharded evaluation."""
    if not is_distributed():
        return
    for buf in module.buffers():
        dist.broadcast(buf.data, src=src)


def reduce_dict(values: dict[str, torch.Tensor], average: bool = True) -> dict[str, torch.Tensor]:
    """Sum (or average) a dict of scalar tensors over processes; every process gets the result.

    Keys are sorted so that every process reduces the same order.
    """
    if not is_distributed() or not values:
        return dict(values)
    keys = sorted(values)
    stacked = torch.stack([values[k].detach().float() for k in keys])  # (K,)
    dist.all_reduce(stacked)
    if average:
        stacked /= get_world_size()
    return dict(zip(keys, stacked, strict=True))
