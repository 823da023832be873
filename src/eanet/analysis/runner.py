"""Running the analyses on images: read and crop each image with the predictor's preprocessing, run the network
with the extract-stage FuseFormer captured, write numbers and figures per image and a summary.

Output layout (``OUT/<image name>/``): ``panel.png`` (input, both t-SNEs, mean attention map), ``attention.png``
(per block), ``attention_heads.png`` (per block and head), ``tsne.png``, ``analysis.json``, ``tokens.npz``; and
``OUT/summary.json``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eanet.analysis.capture import capture_fuseformer, extract_fuseformer
from eanet.analysis.figures import attention_figure, attention_heads_figure, panel_figure, save_figure, tsne_figure
from eanet.analysis.report import ImageAnalysis, analyze_capture, save_numbers
from eanet.data.synthetic_manifest import MANIFEST_NAME
from eanet.errors import UserError

__all__ = ["ImageReport", "analyze_image", "analyze_images", "checkpoint_provenance", "UNTRAINED_WARNING"]

logger = logging.getLogger(__name__)

UNTRAINED_WARNING = (
    "the model has random (untrained) weights: its attention maps and token distributions show the initialisation, "
    "not what EANet learns, and are not meaningful; pass --checkpoint with trained weights for real analyses"
)


@dataclass
class ImageReport:
    """What was written for one input (``error`` set when it failed)."""

    source: str
    out_dir: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    numbers: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def checkpoint_provenance(path: str | Path) -> dict[str, Any]:
    """Where a checkpoint's weights come from, read from its metadata without loading the weights.

    Returns:
        ``weights`` (``official`` or ``checkpoint``), ``trained`` (True, or None when the file does not say),
        ``checkpoint``, optional ``global_step`` / ``train_data``, and a one-line ``description``.
    """
    path = Path(path)
    info: dict[str, Any] = {"checkpoint": str(path)}
    if path.suffix != ".safetensors":
        return {**info, "weights": "official", "trained": True,
                "description": f"official EANet release weights ({path.name}; trained on InterHand2.6M)"}  # fmt: skip
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as f:
        meta = dict(f.metadata() or {})
    source = meta.get("source", "")
    if source.startswith("official"):
        return {**info, "weights": "official", "trained": True,
                "description": f"official EANet weights converted to {path.name} (trained on InterHand2.6M)"}  # fmt: skip
    info["weights"] = "checkpoint"
    data = ""
    try:
        cfg = json.loads(meta.get("config", "{}"))
        root = Path(cfg["data"]["root"])
        # `eanet synth` writes this manifest next to its InterHand2.6M-format annotations.
        kind = "synthetic renders (eanet synth)" if (root / MANIFEST_NAME).is_file() else cfg["data"]["dataset"]
        info["train_data"] = f"{kind} at {root}"
        data = f"{kind} ({'/'.join(root.parts[-2:])})"
    except (KeyError, TypeError, ValueError):
        pass
    step = meta.get("global_step")
    if step is not None and step.isdigit():
        info["global_step"] = int(step)
        info["trained"] = int(step) > 0
        info["description"] = (
            f"{path.name}: trained {int(step)} steps" + (f" on {data}" if data else "")
            if int(step) > 0
            else f"{path.name}: saved before any training step (untrained)"
        )
    else:
        info["trained"] = None
        info["description"] = f"{path.name} (training state not recorded)"
    return info


def analyze_image(
    predictor,
    image: Any,
    *,
    box: Sequence[float] | None = None,
    cropped: bool = False,
    source: str | None = None,
    seed: int = 0,
    provenance: dict[str, Any] | None = None,
) -> ImageAnalysis:
    """Analyse one image with a :class:`~eanet.inference.predictor.Predictor` whose ``model`` is an EANet.

    The image is read and cropped exactly as ``predictor.predict`` does (``prepare`` + ``forward_crops``); the
    extract-stage FuseFormer is captured during that forward pass.

    Args:
        predictor: the predictor (its ``model`` must be a PyTorch EANet with an EABlock).
        image: path, ``(H, W, 3)`` uint8 RGB array or PIL image.
        box: xywh box around both hands (None: ``cropped`` or the detector).
        cropped: the image is already cropped to the hands.
        source: label (default: the path).
        seed: t-SNE seed.
        provenance: description of the weights (shown on figures, stored in the JSON).
    """
    fuseformer, hands = extract_fuseformer(predictor.model)
    prepared = predictor.prepare(image, box, cropped=cropped, source=source)
    with capture_fuseformer(fuseformer) as capture:
        predictor.forward_crops(prepared.crop_pixels[None])  # (1, H, W, 3)
    return analyze_capture(capture, 0, hands=hands, source=prepared.source, seed=seed, crop=prepared.crop_pixels,
                           model=provenance)  # fmt: skip


def write_image_analysis(analysis: ImageAnalysis, out_dir: str | Path, *, heads: bool = True) -> dict[str, str]:
    """Numbers and figures of one image into ``out_dir``; returns name -> path."""
    out_dir = Path(out_dir)
    files = save_numbers(analysis, out_dir)
    files["panel"] = save_figure(panel_figure(analysis), out_dir / "panel.png")
    files["tsne"] = save_figure(tsne_figure(analysis), out_dir / "tsne.png")
    if analysis.attention is not None:
        files["attention"] = save_figure(attention_figure(analysis), out_dir / "attention.png")
        if heads:
            files["attention_heads"] = save_figure(attention_heads_figure(analysis), out_dir / "attention_heads.png")
    return files


def _headline(analysis: ImageAnalysis) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if analysis.attention is not None:
        out["attention_share_mean"] = analysis.share_table()["mean"]
    for ts in analysis.token_sets:
        out.update({f"{ts.name}.{k}": v for k, v in ts.scores.items()})
    return out


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "image"


def analyze_images(
    predictor,
    images: Sequence[str | Path],
    out_dir: str | Path,
    *,
    box: Sequence[float] | None = None,
    cropped: bool = False,
    seed: int = 0,
    provenance: dict[str, Any] | None = None,
    heads: bool = True,
    skipped: Sequence[tuple[str, str]] = (),
) -> list[ImageReport]:
    """Analyse several images; a failing image is reported and the others still run.

    Writes ``out_dir/<image stem>/`` per image (see the module docstring) and ``out_dir/summary.json``.

    Args:
        skipped: ``(source, reason)`` of inputs that were refused before (listed as failed in the summary).

    Raises:
        InvalidInputError: the predictor's model has no extract-stage FuseFormer (before anything is written).
    """
    extract_fuseformer(predictor.model)  # refuse unsuitable models once, not per image
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    provenance = dict(provenance or {})
    if provenance.get("trained") is False:
        logger.warning("%s", UNTRAINED_WARNING)
    reports: list[ImageReport] = []
    used: set[str] = set()
    t0 = time.perf_counter()
    for image in images:
        source = str(image)
        base = _slug(Path(source).stem)
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}_{n}"
        used.add(name)
        try:
            analysis = analyze_image(predictor, image, box=box, cropped=cropped, source=source, seed=seed,
                                     provenance=provenance)  # fmt: skip
            files = write_image_analysis(analysis, out_dir / name, heads=heads)
        except UserError as err:
            logger.error("%s", err)
            reports.append(ImageReport(source, error=str(err)))
            continue
        report = ImageReport(source, str(out_dir / name), files, _headline(analysis))
        logger.info("%s -> %s (%s)", source, report.out_dir, _describe(report.numbers))
        reports.append(report)
    reports += [ImageReport(source, error=reason) for source, reason in skipped]
    summary = {
        "model": provenance,
        "seed": seed,
        "seconds": round(time.perf_counter() - t0, 2),
        "images": [r.__dict__ for r in reports],
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=_plain) + "\n")
    return reports


def _describe(numbers: dict[str, Any]) -> str:
    parts = []
    share = numbers.get("attention_share_mean")
    if share:
        parts.append("attention " + ", ".join(f"{k} {v:.2f}" for k, v in share.items()))
    parts += [f"{k.split('.')[-1]} {v:.2f}" for k, v in numbers.items() if isinstance(v, float)]
    return "; ".join(parts)


def _plain(value: Any) -> Any:
    if isinstance(value, (np.generic,)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
