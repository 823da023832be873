"""``eanet configs``: list the named configurations, or print one fully resolved."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("configs", help="list named configurations or print one resolved")
    parser.add_argument("name", nargs="?", help="configuration name or YAML path to print resolved")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides to apply before printing")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from eanet.config import dump_config, list_named_configs, load_config

    if args.name is None:
        sys.stdout.write("\n".join(list_named_configs()) + "\n")
        return 0
    sys.stdout.write(dump_config(load_config(args.name, args.overrides)))
    return 0
