"""The local web demo (``eanet serve``): upload a photo, see the meshes over it and in a 3D viewer, download the
JSON and GLB. Needs the ``web`` extra (Gradio). See ``docs/web.md``.

    >>> from eanet.inference import Predictor
    >>> from eanet.web import build_app, launch_app
    >>> app = build_app(Predictor.from_checkpoint("model.safetensors"))   # doctest: +SKIP
    >>> launch_app(app, "127.0.0.1", 7860)                                 # doctest: +SKIP

Importing this package is light; Gradio loads with :mod:`eanet.web.app` (which turns Gradio's analytics off first).
"""

from __future__ import annotations

from eanet.web.app import DemoRunner, DemoSettings, build_app, launch_app
from eanet.web.uploads import UploadLimits, decode_upload

__all__ = ["build_app", "launch_app", "DemoSettings", "DemoRunner", "UploadLimits", "decode_upload"]

