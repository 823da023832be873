"""``eanet mano``: check the user's MANO files (load both hands without chumpy, apply the left-hand fix, checksum
them, fill the cache) or clear the cache of converted arrays."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "mano",
        help="check your MANO model files or clear their cache",
        description=(
            "MANO is licensed and not shipped with eanet. Download it from https://mano.is.tue.mpg.de "
            '("Models & Code"), then run `eanet mano check --mano-dir path/to/mano_v1_2/models`.'
        ),
    )
    actions = parser.add_subparsers(dest="mano_action", metavar="<action>", required=True)
    check = actions.add_parser(
        "check",
        help="load MANO_RIGHT.pkl and MANO_LEFT.pkl, report checksums and the left-hand fix, write the cache",
        description=(
            "Load both MANO files safely (no chumpy, no code from the files runs), validate every array, check that "
            "each file holds the hand its name says (SHA-256 against the MANO v1.2 release, and the handedness of "
            "its template: a swapped pair is an error), apply the left-hand shapedirs fix (smplx#48), run one "
            "forward pass per hand, print SHA-256 checksums, and write the converted arrays to the user cache."
        ),
    )
    check.add_argument(
        "--mano-dir",
        default=None,
        help="directory with MANO_RIGHT.pkl and MANO_LEFT.pkl (default: $EANET_MANO_DIR)",
    )
    check.add_argument("--no-cache", action="store_true", help="do not write the converted arrays to the cache")
    check.set_defaults(func=run)
    clear = actions.add_parser("clear-cache", help="delete the cached converted MANO arrays")
    clear.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.mano_action == "clear-cache":
        return _clear_cache()
    return _check(args.mano_dir, write_cache=not args.no_cache)


def _clear_cache() -> int:
    import sys

    from eanet.hand_model.mano import clear_mano_cache, mano_cache_dir

    removed = clear_mano_cache()
    sys.stdout.write(f"removed {len(removed)} cached MANO file(s) from {mano_cache_dir()}\n")
    return 0


def _check(mano_dir: str | None, *, write_cache: bool) -> int:
    import sys

    import torch

    from eanet.hand_model.layer import HandModelLayer
    from eanet.hand_model.mano import find_mano_files, load_mano_pair, mano_cache_dir

    files = find_mano_files(mano_dir, origin="--mano-dir" if mano_dir else None)
    right, left = load_mano_pair(files.directory, origin=files.origin, cache=write_cache, refresh_cache=True)
    lines = [f"MANO directory: {files.directory} (from {files.origin})"]
    for data in (right, left):
        release = "MANO v1.2 release file" if data.extras["mano_v1_2_release"] else "not the MANO v1.2 release file"
        lines.append(
            f"  {data.side:5s} {files.path(data.side).name}  sha256 {data.extras['sha256']} ({release})  "
            f"{data.num_verts} vertices, {data.faces.shape[0]} faces, {data.shapedirs.shape[2]} shape components"
        )
    lines.append(
        "  sides from the templates (thumb relative to the palm): "
        + ", ".join(f"{d.side} file {d.extras['side_chirality']:+.3f}" for d in (right, left))
        + " (positive: a right hand, negative: a left hand)"
    )
    fixed = left.extras["shapedirs_fix_applied"]
    lines.append(
        "  left-hand shapedirs fix (smplx#48): "
        + ("applied (the left file has the known sign bug)" if fixed else "not needed (already correct)")
    )
    for data in (right, left):  # one forward pass at the mean pose: the arrays must give a finite mesh
        layer = HandModelLayer(data, dtype=torch.float64)
        zeros = torch.zeros(1, 3, dtype=torch.float64)
        out = layer(zeros, torch.zeros(1, 45, dtype=torch.float64), torch.zeros(1, 10, dtype=torch.float64))
        if not torch.isfinite(out.verts).all():
            from eanet.errors import InvalidInputError

            raise InvalidInputError(f"{data.extras['source']} gives non-finite vertices; download it again")
        length_mm = float((out.joints[0, 12] - out.joints[0, 0]).norm()) * 1000  # wrist to middle fingertip
        lines.append(
            f"  {data.side:5s} forward pass OK (wrist to middle fingertip {length_mm:.1f} mm at the mean pose)"
        )
    lines.append(f"cache: {'wrote converted arrays to ' + str(mano_cache_dir()) if write_cache else 'not written'}")
    lines.append(
        f"OK: use these files with hand_model.kind=mano hand_model.mano_dir={files.directory} "
        f"(or EANET_MANO_DIR={files.directory})"
    )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
