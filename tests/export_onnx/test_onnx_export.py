"""ONNX export: one file with a dynamic batch axis, parity with PyTorch in ONNX Runtime, the recorded metadata,
hand-model checks, and the Predictor running on the ONNX file."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
import torch
from onnx_helpers import perturb_

from eanet.errors import CheckpointMismatchError, InvalidInputError, MissingFileError

TOLERANCE_M = 1e-4


def test_hand_fields_are_the_prediction_fields():
    from eanet.export_onnx.names import HAND_FIELDS, OUTPUT_NAMES
    from eanet.structures import HandPrediction

    assert HAND_FIELDS == tuple(f.name for f in dataclasses.fields(HandPrediction))
    assert len(OUTPUT_NAMES) == 2 * len(HAND_FIELDS) + 1 and OUTPUT_NAMES[-1] == "rel_trans"


def test_cli_check_prints_differences_within_tolerance(exported):
    assert exported.exit_code == 0, exported.stdout
    match = re.search(r"vertices ([0-9.e+-]+) m, joints ([0-9.e+-]+) m", exported.stdout)
    assert match, exported.stdout
    assert float(match.group(1)) <= TOLERANCE_M and float(match.group(2)) <= TOLERANCE_M
    assert "batch sizes [1, 3]" in exported.stdout
    assert "right_verts_cam" in exported.stdout and "NON-FINITE" not in exported.stdout
    assert re.search(r"CPU latency at batch 1, 1 thread\(s\), median of 2: PyTorch \d+ ms", exported.stdout)


def test_one_self_contained_file_with_dynamic_batch(exported):
    import onnx

    from eanet.export_onnx.names import OUTPUT_NAMES

    assert [p.name for p in exported.onnx.parent.iterdir() if p.name.startswith("tiny.onnx")] == ["tiny.onnx"]
    model = onnx.load(str(exported.onnx), load_external_data=False)
    assert not any(
        init.data_location == onnx.TensorProto.EXTERNAL for init in model.graph.initializer
    ), "weights must be inside the file"
    assert [i.name for i in model.graph.input] == ["image"]
    assert [o.name for o in model.graph.output] == list(OUTPUT_NAMES)
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, 64, 64]
    for out in model.graph.output:
        assert out.type.tensor_type.shape.dim[0].dim_param == "batch", out.name


def test_metadata_records_config_hand_model_and_checkpoint(exported):
    from eanet.config import config_from_dict
    from eanet.export_onnx import read_onnx_metadata
    from eanet.fileio import file_sha256
    from eanet.model.checkpoint import hand_model_fingerprint

    meta = read_onnx_metadata(exported.onnx)
    assert meta["format"] == "eanet-onnx"
    assert config_from_dict(json.loads(meta["config"])) == exported.cfg
    assert meta["hand_model_kind"] == "open" and meta["contains_mano_data"] == "false"
    hm = exported.model.hand_models
    assert meta["hand_model_fingerprint"] == hand_model_fingerprint(hm["right"], hm["left"])
    assert meta["checkpoint_sha256"] == file_sha256(exported.checkpoint)
    assert meta["checkpoint_file"] == "tiny.safetensors"
    assert int(meta["opset"]) >= 18
    assert json.loads(meta["training_data"])["synthetic"] is True  # the checkpoint's record, carried on


@pytest.fixture(scope="module")
def onnx_model(exported):
    from eanet.export_onnx import OnnxModel

    return OnnxModel(exported.onnx, num_threads=1)


def test_parity_at_several_batch_sizes_through_one_file(exported, onnx_model):
    from eanet.export_onnx import compare_with_torch

    g = torch.Generator().manual_seed(1)
    images = [torch.rand(b, 3, 64, 64, generator=g) for b in (1, 2, 5)]
    images.append(torch.zeros(1, 3, 64, 64))  # a black image
    report = compare_with_torch(exported.model, onnx_model, images=images)
    assert report.batch_sizes == (1, 2, 5, 1)
    assert report.non_finite == []
    assert report.max_vertex_diff_m <= TOLERANCE_M and report.max_joint_diff_m <= TOLERANCE_M
    assert report.passed(TOLERANCE_M)
    # Everything else agrees as closely (rotations, heatmap joints, camera, rel_trans).
    for name, diff in report.max_abs_diff.items():
        assert diff <= 1e-3, (name, diff)


def test_zero_rotation_stays_finite(exported, onnx_model):
    out = onnx_model.run_arrays(torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(2)).numpy())
    assert np.array_equal(out["right_root_pose_aa"], np.zeros((2, 3), np.float32)), "fixture must give zero rotation"
    assert np.isfinite(out["right_verts_cam"]).all() and np.isfinite(out["right_joints_cam"]).all()
    np.testing.assert_allclose(out["right_pose_rotmat"][:, 0], np.broadcast_to(np.eye(3), (2, 3, 3)), atol=1e-6)


def test_onnx_model_is_called_like_the_model(exported, onnx_model):
    from eanet.structures import TwoHandPrediction

    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = exported.model(x)
    got = onnx_model(x)
    assert isinstance(got, TwoHandPrediction)
    assert onnx_model.input_size == (64, 64) and onnx_model.feature_grid == (2, 2)
    for side, hand in ref.hands():
        other = getattr(got, side)
        for f in dataclasses.fields(hand):
            assert getattr(other, f.name).shape == getattr(hand, f.name).shape, f.name
        torch.testing.assert_close(other.verts_cam, hand.verts_cam, atol=TOLERANCE_M, rtol=0)
    with pytest.raises(InvalidInputError, match=r"\(B, 3, 64, 64\)"):
        onnx_model(torch.rand(1, 3, 32, 32))


def _test_image(size: int = 96) -> np.ndarray:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size]
    image = np.stack([x * 255 / size, y * 255 / size, np.full_like(x, 128)], axis=-1)
    return np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)  # (H, W, 3)


def test_predictor_runs_on_the_onnx_file(exported):
    from eanet.export_onnx import OnnxModel
    from eanet.inference.onnx_predictor import predictor_from_onnx
    from eanet.inference.predictor import Predictor

    image = _test_image()
    onnx_predictor = predictor_from_onnx(exported.onnx, num_threads=1)
    assert isinstance(onnx_predictor.model, OnnxModel)
    torch_predictor = Predictor(
        exported.model,
        (exported.model.hand_models["right"], exported.model.hand_models["left"]),
        config=exported.cfg.inference,
        device="cpu",
    )
    got = onnx_predictor.predict(image, cropped=True)
    ref = torch_predictor.predict(image, cropped=True)
    assert got.model["backend"] == "onnxruntime"
    assert got.warnings[0].code == "synthetic_training_data" and got.model["training_data"]["global_step"] == 5
    for side in ("right", "left"):
        a, b = getattr(got, side), getattr(ref, side)
        np.testing.assert_array_equal(a.faces, b.faces)
        # Camera-frame vertices: the network's wrist-relative ones plus a placement solved from its projections.
        np.testing.assert_allclose(a.verts_cam - a.root_cam, b.verts_cam - b.root_cam, atol=TOLERANCE_M)
        np.testing.assert_allclose(a.joints_2d, b.joints_2d, atol=0.05)


def test_a_different_hand_model_is_refused(exported, make_random_hand_data):
    from eanet.hand_model import HandModelLayer
    from eanet.hand_model.config import HandModelConfig
    from eanet.inference.onnx_predictor import predictor_from_onnx

    other = (HandModelLayer(make_random_hand_data("right")), HandModelLayer(make_random_hand_data("left")))
    with pytest.raises(CheckpointMismatchError, match="exported with a different hand model: the 'open' hand model"):
        predictor_from_onnx(exported.onnx, hand_models=other)
    with pytest.raises(CheckpointMismatchError, match="kind: exported with 'open', given 'mano'"):
        predictor_from_onnx(exported.onnx, hand_model_cfg=HandModelConfig(kind="mano"))
    with pytest.raises(CheckpointMismatchError, match="not MANO"):
        predictor_from_onnx(exported.onnx, mano_dir=exported.onnx.parent)


def test_export_refuses_a_checkpoint_that_does_not_match_the_hand_model(exported, tmp_path, capsys):
    from eanet.cli import main

    # The tiny checkpoint was trained with the open hand; asking for MANO must fail before any tracing.
    code = main(["export", "--checkpoint", str(exported.checkpoint), "--out", str(tmp_path / "x.onnx"),
                 "--mano-dir", str(tmp_path)])  # fmt: skip
    assert code == 2
    assert "trained with the 'open' hand model, not MANO" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_cli_refuses_existing_output_and_bad_names(exported, tmp_path, capsys):
    from eanet.cli import main

    assert main(["export", "--checkpoint", str(exported.checkpoint), "--out", str(exported.onnx)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(exported.checkpoint), "--out", str(tmp_path / "m.bin")]) == 2
    assert "should end in .onnx" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(tmp_path / "missing.safetensors"), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_files_that_are_not_eanet_exports_are_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from eanet.export_onnx import OnnxModel

    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["y"])],
        "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
    )
    plain = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(plain))
    with pytest.raises(InvalidInputError, match="not an eanet export"):
        OnnxModel(plain)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a protobuf at all" * 10)
    with pytest.raises(InvalidInputError, match="not a readable ONNX file"):
        OnnxModel(garbage)
    with pytest.raises(MissingFileError):
        OnnxModel(tmp_path / "absent.onnx")


@pytest.mark.slow
def test_full_architecture_parity_and_latency(tmp_path):
    """The paper's architecture (ResNet-50, width 512, 256x256) at batch 1 and 2; prints export time and CPU
    latency of ONNX Runtime vs PyTorch (numbers for docs/onnx.md, no timing assertion)."""
    import time

    from eanet.config import Config, config_to_dict
    from eanet.export_onnx import OnnxModel, compare_with_torch, export_onnx
    from eanet.export_onnx.export import benchmark_latency
    from eanet.hand_model import build_hand_models
    from eanet.hand_model.config import HandModelConfig
    from eanet.model import build_model

    torch.manual_seed(0)
    cfg = Config(hand_model=HandModelConfig(kind="open"))
    model = perturb_(build_model(cfg.model, hand_models=build_hand_models(cfg.hand_model))).eval()
    path = tmp_path / "eanet.onnx"
    t0 = time.perf_counter()
    export_onnx(model, cfg.model, cfg.hand_model, config_to_dict(cfg), path)
    export_s = time.perf_counter() - t0
    onnx_model = OnnxModel(path)
    report = compare_with_torch(model, onnx_model, (1, 2))
    assert report.passed(TOLERANCE_M), "\n".join(report.lines())

    latency = benchmark_latency(model, path, repeats=5)
    print(
        f"\nfull eanet: export {export_s:.0f} s, file {path.stat().st_size / 1e6:.0f} MB, vertices "
        f"{report.max_vertex_diff_m:.2e} m, joints {report.max_joint_diff_m:.2e} m; {latency.line()}"
    )


def test_web_demo_runs_on_the_onnx_file(exported):
    """``eanet serve --onnx``: the demo's runner works unchanged on an ONNX-backed predictor."""
    import io

    from PIL import Image

    from eanet.inference.onnx_predictor import predictor_from_onnx
    from eanet.web.app import DemoRunner, DemoSettings

    buffer = io.BytesIO()
    Image.fromarray(_test_image()).save(buffer, format="PNG")
    runner = DemoRunner(predictor_from_onnx(exported.onnx, num_threads=1), DemoSettings(detection=False))
    try:
        result = runner.process(buffer.getvalue(), "cropped")
        assert result.ok, result.message
        assert json.loads(result.json_path.read_text())["model"]["backend"] == "onnxruntime"
        assert result.glb_path.read_bytes()[:4] == b"glTF"
    finally:
        runner.close()


def test_metadata_flags_mano_data(make_random_hand_data):
    """A graph built with MANO layers carries MANO's arrays as constants: the metadata says so (licence)."""
    from onnx_helpers import TINY

    from eanet.config import Config, config_to_dict
    from eanet.export_onnx.export import _metadata
    from eanet.hand_model import HandModelLayer
    from eanet.hand_model.config import HandModelConfig
    from eanet.model import build_model
    from eanet.model.config import ModelConfig

    layers = [HandModelLayer(dataclasses.replace(make_random_hand_data(s), is_mano=True)) for s in ("right", "left")]
    cfg = Config(model=ModelConfig(**TINY), hand_model=HandModelConfig(kind="mano"))
    model = build_model(cfg.model, hand_models=tuple(layers))
    meta = _metadata(model, cfg.hand_model, config_to_dict(cfg), "abc", "x.safetensors", 20)
    assert meta["contains_mano_data"] == "true" and meta["hand_model_kind"] == "mano"
    assert json.loads(meta["config"])["hand_model"]["kind"] == "mano"
