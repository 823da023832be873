"""Agreement of every CPU fast path with the exact fp32 reference, on a model trained on synthetic data.

Issue 7 item 3: same inputs and weights; weights from a short real training (not a random initialisation, whose
near-zero regressors make the 6D-to-rotation conversion amplify rounding); fp32 paths within 1e-4 m, bf16 paths
mean joint <= 0.5 mm and max vertex <= 2 mm. ONNX Runtime int8 is a separate path: its agreement is measured and
only sanity-checked. CUDA-only paths (CUDA graphs, TF32) are checked here for their guards; their agreement on a
GPU is part of ``eanet bench``'s output.

The fixture writes a tiny synthetic set (``eanet synth``: 8 training and 8 test images) and trains the tiny network
of ``eanet bench --quick`` for 30 Adam steps with the project's losses: about half a minute of CPU.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from eanet.bench.agreement import BOUNDS_MM, compare_predictions
from eanet.speed import PRESETS, SpeedConfig, agreement_class, preset

TRAIN_STEPS = 30


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """``(model, cfg, images (8, 3, 64, 64), reference prediction, loss before, loss after)``."""
    from eanet.bench.workload import (
        QUICK_OVERRIDES,
        agreement_images,
        load_batches,
        load_bench_model,
        synthetic_root,
        train_briefly,
    )
    from eanet.config import load_config
    from eanet.losses import compute_losses, total_loss

    torch.set_num_threads(1)
    root = synthetic_root(tmp_path_factory.mktemp("speed"), num_frames=2, cameras=2, size=(96, 128))
    cfg = load_config("eanet", list(QUICK_OVERRIDES))
    model, cfg, _ = load_bench_model(cfg, None, seed=0)
    hands = (model.hand_models["right"], model.hand_models["left"])
    batches = load_batches(cfg, root, "train", 4, 4, hands)
    with torch.no_grad():
        before = float(total_loss(compute_losses(model.train()(batches[0]["img"]), batches[0])))
    train_briefly(model, batches, TRAIN_STEPS, torch.device("cpu"))
    with torch.no_grad():
        after = float(total_loss(compute_losses(model.train()(batches[0]["img"]), batches[0])))
    model.eval()
    images = agreement_images(cfg, root, 8)
    with torch.inference_mode():
        reference = model(images)
    return model, cfg, images, reference, before, after


def test_the_model_was_trained_not_random(trained):
    model, _, _, reference, before, after = trained
    assert after < before  # the short training did learn something on the synthetic data
    assert not model.training
    for hand in (reference.right, reference.left):
        assert torch.isfinite(hand.verts_cam).all()
        assert hand.hand_pose_6d.abs().mean() > 0.05  # regressors away from the near-zero initialisation


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# fp32 paths (1e-4 m) and bf16 paths (0.5 mm mean joint, 2 mm max vertex) available on the CPU.
TORCH_PATHS = [
    SpeedConfig(),
    SpeedConfig(fold_batchnorm=True),
    SpeedConfig(channels_last=True),
    SpeedConfig(fold_batchnorm=True, channels_last=True),
    SpeedConfig(precision="bf16-autocast"),
    SpeedConfig(precision="bf16-autocast", channels_last=True),
    SpeedConfig(precision="bf16", channels_last=True, fold_batchnorm=True),
]


@pytest.mark.parametrize("speed", TORCH_PATHS, ids=[s.label() for s in TORCH_PATHS])
def test_torch_cpu_paths_agree_with_the_fp32_reference(trained, speed):
    from eanet.inference.fast import apply_speed_options

    model, _, images, reference, _, _ = trained
    before = _state(model)
    fast = apply_speed_options(model, speed, device="cpu")
    pred = fast(images)
    klass = agreement_class(speed)
    agreement = compare_predictions(reference, pred, klass)
    assert agreement.passed, f"{speed.label()}: {agreement.short()}"
    for name in ("joints_cam", "verts_cam", "joints_hm", "pose_rotmat", "betas", "cam"):
        assert getattr(pred.right, name).dtype == torch.float32, name  # outputs are fp32 whatever the precision
    # The model itself is never modified by a fast path.
    after = _state(model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    if speed == SpeedConfig():
        # The reference path is the model itself: bit-identical outputs.
        assert torch.equal(pred.right.verts_cam, reference.right.verts_cam)
        assert torch.equal(pred.left.joints_cam, reference.left.joints_cam)


def _perturbed(model, seed: int = 0):
    """A copy with every weight moved by a realistic amount (a harder case than 30 training steps)."""
    import copy

    g = torch.Generator().manual_seed(seed)
    model = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in model.named_parameters():
            std = 0.5 / p[0].numel() ** 0.5 if p.dim() > 1 and "pos_embed" not in name else 0.1
            p.add_(torch.randn(p.shape, generator=g) * std)
        for name, b in model.named_buffers():  # BatchNorm statistics that keep activations at unit scale
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
    return model.eval()


@pytest.mark.parametrize("speed", [s for s in TORCH_PATHS if agreement_class(s) == "reduced"],
                         ids=[s.label() for s in TORCH_PATHS if agreement_class(s) == "reduced"])  # fmt: skip
def test_bf16_paths_also_agree_on_strongly_perturbed_weights(trained, speed):
    """The trained tiny network's outputs vary little between images; larger weights stress the bf16 rounding more."""
    from eanet.inference.fast import apply_speed_options

    _, _, images, _, _, _ = trained
    model = _perturbed(trained[0])
    with torch.inference_mode():
        reference = model(images)
    agreement = compare_predictions(reference, apply_speed_options(model, speed)(images), "reduced")
    assert agreement.mean_joint_mm > 0.0  # bf16 does round
    assert agreement.passed, f"{speed.label()}: {agreement.short()}"


def test_bounds_are_the_issues():
    assert BOUNDS_MM["fp32"] == {"max_joint_mm": 0.1, "max_vertex_mm": 0.1, "max_rel_trans_mm": 0.1}
    assert BOUNDS_MM["reduced"] == {"mean_joint_mm": 0.5, "max_vertex_mm": 2.0}
    assert agreement_class(SpeedConfig(precision="bf16")) == "reduced"
    assert agreement_class(SpeedConfig(precision="tf32")) == "reduced"
    assert agreement_class(SpeedConfig(fold_batchnorm=True, compile="default")) == "fp32"
    assert agreement_class(preset("cpu-int8")) == "int8"


def test_a_broken_path_fails_the_agreement_check(trained):
    _, _, _, reference, _, _ = trained
    shifted = reference.to(torch.float32)
    shifted.right.verts_cam = shifted.right.verts_cam + torch.tensor([0.0, 0.0, 3e-3])  # 3 mm
    assert compare_predictions(reference, shifted, "reduced").passed is False
    nan = reference.to(torch.float32)
    nan.left.joints_cam = nan.left.joints_cam * float("nan")
    assert compare_predictions(reference, nan, "int8").mean_joint_mm == float("inf")


@pytest.fixture(scope="session")
def onnx_files(trained, tmp_path_factory):
    """The trained model exported once by the ONNX Runtime path itself (BatchNorm folded first, with the project's
    exporter) and an int8 copy of that file."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from eanet.inference.fast import apply_speed_options, quantize_onnx_int8

    model, cfg, _, _, _, _ = trained
    folder = tmp_path_factory.mktemp("speed_onnx")
    fast = apply_speed_options(model, SpeedConfig(backend="onnxruntime", num_threads=1), config=cfg, work_dir=folder)
    fp32 = fast.onnx_model.path
    assert fp32.parent == folder and fp32.is_file()
    return fp32, quantize_onnx_int8(fp32, folder / "model.int8.onnx")


def test_onnxruntime_fp32_agrees_with_the_fp32_reference(trained, onnx_files):
    from eanet.inference.fast import apply_speed_options

    model, cfg, images, reference, _, _ = trained
    fast = apply_speed_options(model, SpeedConfig(backend="onnxruntime", onnx_path=str(onnx_files[0]), num_threads=1),
                               config=cfg)  # fmt: skip
    assert tuple(fast.input_size) == tuple(model.input_size)
    agreement = compare_predictions(reference, fast(images), "fp32")
    assert agreement.passed, agreement.short()


def test_onnxruntime_int8_is_a_separate_measured_path(trained, onnx_files):
    from eanet.export_onnx.runtime import read_onnx_metadata
    from eanet.inference.fast import apply_speed_options

    model, cfg, images, reference, _, _ = trained
    fp32, int8 = onnx_files
    assert "quantization" in read_onnx_metadata(int8) and "quantization" not in read_onnx_metadata(fp32)
    fast = apply_speed_options(model, SpeedConfig(backend="onnxruntime", precision="int8-dynamic",
                                                  onnx_path=str(int8), num_threads=1), config=cfg)  # fmt: skip
    agreement = compare_predictions(reference, fast(images), agreement_class(fast.speed))
    assert agreement.klass == "int8" and agreement.passed is None  # reported, not judged
    # Sanity only (a broken quantisation gives centimetres): int8 rounding of the transformers stays sub-centimetre.
    assert agreement.mean_joint_mm < 10.0 and agreement.max_vertex_mm < 50.0, agreement.short()
    # The quantised file is refused as an fp32 path (its numbers are not fp32's).
    from eanet.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="quantised"):
        apply_speed_options(model, SpeedConfig(backend="onnxruntime", onnx_path=str(int8)), config=cfg)


def test_padding_and_chunking_of_fixed_batch_shapes(trained, monkeypatch):
    """Compiled/graph paths run fixed batch sizes: odd batches are padded, larger ones split, results unchanged.

    ``torch.compile`` is replaced by the identity here (compiling on a CPU takes minutes); the padding logic is the
    same one CUDA graphs use.
    """
    from eanet.inference import fast as fast_module

    calls = []

    def fake_compile(fn, **kwargs):
        def run(img):
            calls.append(img.shape[0])
            return fn(img)

        return run

    monkeypatch.setattr(fast_module.torch, "compile", fake_compile)
    model, _, images, reference, _, _ = trained
    fast = fast_module.apply_speed_options(model, SpeedConfig(compile="default", graph_batch_sizes=(2, 4)))
    pred = fast(images[:7])  # 7 = 4 + 3 (padded to 4)
    assert calls == [4, 4]
    assert pred.right.verts_cam.shape[0] == 7 and pred.rel_trans.shape == (7, 3)
    assert compare_predictions(_take(reference, 7), pred, "fp32").passed
    calls.clear()
    pred = fast(images[:1])
    assert calls == [2] and pred.left.joints_cam.shape[0] == 1


def _take(pred, n):
    from eanet.structures import tensor_fields_map

    return tensor_fields_map(pred, lambda t: t[:n])


def test_cuda_only_paths_are_refused_on_the_cpu(trained):
    from eanet.errors import UserError
    from eanet.inference.fast import apply_speed_options

    model = trained[0]
    for speed in (SpeedConfig(cuda_graphs=True), SpeedConfig(precision="tf32"), preset("gpu-throughput")):
        assert speed.needs_cuda
        with pytest.raises(UserError, match="CUDA"):
            apply_speed_options(model, speed, device="cpu")


def test_fold_batchnorm_removes_every_batchnorm_and_keeps_the_function(trained):
    import copy

    from eanet.inference.fast import fold_batchnorm

    model, _, images, reference, _, _ = trained
    folded = fold_batchnorm(copy.deepcopy(model))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) > 0
    with torch.inference_mode():
        assert compare_predictions(reference, folded(images), "fp32").passed
    from eanet.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="eval"):
        fold_batchnorm(copy.deepcopy(model).train())


def test_speed_config_rejects_meaningless_combinations():
    bad = [
        dict(backend="onnxruntime", precision="bf16"),
        dict(backend="onnxruntime", compile="default"),
        dict(backend="onnxruntime", channels_last=True),
        dict(precision="int8-dynamic"),
        dict(cuda_graphs=True, compile="reduce-overhead"),
        dict(graph_batch_sizes=(8, 1)),
        dict(graph_batch_sizes=()),
        dict(num_threads=0),
    ]
    for kwargs in bad:
        with pytest.raises(ValueError):
            SpeedConfig(**kwargs)
    assert set(PRESETS) >= {"reference", "cpu", "cpu-int8", "gpu-throughput", "gpu-latency"}
    assert preset("reference") == SpeedConfig()
    with pytest.raises(ValueError, match="known"):
        preset("warp-speed")
    assert dataclasses.replace(SpeedConfig(), precision="bf16").label() == "torch bf16"


@pytest.mark.slow
def test_compiled_forward_is_one_graph_and_agrees(trained):
    """``torch.compile`` traces the whole forward (network, rotation conversions, hand model) as one graph with no
    break, in fp32 and bf16, and agrees with the reference. Inductor on a CPU: minutes of compilation."""
    import torch._dynamo as dynamo

    from eanet.inference.fast import apply_speed_options

    model, _, images, reference, _, _ = trained
    for speed in (SpeedConfig(compile="default", fold_batchnorm=True, graph_batch_sizes=(8,)),
                  SpeedConfig(compile="default", precision="bf16", channels_last=True, fold_batchnorm=True,
                              graph_batch_sizes=(8,))):  # fmt: skip
        fast = apply_speed_options(model, speed)
        explained = dynamo.explain(fast._compute)(images)
        assert explained.graph_count == 1 and explained.graph_break_count == 0, explained.break_reasons
        agreement = compare_predictions(reference, fast(images), agreement_class(speed))
        assert agreement.passed, f"{speed.label()}: {agreement.short()}"


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

GPU_PATHS = [
    SpeedConfig(precision="tf32"),
    SpeedConfig(precision="bf16-autocast"),
    SpeedConfig(precision="bf16", channels_last=True, fold_batchnorm=True),
    SpeedConfig(cuda_graphs=True, graph_batch_sizes=(4, 8)),
    SpeedConfig(precision="bf16-autocast", cuda_graphs=True, graph_batch_sizes=(4, 8)),
    preset("gpu-eager").replace(graph_batch_sizes=(4, 8)),
    preset("gpu-throughput").replace(compile="default", graph_batch_sizes=(4, 8)),
]


@pytest.mark.gpu
@requires_cuda
def test_cuda_fp32_reference_matches_the_cpu_reference(trained):
    from eanet.inference.fast import apply_speed_options

    model, _, images, reference, _, _ = trained
    pred = apply_speed_options(model, SpeedConfig(), device="cuda")(images)  # TF32 off: exact fp32
    assert compare_predictions(reference, pred.to("cpu"), "fp32").passed


@pytest.mark.gpu
@requires_cuda
@pytest.mark.parametrize("speed", GPU_PATHS, ids=[s.label() for s in GPU_PATHS])
def test_cuda_paths_agree_with_the_fp32_reference(trained, speed):
    """On a GPU: agreement at a captured size (8), a padded one (3) and across calls (graph outputs are copies)."""
    from eanet.inference.fast import apply_speed_options

    model, _, images, _, _, _ = trained
    reference = apply_speed_options(model, SpeedConfig(), device="cuda")(images).to("cpu")
    fast = apply_speed_options(model, speed, device="cuda")
    klass = agreement_class(speed)
    full = fast(images).to("cpu")
    assert compare_predictions(reference, full, klass).passed, compare_predictions(reference, full, klass).short()
    first = fast(images[:3])
    second = fast(images[3:6])  # replays the same graph: `first` must not change
    assert compare_predictions(_take(reference, 3), first.to("cpu"), klass).passed
    assert compare_predictions(_take_rows(reference, 3, 6), second.to("cpu"), klass).passed
    assert first.right.verts_cam.device.type == "cuda" and first.right.verts_cam.dtype == torch.float32


def _take_rows(pred, start, stop):
    from eanet.structures import tensor_fields_map

    return tensor_fields_map(pred, lambda t: t[start:stop])


def test_tf32_switch_sets_and_restores_the_flags_the_kernels_read():
    """The fp32 reference turns TF32 off for cuBLAS and cuDNN during a call, TF32 paths on; both restore after.
    (Flags only: this runs without a GPU.)"""
    from eanet.inference.fast import fp32_matmul_precision

    cuda = torch.device("cuda", 0)
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    with fp32_matmul_precision(cuda, tf32=False):
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (False, False)
    with fp32_matmul_precision(cuda, tf32=True):
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (True, True)
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
    with fp32_matmul_precision(torch.device("cpu"), tf32=True):
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before


def test_an_empty_batch_is_refused(trained):
    from eanet.errors import InvalidInputError
    from eanet.inference.fast import apply_speed_options

    with pytest.raises(InvalidInputError, match="non-empty"):
        apply_speed_options(trained[0], SpeedConfig(fold_batchnorm=True))(torch.zeros(0, 3, 64, 64))


def test_predictor_runs_the_configured_fast_path(trained, tmp_path):
    """``inference.speed`` (e.g. ``eanet predict ... inference.speed.fold_batchnorm=true``) reaches the Predictor."""
    import dataclasses

    import numpy as np

    from eanet.config import load_config
    from eanet.inference.fast import SpeedModel
    from eanet.inference.predictor import Predictor
    from eanet.run_checkpoint import save_checkpoint

    model, cfg, images, _, _, _ = trained
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(model, cfg, path)
    inference = load_config(None, ["inference.speed.fold_batchnorm=true", "inference.speed.precision=bf16"]).inference
    assert inference.speed == SpeedConfig(fold_batchnorm=True, precision="bf16")
    crop = (images[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # (H, W, 3) uint8
    results = {}
    for name, config in (("reference", dataclasses.replace(inference, speed=SpeedConfig())), ("fast", inference)):
        predictor = Predictor.from_checkpoint(path, config=config, device="cpu")
        assert isinstance(predictor.model, SpeedModel) == (name == "fast")
        results[name] = predictor.predict(crop, cropped=True)
    assert results["fast"].model["speed"] == "torch bf16 fold-bn"
    diff = np.linalg.norm(results["fast"].right.verts_cam - results["reference"].right.verts_cam, axis=-1)
    assert diff.max() < 2e-3  # metres: the bf16 bound, through the whole predictor (placement included)
