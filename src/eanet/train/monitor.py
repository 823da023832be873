"""What a training run reports while it runs (rank 0 only): a progress bar, JSON lines and TensorBoard scalars.

* ``<output_dir>/log.jsonl``: one JSON object per line, ``{"kind": "step"|"epoch"|"eval"|"event", ...}``, appended
  across resumes (a resumed run first drops the lines past the step it resumes from, so the log reads as one run).
* ``<output_dir>/tensorboard/``: the same scalars under ``train/*``, ``eval/*`` and ``epoch/*``.
* A tqdm bar per epoch with the running loss, learning rate, images/s and the ETA of the whole run.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eanet.train.checkpoint import atomic_write

__all__ = ["RunMonitor", "format_duration"]

logger = logging.getLogger(__name__)


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf
    return value


class RunMonitor:
    """Progress bar, JSON-lines log and TensorBoard writer of one run; all methods are no-ops when disabled.

    Args:
        output_dir: the run directory.
        enabled: False on every process but rank 0.
        progress_bar: show a tqdm bar.
        tensorboard: write TensorBoard events.
        resume_step: the global step a resumed run continues from (log lines past it are dropped); 0 for a fresh run.
    """

    def __init__(
        self,
        output_dir: str | Path,
        enabled: bool = True,
        progress_bar: bool = True,
        tensorboard: bool = True,
        resume_step: int = 0,
    ) -> None:
        self.enabled = enabled
        self.output_dir = Path(output_dir)
        self.show_bar = progress_bar and enabled
        self._bar = None
        self._writer = None
        self._jsonl = None
        if not enabled:
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / "log.jsonl"
        self._truncate_log(path, resume_step)
        self._jsonl = path.open("a", buffering=1)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(
                    str(self.output_dir / "tensorboard"), purge_step=resume_step if resume_step > 0 else None
                )
            except ImportError:  # tensorboard is a dependency, but keep training without it
                logger.warning("tensorboard is not installed: no TensorBoard logs will be written")

    @staticmethod
    def _truncate_log(path: Path, resume_step: int) -> None:
        if not path.is_file():
            return
        if resume_step <= 0:
            return
        kept = []
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a line cut short by a kill
            if rec.get("global_step", 0) <= resume_step:
                kept.append(line)
        # Atomically: rewriting in place on a full disk would leave the log truncated.
        text = "".join(line + "\n" for line in kept).encode()
        atomic_write(path, lambda f: f.write(text))

    # ---- records
    def record(self, kind: str, global_step: int, values: Mapping[str, Any], **extra: Any) -> None:
        """Append one JSON line and, for numeric values, TensorBoard scalars under ``<kind>/<name>``."""
        if not self.enabled:
            return
        rec = {"kind": kind, "global_step": global_step, "time": round(time.time(), 3), **extra}
        rec.update({k: _plain(v) for k, v in values.items()})
        if self._jsonl is not None:
            self._jsonl.write(json.dumps(rec) + "\n")
        if self._writer is not None:
            for k, v in values.items():
                v = _plain(v)
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    self._writer.add_scalar(f"{kind}/{k}", v, global_step)

    # ---- progress bar
    def start_epoch(self, epoch: int, epochs: int, total: int, initial: int = 0) -> None:
        if not self.show_bar:
            return
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=total,
            initial=initial,
            desc=f"epoch {epoch + 1}/{epochs}",
            unit="step",
            dynamic_ncols=True,
            leave=True,
        )

    def update_bar(self, n: int = 1, **postfix: Any) -> None:
        if self._bar is None:
            return
        self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(n)

    def end_epoch(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def close(self) -> None:
        self.end_epoch()
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
            self._writer = None
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None
