"""One module per ``eanet`` command; each exposes ``register(subparsers)`` (see ``eanet.cli``)."""
