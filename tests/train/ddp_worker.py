"""One training step of the tiny model, in one process or in each process of a ``torchrun`` launch.

Usage: ``python -m torch.distributed.run --standalone --nproc_per_node 2 ddp_worker.py OUT_DIR BATCH_PER_PROCESS``.
For each optimiser (Adam, then SGD) rank 0 writes ``OUT_DIR/<optimizer>.pt`` with the parameters and gradients after
the step. The tiny model has no BatchNorm, so the per-process batch statistics question does not arise.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from tinytrain import TinyDataset, TinyTwoHandNet, tiny_config

from eanet.train import distributed as dist_utils
from eanet.train.loop import Trainer


def run(out_dir: Path, batch: int) -> None:
    device = torch.device("cpu")
    dist_utils.init_distributed(device)
    for optimizer, lr in (("adam", 1e-2), ("sgd", 0.1)):
        cfg = tiny_config(
            out_dir / f"run_{optimizer}", batch_size=batch, epochs=1, max_steps=1, optimizer=optimizer, lr=lr,
            checkpoint_every_steps=0, eval_every_epochs=0,
        )  # fmt: skip
        torch.manual_seed(cfg.seed)
        model = TinyTwoHandNet(dropout=0.0)
        # Start every output above its target, so no L1 gradient is an exact cancellation of +/- signs. Such a
        # gradient is 0 in exact arithmetic but +/-1e-10 after rounding, and Adam's first step, lr * g / (|g| + eps),
        # turns that rounding noise into a +/-lr * 0.02 update: a property of Adam, not of DDP.
        torch.nn.init.constant_(model.head.bias, 1.0)
        init = {k: v.detach().clone() for k, v in model.named_parameters()}
        trainer = Trainer(cfg, device, model, TinyDataset(32))
        trainer.fit()
        if dist_utils.is_main_process():
            state = {
                "init": init,
                "params": {k: v.detach().clone() for k, v in model.named_parameters()},
                "grads": {k: v.grad.detach().clone() for k, v in model.named_parameters()},
                "world_size": dist_utils.get_world_size(),
            }
            torch.save(state, out_dir / f"{optimizer}.pt")
    dist_utils.destroy_distributed()


if __name__ == "__main__":
    run(Path(sys.argv[1]), int(sys.argv[2]))
