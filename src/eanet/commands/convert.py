"""``eanet convert-official``: an official EANet checkpoint to our safetensors format, and back.

    eanet convert-official snapshot_29.pth.tar --out eanet_official.safetensors [--mano-dir DIR]
    eanet convert-official eanet_official.safetensors --out snapshot_29.pth.tar --to-official
"""

from __future__ import annotations

import argparse

from eanet.cli import add_renamed_option


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "convert-official",
        help="convert an official EANet checkpoint (.pth.tar) to our safetensors format, or back",
        description=(
            "Convert the official release's snapshot_*.pth.tar ({'epoch', 'network', 'optimizer'}, or a bare state "
            "dict) to an eanet .safetensors checkpoint that holds the weights and the model configuration. The file "
            "is read with torch.load(weights_only=True): a file that needs more than tensors is refused. Every "
            "official weight must be consumed and every weight of ours filled. With --to-official, convert one of "
            "our checkpoints of the official architecture back (optimizer state is not written)."
        ),
    )
    parser.add_argument("input", help="official .pth.tar (or, with --to-official, our .safetensors)")
    parser.add_argument("--out", required=True,
                        help="our .safetensors (or, with --to-official, an official .pth.tar)")  # fmt: skip
    add_renamed_option(parser, "a second positional argument (the output file)", "--out",
                       example="eanet convert-official snapshot_29.pth.tar --out model.safetensors")  # fmt: skip
    parser.add_argument(
        "--hand-model",
        choices=("mano", "open"),
        default="mano",
        help="hand model the converted checkpoint is recorded with (default: mano, which the official weights were "
        "trained with)",
    )
    parser.add_argument(
        "--mano-dir",
        help="directory with MANO_RIGHT.pkl and MANO_LEFT.pkl; used only to record the hand model's fingerprint "
        "(default: $EANET_MANO_DIR; without MANO files no fingerprint is recorded)",
    )
    parser.add_argument("--to-official", action="store_true", help="convert our checkpoint to the official format")
    parser.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging
    import os
    from pathlib import Path

    from eanet.cli import CommandError

    logger = logging.getLogger("eanet.commands.convert")
    src, dst = Path(args.input), Path(args.out)
    if dst.exists() and not args.force:
        raise CommandError(f"{dst} exists; pass --force to overwrite it")
    if args.to_official:
        from eanet.config import recorded_config
        from eanet.model import model_kwargs
        from eanet.model.checkpoint import read_checkpoint
        from eanet.model.official import official_model_config, write_official_checkpoint

        state, run_config, metadata = read_checkpoint(src)
        cfg = recorded_config(run_config, src)
        ignore = {"backbone_weights"}
        ours = {k: v for k, v in model_kwargs(cfg.model).items() if k not in ignore}
        official = {k: v for k, v in model_kwargs(official_model_config()).items() if k not in ignore}
        if ours != official:
            changed = ", ".join(f"{k}={ours[k]!r}" for k in ours if ours[k] != official[k])
            raise CommandError(
                f"{src} is not the official architecture ({changed}); only the default 'eanet' configuration can be "
                "written in the official format"
            )
        epoch = metadata.get("official_epoch")
        write_official_checkpoint(state, dst, epoch=int(epoch) if epoch not in (None, "", "None") else None,
                                  training_data=metadata.get("training_data"))  # fmt: skip
        logger.info("wrote official checkpoint %s (%d weights)", dst, len(state))
        return 0

    from eanet.config import Config, config_to_dict
    from eanet.hand_model.config import HandModelConfig
    from eanet.model.checkpoint import hand_model_fingerprint, save_state
    from eanet.model.official import convert_official_state_dict, official_model_config, read_official_checkpoint
    from eanet.model.provenance import official_training_data

    if dst.suffix != ".safetensors":
        raise CommandError(f"the output {dst} should end in .safetensors (or pass --to-official to write a .pth.tar)")
    official_state, meta = read_official_checkpoint(src)
    training_data = official_training_data(meta, str(src))  # the release: InterHand2.6M; our own exports: recorded
    state = convert_official_state_dict(official_state)

    # The configuration records the hand-model kind, never a machine-specific path.
    hand_cfg = HandModelConfig(kind=args.hand_model)
    cfg = Config(model=official_model_config(), hand_model=hand_cfg)
    fingerprint = ""
    mano_dir = args.mano_dir or os.environ.get("EANET_MANO_DIR")
    if args.hand_model == "open" or mano_dir:
        from eanet.hand_model import build_hand_models

        right, left = build_hand_models(HandModelConfig(kind=args.hand_model, mano_dir=mano_dir))
        fingerprint = hand_model_fingerprint(right, left)
    else:
        logger.warning(
            "no MANO directory given (--mano-dir or $EANET_MANO_DIR): the checkpoint records hand model 'mano' "
            "without a fingerprint"
        )
    if args.hand_model == "open":
        logger.warning("the official weights were trained with MANO; with the open hand model the meshes will differ")
    save_state(
        state,
        hand_cfg,
        config_to_dict(cfg),
        dst,
        hand_model_fingerprint=fingerprint,
        extra_metadata={"source": f"official:{src.name}", "official_epoch": str(meta["epoch"])},
        training_data=training_data,
    )
    logger.info("wrote %s (%d weights, official epoch %s)", dst, len(state), meta["epoch"])
    return 0
