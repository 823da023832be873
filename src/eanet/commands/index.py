"""``eanet index``: build or check the memory-mapped annotation index of an InterHand2.6M release.

Datasets build their index on first use; this command does it ahead of a run (e.g. before launching many
processes) and checks an existing one (missing or truncated arrays, CRC32 of every array, source files whose size or
content changed since the build, whatever their modification time says).
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("index", help="build or check the InterHand2.6M annotation index")
    actions = parser.add_subparsers(dest="index_action", metavar="<action>", required=True)
    for name, text in (("build", "build (or rebuild) the index of one or all splits"),
                       ("check", "verify an index against its arrays and source files")):  # fmt: skip
        p = actions.add_parser(name, help=text, description=text)
        p.add_argument("--root", required=True, help="InterHand2.6M release folder (holds annotations/ and images/)")
        p.add_argument("--split", default="all", choices=["train", "val", "test", "all"],
                       help="split to index (default: every split whose annotations exist)")  # fmt: skip
        p.add_argument("--index-dir", help="index directory (one split only; default: next to the annotations)")
        p.add_argument("--cache-dir", help="parent directory for indexes (data.index_cache_dir)")
        if name == "build":
            p.add_argument("--force", action="store_true", help="rebuild even when the index is up to date")
        else:
            p.add_argument("--quick", action="store_true",
                           help="skip the CRC32 pass over the arrays and compare sampled digests of the source files "
                                "instead of whole-content ones")  # fmt: skip
        p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging
    import sys
    from pathlib import Path

    from eanet.cli import CommandError
    from eanet.data.index import _read_header, _stale_sources, check_index, default_index_dir, open_index
    from eanet.data.release import SPLITS, release_paths

    log = logging.getLogger("eanet.index")
    splits = list(SPLITS) if args.split == "all" else [args.split]
    found = [s for s in splits if release_paths(args.root, s, require=False).data.is_file()]
    if args.split != "all":
        release_paths(args.root, args.split)  # raises a clear error naming the missing files
    if not found:
        raise CommandError(f"no InterHand2.6M annotations under {args.root}/annotations/{{train,val,test}}/")
    if args.index_dir and len(found) > 1:
        raise CommandError("--index-dir names one index: give --split too")
    status = 0
    for split in found:
        paths = release_paths(args.root, split)
        directory = Path(args.index_dir) if args.index_dir else default_index_dir(paths, args.cache_dir)
        if args.index_action == "build":
            index = open_index(paths, directory, rebuild="always" if args.force else "auto")
            h = index.header
            sys.stdout.write(
                f"{split}: {h['counts']['annotations']:,} annotations, {h['counts']['joints']:,} time steps -> "
                f"{directory} (built in {h['build_seconds']} s, peak {h['build_peak_rss_mb']:.0f} MB)\n"
            )
        else:
            problems = check_index(directory, full=not args.quick)
            if not problems:
                stale = _stale_sources(_read_header(directory), paths, full=not args.quick)
                problems += [f"source file changed since the build: {what}" for what in stale]
            if problems:
                status = 1
                sys.stdout.write(f"{split}: {directory}: PROBLEMS\n" + "".join(f"  - {p}\n" for p in problems))
                log.warning("rebuild with: eanet index build --root %s --split %s --force", args.root, split)
            else:
                sys.stdout.write(f"{split}: {directory}: ok\n")
    return status
