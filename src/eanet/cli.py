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
import re
import sys
from collections.abc import Sequence

import eanet.commands as commands
from eanet.errors import InvalidInputError, UserError
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


#: A configuration override on the command line: a dotted key (``model.width``, ``output_dir``), ``=``, a value.
_OVERRIDE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*=")


def is_override(text: str) -> bool:
    """Whether a command-line argument is a ``KEY=VALUE`` configuration override (``inference.fov_deg=60``).

    Commands that take file arguments next to overrides (``eanet predict``) tell them apart with this: a path
    whose name looks like ``KEY=VALUE`` is written ``./name`` to be taken as a file.
    """
    return bool(_OVERRIDE.match(text))


def split_overrides(items: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(others, overrides)``: ``items`` without and with the ``KEY=VALUE`` overrides, each in order."""
    return [i for i in items if not is_override(i)], [i for i in items if is_override(i)]


class RenamedOptionError(UserError):
    """An option (or positional argument) of an earlier release that has a new spelling."""


class _RenamedOption(argparse.Action):
    def __init__(self, option_strings, dest, *, message: str, **kwargs) -> None:
        self.message = message
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if not self.option_strings and values in (None, []):
            return  # a hidden positional that was not given
        raise RenamedOptionError(f"{parser.prog}: {self.message}")


def add_renamed_option(parser: argparse.ArgumentParser, old: str, new: str, *, example: str | None = None) -> None:
    """Register ``old`` (an option such as ``--output-dir``, or a positional's name) as a hidden argument that stops
    with ``old was renamed new`` (and ``example``), instead of working under two names or failing with argparse's
    "unrecognized arguments". Raised while the command line is parsed, before any work starts (exit code 2)."""
    message = f"{old} was renamed: use {new}" + (f"; e.g. {example}" if example else "")
    if old.startswith("-"):
        parser.add_argument(old, nargs="*", action=_RenamedOption, message=message, help=argparse.SUPPRESS,
                            dest=f"_renamed_{old.lstrip('-').replace('-', '_')}")  # fmt: skip
    else:
        parser.add_argument("_renamed_" + re.sub(r"\W+", "_", old), nargs="?", action=_RenamedOption, message=message,
                            help=argparse.SUPPRESS)  # fmt: skip


#: What ``--device`` accepts, shared by every command that has it.
DEVICE_HELP = "auto (CUDA if available), cpu, cuda, cuda:N"


def image_size(text: str) -> tuple[int, int]:
    """``--image-size WIDTHxHEIGHT`` (``334x512``) as ``(width, height)``."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels such as 334x512, got {text!r}") from err
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT with positive sizes, got {text!r}")
    return width, height


def box_argument(text: str) -> tuple[float, float, float, float]:
    """argparse ``type`` of a ``--bbox X,Y,W,H`` option (:func:`eanet.inference.inputs.parse_box`)."""
    # Imported on use: the CLI starts without numpy and OpenCV for commands that take no box.
    from eanet.inference.inputs import parse_box

    try:
        return parse_box(text)
    except InvalidInputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def config_from_args(args: argparse.Namespace):
    """Load the configuration named by ``--config`` with the command's overrides applied."""
    # Imported on use: the configuration system (YAML and every section) takes ~80 ms, most of `eanet --help`'s time.
    from eanet.config import load_config

    return load_config(args.config, args.overrides)


def _command_modules() -> list[str]:
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
    try:
        args, extra = parser.parse_known_args(argv)
    except UserError as err:  # an option of an earlier release (add_renamed_option)
        setup_logging()
        logger.error("%s", err)
        return 2
    # argparse reads a positional list once: KEY=VALUE overrides written after further options (`eanet predict
    # photo.jpg --out o inference.fov_deg=60`) come back unparsed; they join the command's overrides, in order.
    trailing = getattr(args, "trailing_overrides_dest", "overrides")
    if extra and all(is_override(e) for e in extra) and isinstance(getattr(args, trailing, None), list):
        setattr(args, trailing, [*getattr(args, trailing), *extra])
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
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
    except UserError as err:  # errors we raise on purpose carry a message meant for the user
        logger.error("%s", err)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
