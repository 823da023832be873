"""Rendering first and importing torchvision / triton second, in one process, must not crash (render/gl.py).

Mesa's llvmpipe puts its libLLVM in the global symbol scope; triton's own LLVM loaded after it segfaulted. Each case
runs in a fresh interpreter, since a crash would take the test process down and the order of first imports matters.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

NO_EGL_EXIT = 3  # the child's exit status when the pyrender backend cannot start here

_RENDER_THEN_IMPORT = textwrap.dedent(
    """
    import sys

    import numpy as np

    from eanet.render import Camera, Mesh, Renderer
    from eanet.render.gl import RenderBackendUnavailable

    renderer = Renderer(backend="pyrender")
    verts = np.array([[-0.3, -0.3, 2.0], [0.3, -0.3, 2.0], [0.3, 0.3, 2.0], [-0.3, 0.3, 2.0]], np.float32)
    try:
        result = renderer.render(Mesh(verts, np.array([[0, 2, 1], [0, 3, 2]])), Camera((60, 60), (31.5, 31.5), 64, 64))
    except RenderBackendUnavailable as err:
        print(err)
        sys.exit({no_egl})
    assert result.mask.sum() > 100, result.mask.sum()
    {import_line}
    # The context still works after the import.
    again = renderer.render(Mesh(verts, np.array([[0, 2, 1], [0, 3, 2]])), Camera((60, 60), (31.5, 31.5), 64, 64))
    assert (again.mask == result.mask).all()
    renderer.close()
    print("ok")
    """
)


@pytest.mark.parametrize(
    "import_line",
    [
        "import torchvision.models; torchvision.models.resnet18(weights=None)",
        "import triton",
    ],
    ids=["torchvision-models", "triton"],
)
def test_render_then_import_llvm_users_does_not_crash(import_line):
    if import_line.startswith("import triton") and importlib.util.find_spec("triton") is None:
        pytest.skip("triton is not installed")
    code = _RENDER_THEN_IMPORT.format(no_egl=NO_EGL_EXIT, import_line=import_line)
    env = {**os.environ, "PYOPENGL_PLATFORM": "egl"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    if proc.returncode == NO_EGL_EXIT:
        if os.environ.get("EANET_REQUIRE_EGL") == "1":
            pytest.fail(f"EANET_REQUIRE_EGL=1 but the pyrender backend cannot start: {proc.stdout}")
        pytest.skip(f"pyrender/EGL unavailable: {proc.stdout.strip()}")
    # A segfault shows as returncode -11 (killed by SIGSEGV).
    assert proc.returncode == 0, f"exit status {proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    assert proc.stdout.strip().endswith("ok")

