"""One module per ``eanet`` command; each exposes ``register(subparsers)`` (see ``eanet.cli``).

The command modules import eanet's library inside their ``run`` functions, not at module top: ``eanet --help`` and
every command's argument parsing import all of them, and must not wait for torch, OpenCV or Gradio (about 2-3 s on
the 2-core CI machine) before printing a usage line or an argument error.
"""
