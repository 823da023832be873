"""``python -m eanet`` (and ``torchrun -m eanet train ...``) runs the command-line interface."""

from eanet.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
