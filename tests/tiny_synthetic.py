"""Overrides that shrink the ``small-synthetic`` configuration so that ``eanet train`` on the ``tiny_synth_root``
fixture (tests/conftest.py) takes well under a second per step on a CPU."""

FAST_TRAIN_OVERRIDES = [
    "model.input_size=[64,64]",
    "data.num_workers=0",
    "train.batch_size=4",
    "train.progress_bar=false",
]
