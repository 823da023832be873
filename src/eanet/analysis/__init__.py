"""The paper's analyses (Figures 2 and 8): attention maps of the extract-stage cross-attention and t-SNEs of the
input tokens (F_R, F_L vs SimToken, JoinToken) for chosen images. See ``docs/analysis.md``.

    >>> from eanet.analysis import capture_fuseformer, extract_fuseformer
    >>> module, hands = extract_fuseformer(model)            # hands == ("right", "left")  # doctest: +SKIP
    >>> with capture_fuseformer(module) as cap:              # doctest: +SKIP
    ...     model(img)
    >>> cap.attention_weights().shape                        # (blocks, B, heads, 64, 129)  # doctest: +SKIP

Command line: ``eanet analyze --checkpoint model.safetensors --images photo.png --cropped --out analysis/``.
Importing this package is light; torch, scikit-learn and matplotlib load with the functions that need them.
"""

from __future__ import annotations

from eanet.analysis.capture import (
    EXTRACT_INPUT_HANDS,
    FuseFormerCapture,
    capture_fuseformer,
    cross_attention_output,
    cross_attention_weights,
    extract_fuseformer,
)
from eanet.analysis.report import ImageAnalysis, analyze_capture
from eanet.analysis.runner import analyze_image, analyze_images

__all__ = [
    "EXTRACT_INPUT_HANDS",
    "FuseFormerCapture",
    "capture_fuseformer",
    "extract_fuseformer",
    "cross_attention_weights",
    "cross_attention_output",
    "ImageAnalysis",
    "analyze_capture",
    "analyze_image",
    "analyze_images",
]

