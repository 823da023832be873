"""Official checkpoints: the key table, strict and safe loading, the convert command, and numerical equivalence
with an independent functional statement of the official forward pass (``official_reference.py``)."""

import os

import pytest
import torch
from model_helpers import hand_data_tensors, tiny_config
from official_reference import reference_forward
from test_eanet import _perturb_

from eanet.cli import main
from eanet.config import recorded_config
from eanet.errors import CheckpointMismatchError, UnsafeFileError
from eanet.model import build_model
from eanet.model.checkpoint import read_checkpoint, read_training_data
from eanet.model.official import (
    convert_official_state_dict,
    expected_state_shapes,
    official_key_map,
    official_to_ours_key,
    ours_to_official_key,
    read_official_checkpoint,
    to_official_state_dict,
)
from eanet.model.provenance import official_training_data

# ----------------------------------------------------------------------------------------------------------------
# the key table


def test_key_table_is_a_bijection_onto_the_official_state_dict(official_keys):
    expected = {k: shape for k, shape, _ in official_keys if not k.startswith("mano_layer")}
    mapping = official_key_map()
    assert set(mapping) == set(expected)
    assert len(set(mapping.values())) == len(mapping) == 792
    ours = expected_state_shapes()
    assert set(ours) == set(mapping.values())
    for official, our_key in mapping.items():
        assert tuple(ours[our_key]) == expected[official], official
        assert official_to_ours_key(official) == our_key
        assert ours_to_official_key(our_key) == official


@pytest.mark.parametrize(
    "key",
    [
        "hand_position_net.EABlock.Extract.CA_T.blocks.0.norm4.weight",
        "hand_position_net.EABlock.Extract.CA_T.pos_embed3",
        "hand_rotation_net.something.weight",
        "mano_layer_right.v_template",
    ],
)
def test_keys_outside_the_table_are_refused(key):
    with pytest.raises(KeyError):
        official_to_ours_key(key)


# ----------------------------------------------------------------------------------------------------------------
# a fake official checkpoint with the listed keys, shapes and dtypes (random values)


def _fake_official_network(official_keys, with_mano=False) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    out = {}
    for key, shape, dtype in official_keys:
        if key.startswith("mano_layer") and not with_mano:
            continue
        if dtype == "int64":
            out[key] = torch.randint(0, 1000, shape, generator=g, dtype=torch.int64)
        else:
            out[key] = torch.randn(shape, generator=g)
    return out


@pytest.fixture(scope="module")
def official_rows():
    from model_helpers import OFFICIAL_KEYS_TSV

    rows = []
    for line in OFFICIAL_KEYS_TSV.read_text().splitlines():
        key, shape, _, dtype, _ = line.split("\t")
        rows.append((key, () if shape == "scalar" else tuple(int(s) for s in shape.split("x")), dtype))
    return rows


@pytest.fixture(scope="module")
def fake_network(official_rows):
    """Random values of the listed shapes and dtypes for every official key, ``mano_layer*`` included."""
    return _fake_official_network(official_rows, with_mano=True)


@pytest.fixture(scope="module")
def fake_official(fake_network, tmp_path_factory):
    """An official release file: ``{'epoch', 'network' (module.-prefixed, no mano_layer*), 'optimizer'}``."""
    network = {k: v for k, v in fake_network.items() if not k.startswith("mano_layer")}
    optimizer = {"state": {0: {"step": torch.tensor(3.0)}}, "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999)}]}
    path = tmp_path_factory.mktemp("official") / "snapshot_29.pth.tar"
    torch.save({"epoch": 29, "network": {"module." + k: v for k, v in network.items()}, "optimizer": optimizer}, path)
    return path, network


def test_convert_command_round_trip_is_exact(fake_official, tmp_path):
    path, network = fake_official
    ours_path, back_path = tmp_path / "eanet.safetensors", tmp_path / "snapshot_back.pth.tar"
    assert main(["convert-official", str(path), "--out", str(ours_path)]) == 0
    state, run_config, metadata = read_checkpoint(ours_path)
    cfg = recorded_config(run_config, ours_path)
    assert cfg.hand_model.kind == "mano" and cfg.hand_model.mano_dir is None
    assert metadata["official_epoch"] == "29" and metadata["source"] == "official:snapshot_29.pth.tar"
    release = read_training_data(ours_path)  # the release: InterHand2.6M, real photos
    assert (release.dataset, release.synthetic, release.origin) == ("interhand26m", False, "official EANet release")
    mapping = official_key_map()
    assert set(state) == set(mapping.values())
    for official, ours in mapping.items():
        assert torch.equal(state[ours], network[official]), official

    assert main(["convert-official", str(ours_path), "--out", str(back_path), "--to-official"]) == 0
    back = torch.load(back_path, map_location="cpu", weights_only=True)
    assert back["epoch"] == 29
    assert official_training_data(back, str(back_path)) == release  # the record travels with the weights
    assert set(back["network"]) == {"module." + k for k in network}
    for key, value in network.items():
        assert torch.equal(back["network"]["module." + key], value), key
    # refuses to overwrite without --force
    assert main(["convert-official", str(path), "--out", str(ours_path)]) == 2


def test_bare_state_dict_with_mano_entries_loads(fake_network):
    converted = convert_official_state_dict(fake_network)  # mano_layer* entries are skipped, never loaded
    assert len(converted) == 792 and not [k for k in converted if "mano" in k]


def test_missing_unexpected_and_mis_shaped_keys_are_listed(fake_official):
    _, network = fake_official
    missing = dict(network)
    del missing["hand_rotation_net.rcam_out.0.bias"]
    with pytest.raises(CheckpointMismatchError, match=r"missing official keys 1: hand_rotation_net\.rcam_out\.0\.bias"):
        convert_official_state_dict(missing)
    extra = {**network, "hand_rotation_net.extra_head.weight": torch.zeros(1)}
    with pytest.raises(CheckpointMismatchError, match=r"unexpected official keys 1: hand_rotation_net\.extra_head\.weight"):
        convert_official_state_dict(extra)
    wrong = {**network, "hand_rotation_net.rcam_out.0.bias": torch.zeros(4)}
    with pytest.raises(CheckpointMismatchError, match=r"wrong shapes 1: hand_rotation_net\.rcam_out\.0\.bias \(4,\)"):
        convert_official_state_dict(wrong)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_runs_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth.tar"
    torch.save({"epoch": 1, "network": {"w": torch.zeros(1)}, "optimizer": _Exploit(marker)}, path)
    with pytest.raises(UnsafeFileError, match="weights_only"):
        read_official_checkpoint(path)
    assert not marker.exists()
    assert main(["convert-official", str(path), "--out", str(tmp_path / "out.safetensors")]) == 2
    assert not marker.exists()


# ----------------------------------------------------------------------------------------------------------------
# numerical equivalence with the official forward pass


@pytest.fixture
def tiny_official(hand_layers):
    torch.manual_seed(0)
    cfg = tiny_config(sa_depth=2, ca_depth=2, sjt_depth=2)
    model = _perturb_(build_model(cfg, hand_models=hand_layers)).eval()
    return model, cfg, to_official_state_dict(model.state_dict(), prefix="")


def _compare(pred, ref, tag=""):
    for c, hand in (("r", pred.right), ("l", pred.left)):
        pairs = {
            "joint_img": (hand.joints_hm, 1e-4), "mano_root_pose": (hand.root_pose_aa, 1e-4),
            "mano_hand_pose": (hand.hand_pose_aa, 1e-4), "mano_shape": (hand.betas, 1e-4), "cam": (hand.cam, 1e-4),
            "mano_joint": (hand.joints_proj_hm, 1e-4), "mano_joint_cam": (hand.joints_cam, 1e-5),
            "mano_mesh_cam": (hand.verts_cam, 1e-5), "mano_root_cam": (hand.root_model, 1e-5),
        }  # fmt: skip
        for key, (ours, tol) in pairs.items():
            diff = (ref[c + key] - ours).abs().max().item()
            assert diff <= tol, f"{tag} {c}{key}: {diff:.2e}"
    assert (ref["rel_trans"] - pred.rel_trans).abs().max().item() <= 1e-4


@pytest.mark.parametrize("batch", [1, 2, 4])
def test_outputs_equal_the_official_forward(tiny_official, hand_data_pair, batch):
    model, cfg, official_sd = tiny_official
    hands = {d.side: hand_data_tensors(d) for d in hand_data_pair}
    img = torch.rand(batch, 3, 64, 64, generator=torch.Generator().manual_seed(batch))
    ref = reference_forward(official_sd, img, hands, cfg.heatmap_depth, cfg.num_heads, cfg.sjt_num_heads)
    with torch.no_grad():
        _compare(model(img), ref, f"B={batch}")


def test_batch_of_three_computes_what_the_official_code_computes_at_other_sizes(tiny_official, hand_data_pair):
    """Official ``torch.cross`` without ``dim`` (transforms.py:72) crosses along the batch at B == 3; ours does not."""
    model, cfg, official_sd = tiny_official
    hands = {d.side: hand_data_tensors(d) for d in hand_data_pair}
    img = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    args = (official_sd, img, hands, cfg.heatmap_depth, cfg.num_heads, cfg.sjt_num_heads)
    with torch.no_grad():
        pred = model(img)
    _compare(pred, reference_forward(*args, official_cross_bug=False), "B=3")
    buggy = reference_forward(*args, official_cross_bug=True)
    assert (buggy["rmano_root_pose"] - pred.right.root_pose_aa).abs().max() > 1e-2
    # the finger poses (15 B rotations) are unaffected by the bug
    assert (buggy["rmano_hand_pose"] - pred.right.hand_pose_aa).abs().max() <= 1e-4


@pytest.mark.mano_assets
@pytest.mark.slow
def test_load_official_reproduces_the_official_model_with_mano(mano_dir, tmp_path):
    """The full official architecture at 256x256 with the real MANO files, through load_official."""
    from eanet.hand_model import load_mano_data
    from eanet.model import load_official
    from eanet.model.config import ModelConfig

    torch.manual_seed(0)
    source = _perturb_(build_model(ModelConfig(), hand_models=(torch.nn.Identity(), torch.nn.Identity())), seed=1)
    official_sd = to_official_state_dict(source.state_dict(), prefix="")
    del source
    path = tmp_path / "snapshot_0.pth.tar"
    torch.save({"epoch": 0, "network": {"module." + k: v for k, v in official_sd.items()}, "optimizer": None}, path)
    model = load_official(path, mano_dir=mano_dir)
    assert not model.training
    hands = {side: hand_data_tensors(load_mano_data(side, mano_dir)) for side in ("right", "left")}
    img = torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pred = model(img)
    _compare(pred, reference_forward(official_sd, img, hands, 8, 4, 4), "full")
