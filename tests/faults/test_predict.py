"""Fault matrix, inference side: ``eanet predict`` under bad inputs, damaged videos, full disks and bad ``--out``.

Each test runs the command as a user does (``eanet.cli.main`` in-process, or a subprocess where the fault needs its
own mount namespace) and checks the exit code, a message that names the problem, what was written, and that no
file was lost. The cases and their expected behaviour are listed in ``docs/fault-matrix.md``.

The model is a randomly initialised tiny EANet (ResNet-18, 64x64 input) with the built-in open hand model: no MANO
files, no MediaPipe (every case passes ``--cropped`` or ``--bbox``), CPU only.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eanet.cli import main
from inference.inference_helpers import write_test_image, write_test_video  # tests/ is on sys.path (package)

#: The tiny test architecture (as tests/inference): ResNet-18 trunk, 64x64 input, width 32, one block per stage.
TINY_MODEL = dict(backbone="resnet18", input_size=[64, 64], width=32, num_heads=2, sa_depth=1, ca_depth=1,
                  sjt_depth=1, sjt_num_heads=2, heatmap_depth=4)  # fmt: skip
MESH_FILES = {"right.obj", "left.obj", "right.ply", "left.ply", "hands.glb"}


# ------------------------------------------------------------------------------------------------------------------
# fixtures and helpers


def _tiny_model():
    import torch

    from eanet.config import load_config
    from eanet.model import build_model

    cfg = load_config(None, [f"model.{k}={v}".replace(" ", "") for k, v in TINY_MODEL.items()])
    torch.manual_seed(0)
    return build_model(cfg.model, cfg.hand_model), cfg


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """``good``: a tiny random EANet checkpoint; ``nan``: the same with one weight tensor set to NaN."""
    import torch

    from eanet.run_checkpoint import save_checkpoint

    folder = tmp_path_factory.mktemp("fault_ckpt")
    model, cfg = _tiny_model()
    save_checkpoint(model, cfg, folder / "good.safetensors")
    with torch.no_grad():
        model.backbone.conv1.weight[0, 0, 0, 0] = float("nan")  # one corrupt value is enough to poison every output
    save_checkpoint(model, cfg, folder / "nan.safetensors")
    return {"good": folder / "good.safetensors", "nan": folder / "nan.safetensors"}


def write_image(path: Path, width: int, height: int, seed: int = 0) -> Path:
    """A smooth random RGB image (format from the suffix): the inference tests' image writer."""
    write_test_image(path, width, height, seed=seed)
    return path


@pytest.fixture
def photos(tmp_path) -> Path:
    """A folder with two good images, ``a.png`` (96x80) and ``b.jpg`` (120x90)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    write_image(folder / "a.png", 96, 80, seed=1)
    write_image(folder / "b.jpg", 120, 90, seed=2)
    return folder


def snapshot(*roots: Path) -> dict[str, str]:
    """Path -> SHA-256 of every regular file under ``roots`` (to show that no input was lost or changed)."""
    out = {}
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for p in files:
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_predict(checkpoint: Path, out: Path, *args: str, renders: bool = False) -> tuple[int, str, str, dict | None]:
    """``eanet predict ARGS --checkpoint CKPT --out OUT`` in-process: ``(exit code, stdout, stderr, summary.json)``."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    stdout, stderr = io.StringIO(), io.StringIO()
    argv = ["predict", *args, "--checkpoint", str(checkpoint), "--out", str(out), "--no-progress", "--device", "cpu",
            "--render-backend", "torch"] + ([] if renders else ["--no-render"])  # fmt: skip
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = main(argv)
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
    return code, stdout.getvalue(), stderr.getvalue(), summary


def by_name(summary: dict) -> dict[str, dict]:
    return {Path(entry["source"]).name: entry for entry in summary["inputs"]}


def assert_complete_image_outputs(folder: Path, num_verts: int) -> None:
    """``prediction.json`` lists the other files, and each of them is whole (meshes with every vertex)."""
    import trimesh

    data = json.loads((folder / "prediction.json").read_text())
    assert data["format"] == "eanet-prediction"
    for name in data["files"].values():
        path = folder / name
        assert path.is_file(), path
        if path.suffix in (".obj", ".ply"):
            mesh = trimesh.load(path, process=False)
            assert mesh.vertices.shape == (num_verts, 3) and np.isfinite(mesh.vertices).all()


def no_temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith((".tmp", ".partial.mp4"))]


@pytest.fixture(scope="module")
def num_verts() -> int:
    from eanet.hand_model import build_hand_models
    from eanet.hand_model.config import HandModelConfig

    right, _ = build_hand_models(HandModelConfig(kind="open"))
    return int(right.num_verts)


@pytest.fixture(scope="session")
def private_tmpfs() -> None:
    """Skip unless ``unshare -rm`` can mount a tmpfs here (Linux, util-linux, user namespaces allowed)."""
    if sys.platform != "linux" or shutil.which("unshare") is None:
        pytest.skip("needs `unshare` (util-linux) on Linux")
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=64k tmpfs "$0"', "/tmp"],
                           capture_output=True, timeout=30)  # fmt: skip
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in a private mount namespace: {probe.stderr.decode().strip()}")


def run_in_tmpfs(mount: Path, size: str, argv: list[str], copy_to: Path, read_only: bool = False):
    """Run ``python -m eanet ARGV`` with a fresh tmpfs of ``size`` mounted at ``mount`` in a private mount namespace,
    then copy what it left there to ``copy_to`` (the tmpfs vanishes with the namespace)."""
    import eanet

    mount.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    script = ('mount -t tmpfs -o "$1" tmpfs "$2" || exit 97\n'
              'shift 3\n"$@"\nrc=$?\ncp -a "$MNT/." "$COPY/" 2>/dev/null\nexit $rc\n')  # fmt: skip
    env = {**os.environ, "MNT": str(mount), "COPY": str(copy_to),
           "PYTHONPATH": os.pathsep.join([str(Path(eanet.__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    copy_to.mkdir(parents=True, exist_ok=True)
    cmd = ["unshare", "-rm", "sh", "-c", script, "sh", options, str(mount), "-", sys.executable, "-m", "eanet", *argv]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode != 97, proc.stderr
    return proc


# ------------------------------------------------------------------------------------------------------------------
# 1. every per-input failure is caught per input


def test_empty_image_alone_is_a_per_input_failure(checkpoints, tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    code, out, err, summary = run_predict(checkpoints["good"], tmp_path / "out", str(empty), "--cropped")
    assert code == 1
    assert "Traceback" not in err and "cv2.error" not in out + err
    assert "FAILED" in out and "empty (0 bytes)" in out
    assert summary["failed"] == 1 and "empty (0 bytes)" in summary["inputs"][0]["error"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["summary.json"]  # nothing else written
    assert empty.exists() and empty.stat().st_size == 0  # the input is left as it was


def test_empty_image_in_a_folder_does_not_stop_the_others(checkpoints, photos, tmp_path, num_verts):
    (photos / "empty.png").write_bytes(b"")
    before = snapshot(photos)
    code, out, err, summary = run_predict(checkpoints["good"], tmp_path / "out", str(photos), "--cropped")
    assert code == 1  # one input failed ...
    status = {name: entry["status"] for name, entry in by_name(summary).items()}
    assert status == {"a.png": "ok", "b.jpg": "ok", "empty.png": "failed"}  # ... the others were written
    assert "empty (0 bytes)" in by_name(summary)["empty.png"]["error"]
    assert "2 of 3 input(s) done, 1 failed" in out
    for name in ("a", "b"):
        assert_complete_image_outputs(tmp_path / "out" / name, num_verts)
    assert snapshot(photos) == before


def test_unexpected_errors_fail_only_their_input(checkpoints, photos, tmp_path, monkeypatch):
    """A bug-like error while reading one input, and a network pass that breaks on one input of a batch: each is
    reported for that input, and the other input is still written."""
    import eanet.inference.inputs as inputs  # load_image reads through this module's read_image
    from eanet.inference.predictor import Predictor

    read_image = inputs.read_image

    def read_breaks_on_b(path):
        if Path(path).name == "b.jpg":
            raise RuntimeError("decoder crashed")
        return read_image(path)

    monkeypatch.setattr(inputs, "read_image", read_breaks_on_b)
    code, out, _, summary = run_predict(checkpoints["good"], tmp_path / "out1", str(photos), "--cropped")
    assert code == 1 and by_name(summary)["a.png"]["status"] == "ok"
    assert "RuntimeError: decoder crashed" in by_name(summary)["b.jpg"]["error"]
    monkeypatch.setattr(inputs, "read_image", read_image)

    postprocess = Predictor.postprocess

    def postprocess_breaks_on_b(self, pred, prepared, intrinsics=None):
        if any(Path(p.source).name == "b.jpg" for p in prepared):
            raise IndexError("placement bug")
        return postprocess(self, pred, prepared, intrinsics)

    monkeypatch.setattr(Predictor, "postprocess", postprocess_breaks_on_b)
    code, out, _, summary = run_predict(checkpoints["good"], tmp_path / "out2", str(photos), "--cropped")
    assert code == 1
    assert by_name(summary)["a.png"]["status"] == "ok"  # the batch [a, b] was retried one input at a time
    assert "unexpected error IndexError: placement bug" in by_name(summary)["b.jpg"]["error"]
    assert (tmp_path / "out2" / "a" / "prediction.json").is_file() and not (tmp_path / "out2" / "b").exists()


# ------------------------------------------------------------------------------------------------------------------
# 4. a box entirely outside the image


@pytest.mark.parametrize("box", ["-500,-500,100,100", "5000,10,40,40", "10,80,40,40"])
def test_box_entirely_outside_the_image_is_an_error(checkpoints, photos, tmp_path, box):
    before = snapshot(photos)
    code, out, err, summary = run_predict(checkpoints["good"], tmp_path / "out", str(photos / "a.png"), f"--bbox={box}")
    assert code == 1
    entry = summary["inputs"][0]
    assert entry["status"] == "failed" and "lies entirely outside the 96x80 image" in entry["error"]
    assert "entirely outside" in out
    assert not (tmp_path / "out" / "a").exists()  # no prediction for a crop the user did not point at
    assert snapshot(photos) == before


def test_box_partly_outside_is_clipped_and_said(checkpoints, photos, tmp_path):
    code, out, _, summary = run_predict(checkpoints["good"], tmp_path / "out", str(photos / "a.png"),
                                        "--bbox=-50,-40,100,80")  # fmt: skip
    assert code == 0
    assert any("reaches outside the 96x80 image" in w for w in summary["inputs"][0]["warnings"])
    data = json.loads((tmp_path / "out" / "a" / "prediction.json").read_text())
    assert data["crop"]["hands_box_xywh"] == [0.0, 0.0, 50.0, 40.0]  # the part inside, not the box moved inside


# ------------------------------------------------------------------------------------------------------------------
# 5. a partly corrupt video


def write_damaged_video(path: Path, frames: int, damaged: tuple[int, ...], fps: float = 10.0) -> Path:
    """An MPEG-4 (mp4v) video whose frames ``damaged`` have their coded data zeroed (the decoder rejects them)."""
    write_test_video(path, frames=frames, fps=fps)
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 3) if data[i : i + 4] == b"\x00\x00\x01\xb6"]  # MPEG-4 VOP start codes
    assert len(starts) == frames
    moov = data.find(b"moov")
    ends = [*starts[1:], moov - 4 if moov > starts[-1] else len(data)]
    for k in damaged:
        data[starts[k] : ends[k]] = bytes(ends[k] - starts[k])
    path.write_bytes(bytes(data))
    return path


def test_damaged_video_frames_keep_their_source_index_and_are_reported(checkpoints, tmp_path):
    import cv2

    video = write_damaged_video(tmp_path / "clip.mp4", frames=7, damaged=(2, 3, 6))
    before = snapshot(video)
    code, out, err, summary = run_predict(checkpoints["good"], tmp_path / "out", str(video), "--cropped",
                                          renders=True)  # fmt: skip
    assert code == 0 and "Traceback" not in err
    entry = summary["inputs"][0]
    assert entry["frames"] == {"total": 7, "ok": 4, "tracked": 0, "failed": 0, "skipped": 3}
    assert any("could not be decoded and were skipped (frames 2-3, 6)" in w for w in entry["warnings"])
    assert "3 undecodable and skipped" in out
    folder = tmp_path / "out" / "clip"
    assert sorted(p.name for p in (folder / "frames").iterdir()) == [f"frame_{i:06d}.json" for i in (0, 1, 4, 5)]
    assert json.loads((folder / "frames" / "frame_000004.json").read_text())["frame_index"] == 4
    report = json.loads((folder / "video.json").read_text())
    assert report["skipped_frames"] == [2, 3, 6]
    assert [(f["frame"], f["status"]) for f in report["per_frame"]] == [
        (0, "ok"), (1, "ok"), (2, "skipped"), (3, "skipped"), (4, "ok"), (5, "ok"), (6, "skipped")]  # fmt: skip
    # The overlay keeps the timing: frames 2 and 3 are black stand-ins, frame 4 is source frame 4.
    cap = cv2.VideoCapture(str(folder / "overlay.mp4"))
    means = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        means.append(float(frame.mean()))
    cap.release()
    assert len(means) == 6 and means[2] < 5 and means[3] < 5 and min(means[:2] + means[4:]) > 50
    assert snapshot(video) == before and not no_temporaries(tmp_path / "out")


# ------------------------------------------------------------------------------------------------------------------
# 6. disk full while writing


def test_disk_full_is_reported_per_input_with_the_complete_files(checkpoints, photos, tmp_path, monkeypatch,
                                                                 num_verts):  # fmt: skip
    """The write of ``left.ply`` fails with ENOSPC for every input: each input is reported with the files that are
    complete, nothing truncated is left, and the run ends with a summary (exit code 1)."""
    import eanet.inference.export as export

    atomic_write_bytes = export.atomic_write_bytes

    def full_at_left_ply(path, data, **kwargs):
        if Path(path).name == "left.ply":
            raise OSError(errno.ENOSPC, "No space left on device")
        return atomic_write_bytes(path, data, **kwargs)

    monkeypatch.setattr(export, "atomic_write_bytes", full_at_left_ply)
    before = snapshot(photos)
    code, out, err, summary = run_predict(checkpoints["good"], tmp_path / "out", str(photos), "--cropped")
    assert code == 1 and "Traceback" not in err
    for name, entry in by_name(summary).items():
        assert entry["status"] == "failed"
        assert "No space left on device: the disk is full" in entry["error"]
        assert "not written: left.ply, hands.glb, prediction.json" in entry["error"]
        assert sorted(Path(p).name for p in entry["outputs"].values()) == ["left.obj", "right.obj", "right.ply"]
        folder = tmp_path / "out" / Path(name).stem
        assert sorted(p.name for p in folder.iterdir()) == ["left.obj", "right.obj", "right.ply"]  # no temporaries
    assert out.count("complete files kept: left.obj, right.obj, right.ply") == 2
    assert snapshot(photos) == before


def test_summary_that_cannot_be_written_is_said_on_stdout(checkpoints, photos, tmp_path, monkeypatch):
    import eanet.inference.runner as runner

    write_json = runner.write_json

    def full_at_summary(data, path, *args, **kwargs):
        if Path(path).name == "summary.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_json(data, path, *args, **kwargs)

    monkeypatch.setattr(runner, "write_json", full_at_summary)
    code, out, err, summary = run_predict(checkpoints["good"], tmp_path / "out", str(photos), "--cropped")
    assert code == 1 and summary is None and "Traceback" not in err
    assert f"ok      {photos / 'a.png'}" in out and f"ok      {photos / 'b.jpg'}" in out  # every input's status
    assert "summary.json NOT written (No space left on device: the disk is full" in out


def test_disk_full_during_a_video_says_how_far_it_got(checkpoints, tmp_path, monkeypatch):
    import eanet.inference.video as video_module

    write_json = video_module.write_json

    def full_at_frame_2(data, path, *args, **kwargs):
        if Path(path).name == "frame_000002.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_json(data, path, *args, **kwargs)

    monkeypatch.setattr(video_module, "write_json", full_at_frame_2)
    video = write_damaged_video(tmp_path / "clip.mp4", frames=4, damaged=())
    code, out, err, summary = run_predict(checkpoints["good"], tmp_path / "out", str(video), "--cropped",
                                          renders=True)  # fmt: skip
    assert code == 1 and "Traceback" not in err
    entry = summary["inputs"][0]
    assert entry["status"] == "failed" and "failed after 2 frame file(s): No space left on device" in entry["error"]
    folder = tmp_path / "out" / "clip"
    assert sorted(p.name for p in (folder / "frames").iterdir()) == ["frame_000000.json", "frame_000001.json"]
    assert sorted(p.name for p in folder.iterdir()) == ["frames"]  # no half-written overlay video, no video.json


def test_disk_full_on_a_real_small_file_system(checkpoints, photos, tmp_path, num_verts, private_tmpfs):
    """A 400 KiB tmpfs as --out: outputs run out of space part-way. No traceback, no truncated file, and every file
    a finished input's prediction.json lists is whole."""
    before = snapshot(photos)
    mount, copy = tmp_path / "mnt", tmp_path / "copy"
    argv = ["predict", str(photos), "--checkpoint", str(checkpoints["good"]), "--out", str(mount / "out"),
            "--cropped", "--no-progress", "--device", "cpu", "--render-backend", "torch"]  # fmt: skip
    proc = run_in_tmpfs(mount, "400k", argv, copy)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "No space left on device: the disk is full" in proc.stdout
    out = copy / "out"
    assert not no_temporaries(out)
    for obj in out.rglob("*.obj"):  # whatever was written is whole
        import trimesh

        assert trimesh.load(obj, process=False).vertices.shape == (num_verts, 3)
    for folder in out.iterdir():
        if (folder / "prediction.json").is_file():
            assert_complete_image_outputs(folder, num_verts)
    last = proc.stdout.strip().splitlines()[-1]
    assert "input(s) done" in last and ("summary:" in last or "summary.json NOT written" in last)
    assert snapshot(photos) == before


# ------------------------------------------------------------------------------------------------------------------
# 7. a bad --out is refused before the model is loaded


@pytest.fixture
def no_model_load(monkeypatch):
    """Fail the test if the command gets as far as loading the checkpoint."""
    from eanet.inference.predictor import Predictor

    def must_not_load(*args, **kwargs):
        raise AssertionError("the model was loaded before --out was checked")

    monkeypatch.setattr(Predictor, "from_checkpoint", must_not_load)


def test_out_that_is_an_existing_file_is_refused_before_loading(checkpoints, photos, tmp_path, no_model_load):
    existing = tmp_path / "results.txt"
    existing.write_text("my notes")
    code, out, err, _ = run_predict(checkpoints["good"], existing, str(photos), "--cropped")
    assert code == 2 and "Traceback" not in err
    assert "is an existing file, not a folder" in err and "results.txt" in err
    assert existing.read_text() == "my notes"


def test_out_under_a_file_is_refused_before_loading(checkpoints, photos, tmp_path, no_model_load):
    existing = tmp_path / "results.txt"
    existing.write_text("my notes")
    code, _, err, _ = run_predict(checkpoints["good"], existing / "sub", str(photos), "--cropped")
    assert code == 2 and "cannot create the output folder" in err and "Not a directory" in err
    assert existing.read_text() == "my notes"


def test_unwritable_out_is_refused_before_loading(checkpoints, photos, tmp_path, no_model_load, monkeypatch):
    import tempfile

    def denied(*args, **kwargs):  # what a folder without write permission gives (root ignores chmod, so it is faked)
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    code, _, err, _ = run_predict(checkpoints["good"], tmp_path / "out", str(photos), "--cropped")
    assert code == 2 and "cannot write in the output folder" in err and "Permission denied" in err


def test_read_only_out_is_refused_before_loading(checkpoints, photos, tmp_path, private_tmpfs):
    mount = tmp_path / "mnt"
    argv = ["predict", str(photos), "--checkpoint", str(checkpoints["good"]), "--out", str(mount / "out"),
            "--cropped", "--no-progress", "--device", "cpu"]  # fmt: skip
    proc = run_in_tmpfs(mount, "64k", argv, tmp_path / "copy", read_only=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cannot create the output folder" in proc.stderr and "Read-only file system" in proc.stderr
    assert "loaded" not in proc.stderr  # refused before the checkpoint was read


# ------------------------------------------------------------------------------------------------------------------
# 9. NaN weights, tiny images, FIFOs


def test_checkpoint_with_nan_weights_is_refused_at_load(checkpoints, photos, tmp_path):
    out = tmp_path / "out"
    code, _, err, _ = run_predict(checkpoints["nan"], out, str(photos), "--cropped")
    assert code == 2 and "Traceback" not in err
    assert "holds NaN or infinite values in 1 tensor(s) (backbone.conv1.weight)" in err
    assert "use an earlier checkpoint" in err
    assert not out.exists()  # the folder made while checking --out is removed again: nothing written


def test_non_finite_network_output_fails_that_input_only(checkpoints, photos, tmp_path, monkeypatch):
    """A finite checkpoint whose output still overflows for one input (e.g. half precision): that input fails, no
    NaN mesh is written."""
    from eanet.inference.predictor import Predictor

    forward = Predictor.forward_crops

    def nan_for_the_last_crop(self, crops):
        pred = forward(self, crops)
        pred.left.verts_cam[-1] = float("nan")
        return pred

    monkeypatch.setattr(Predictor, "forward_crops", nan_for_the_last_crop)
    code, _, _, summary = run_predict(checkpoints["good"], tmp_path / "out", str(photos), "--cropped")
    assert code == 1
    assert by_name(summary)["a.png"]["status"] == "ok"
    error = by_name(summary)["b.jpg"]["error"]
    assert "not finite" in error and "left.verts_cam" in error
    assert not (tmp_path / "out" / "b").exists()


def test_tiny_image_says_it_is_too_small_and_the_minimum(checkpoints, tmp_path):
    from eanet.inference.inputs import MIN_IMAGE_SIDE_PX

    one = write_image(tmp_path / "one.png", 1, 1)
    code, out, _, summary = run_predict(checkpoints["good"], tmp_path / "out", str(one), "--cropped")
    assert code == 1
    error = summary["inputs"][0]["error"]
    assert "1x1 pixels, too small" in error and f"at least {MIN_IMAGE_SIDE_PX} pixels" in error
    assert "outside" not in error


@pytest.fixture
def fifo(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    path = tmp_path / "stream.png"
    os.mkfifo(path)

    def hung(*_):  # a reader that opened the FIFO would wait for a writer forever
        raise TimeoutError("predict blocked on the FIFO")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    yield path
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_fifo_is_named_as_a_fifo_alone_and_in_a_folder(checkpoints, photos, tmp_path, fifo):
    code, out, _, summary = run_predict(checkpoints["good"], tmp_path / "out1", str(fifo), "--cropped")
    assert code == 1
    assert "is a FIFO (named pipe), not a regular file" in summary["inputs"][0]["error"]
    assert "no such file" not in out

    shutil.move(str(fifo), photos / "stream.png")
    code, _, _, summary = run_predict(checkpoints["good"], tmp_path / "out2", str(photos), "--cropped")
    assert code == 1  # reported, not skipped in silence
    assert {n: e["status"] for n, e in by_name(summary).items()} == {"a.png": "ok", "b.jpg": "ok", "stream.png": "failed"}
    assert "FIFO" in by_name(summary)["stream.png"]["error"]
