"""The ``eanet`` command line: ``eanet <command> [options]``.

Each command lives in its own module under ``eanet.commands`` and exposes ``register(subparsers)``, which adds its
parser and sets ``func`` to a function ``(args) -> int``. Command modules import only light modules at import time,
so ``eanet --help`` stays fast; the work is imported inside ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence

from eanet.version import __version__

logger = logging.getLogger("eanet")


class _CurrentStderrHandler(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is when a record is emitted.

    ``main()`` can run several times in one process (tests, notebooks, the web demo's worker); a handler bound to the
    stderr object of the first call would write to a stream that may since have been replaced and closed.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # the base class assigns it; the property always reads sys.stderr
        pass


class CommandError(RuntimeError):
    """A user-facing failure: printed as one clear message (no traceback) and exit code 2."""


def setup_logging(verbosity: int = 0, rank: int | None = None) -> None:
    """Configure the root ``eanet`` logger once: INFO on rank 0 (or a single process), WARNING elsewhere."""
    if rank is None:
        rank = int(os.environ.get("RANK", "0"))
    level = logging.DEBUG if verbosity > 0 else logging.INFO
    if rank != 0:
        level = logging.WARNING
    handler = _CurrentStderrHandler()
    prefix = f"[rank {rank}] " if "RANK" in os.environ else ""
    handler.setFormatter(logging.Formatter(f"%(asctime)s {prefix}%(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger("eanet")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def add_config_arguments(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """Add ``--config NAME_OR_PATH`` and trailing ``section.key=value`` overrides to a command's parser."""
    parser.add_argument(
        "--config",
        "-c",
        default=default,
        help="named configuration (see `eanet configs`) or a YAML file" + (f" (default: {default})" if default else ""),
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="configuration overrides, e.g. train.lr=2e-4 model.width=256"
    )


def box_argument(text: str) -> tuple[float, float, float, float]:
    """argparse ``type`` of a ``--bbox X,Y,W,H`` option (:func:`eanet.inference.inputs.parse_box`)."""
    # Imported on use: the CLI starts without numpy for commands that take no box.
    from eanet.errors import InvalidInputError
    from eanet.inference.inputs import parse_box

    try:
        return parse_box(text)
    except InvalidInputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def config_from_args(args: argparse.Namespace):
    """Load the configuration named by ``--config`` with the command's overrides applied."""
    from eanet.config import load_config

    return load_config(args.config, args.overrides)


def _command_modules() -> list[str]:
    import eanet.commands as commands

    return sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eanet",
        description="EANet: 3D meshes of two interacting hands from one RGB image.",
        epilog="Run `eanet <command> --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"eanet {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name in _command_modules():
        module = importlib.import_module(f"eanet.commands.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except CommandError as err:
        logger.error("%s", err)
        return 2
    except KeyboardInterrupt:
        logger.error("interrupted")
        return 130
    except Exception as err:  # errors we raise on purpose carry a message meant for the user
        from eanet.errors import UserError

        if isinstance(err, UserError):
            logger.error("%s", err)
            return 2
        raise


if __name__ == "__main__":
    raise SystemExit(main())
