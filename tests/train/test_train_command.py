"""``eanet train`` end to end on the real network and data pipeline (tiny synthetic dataset), and its bad-input errors."""

import json
import subprocess
import sys

from eanet.cli import main
from tiny_synthetic import FAST_TRAIN_OVERRIDES

# Evaluations on, with a log line per step: what this command's tests look at.
FAST = [*FAST_TRAIN_OVERRIDES, "train.log_every_steps=1", "eval.batch_size=8"]


def test_unknown_key_is_an_error_naming_it(capsys):
    assert main(["train", "--config", "small-synthetic", "train.learning_rate=1"]) == 2
    err = capsys.readouterr().err
    assert "train.learning_rate" in err and "lr" in err


def test_data_directory_without_annotations_names_the_file(tmp_path, capsys):
    code = main(["train", "--config", "small-synthetic", f"data.root={tmp_path}", f"output_dir={tmp_path / 'run'}"])
    assert code == 2
    err = capsys.readouterr().err
    assert "InterHand2.6M_train_data.json" in err and str(tmp_path) in err


def test_trains_exports_resumes_and_rejects_another_architecture(tiny_synth_root, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--config", "small-synthetic", f"--data-root={tiny_synth_root}", f"--out={run}", *FAST]
    assert main([*args, "train.epochs=2", "train.eval_before_training=true", "train.eval_every_epochs=1"]) == 0
    out = capsys.readouterr().out
    assert "trained 4 steps (2 epochs)" in out and "held-out mpjpe_all:" in out
    assert "held-out joints2d_err_px_all:" in out  # the 2D joint error (input-crop pixels) next to MPJPE
    for name in ("config.yaml", "log.jsonl", "model.safetensors", "best.safetensors", "checkpoints/latest.json"):
        assert (run / name).is_file(), name
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r["kind"] == "eval"] == [0, 1, 2]

    from eanet.model.checkpoint import read_training_data
    from eanet.run_checkpoint import load_checkpoint
    from eanet.train.checkpoint import load_training_checkpoint

    model, saved_cfg = load_checkpoint(run / "model.safetensors")
    assert model.backbone.name == "resnet18" and saved_cfg.train.epochs == 2
    # What the weights were trained on: eanet synth's data (its manifest), with the steps each file's weights had.
    final = read_training_data(run / "model.safetensors")
    assert (final.dataset, final.root, final.synthetic, final.global_step) == ("interhand26m", str(tiny_synth_root), True, 4)
    best_state = load_training_checkpoint(run / "checkpoints" / "best.pt")
    best = read_training_data(run / "best.safetensors")
    assert best.synthetic and best.global_step == best_state["position"]["global_step"]
    assert best_state["training_data"] == best.to_dict()

    # Continue the finished run for one more epoch.
    assert main([*args, "train.epochs=3", "train.eval_every_epochs=0", "--resume"]) == 0
    assert "trained 6 steps (3 epochs)" in capsys.readouterr().out

    # The run's checkpoint does not fit a deeper joint transformer: the error lists the keys.
    assert main([*args, "train.epochs=4", "model.sjt_depth=2", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "missing keys " in err and "sjt" in err.lower()


def test_torchrun_entry_point_help():
    result = subprocess.run([sys.executable, "-m", "eanet", "train", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "torchrun" in result.stdout


def test_hand_model_mismatch_stops_before_the_first_step(tiny_synth_root, tmp_path, capsys):
    run = tmp_path / "run"
    base = ["train", "--config", "small-synthetic", "--data-root", str(tiny_synth_root), "--out", str(run), *FAST]
    assert main([*base, "eval.gt_hand_model=mano"]) == 2  # the data was made with the open hand
    err = capsys.readouterr().err
    assert "eval.gt_hand_model=mano, but" in err and "--gt-hand-model open" in err and "Traceback" not in err
    assert not (run / "log.jsonl").exists() and not (run / "checkpoints").exists()
