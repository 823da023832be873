"""eanet: EANet (Park, Jung, Moon, Lee; ICCVW 2023) for 3D interacting two-hand mesh recovery from one RGB image.

Importing the package is cheap; the heavy parts (torch models, data, rendering) live in subpackages.
"""

from eanet.version import __version__

__all__ = ["__version__"]
