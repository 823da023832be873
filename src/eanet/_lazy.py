"""Lazy re-exports for package ``__init__`` modules.

Subpackages re-export their public names but must stay cheap to import (``eanet --help`` and the command modules
import them before knowing whether torch, OpenCV or Gradio are needed), so names resolve on first attribute access.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, table: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package`` that import ``table[name]`` on first use.

    Args:
        package: the package's ``__name__`` (for the error message).
        table: public name -> module that defines it.

    Use: ``__getattr__, __dir__ = lazy_exports(__name__, {"Predictor": "eanet.inference.predictor"})``.
    """

    def __getattr__(name: str) -> Any:
        if name in table:
            return getattr(importlib.import_module(table[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        module = importlib.import_module(package)
        return sorted(set(vars(module)) | set(table))

    return __getattr__, __dir__
