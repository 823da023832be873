"""Constants shared by the analysis tests (importable as ``analysis_helpers``: pytest puts this directory on
sys.path)."""

#: Tiny model: ResNet-18 trunk, 96x64 input (3x2 token grid: non-square, so row/column mix-ups show), width 16,
#: 2 heads, 2 cross-attention blocks.
TINY = dict(
    backbone="resnet18", input_size=(96, 64), width=16, num_heads=2, sa_depth=1, ca_depth=2, sjt_depth=1,
    sjt_num_heads=2, heatmap_depth=4,
)  # fmt: skip
#: The same as configuration overrides for `eanet analyze --config eanet ... KEY=VALUE`.
TINY_OVERRIDES = [
    "model.backbone=resnet18", "model.input_size=[96,64]", "model.width=16", "model.num_heads=2", "model.sa_depth=1",
    "model.ca_depth=2", "model.sjt_depth=1", "model.sjt_num_heads=2", "model.heatmap_depth=4",
]  # fmt: skip
