"""The training loop on a tiny stand-in model: it learns, logs, checkpoints, resumes exactly and handles NaN."""

import json

import pytest
import torch
from tinytrain import TinyDataset, TinyTwoHandNet, params_of, tiny_config, tiny_evaluate

from eanet.errors import CheckpointMismatchError, UserError
from eanet.train.loop import NonFiniteLossError, Trainer


def make_trainer(cfg, dropout=0.1, dataset=None, evaluate=True, model=None):
    torch.manual_seed(cfg.seed)
    model = model if model is not None else TinyTwoHandNet(dropout=dropout)
    return Trainer(
        cfg,
        torch.device("cpu"),
        model,
        dataset if dataset is not None else TinyDataset(24),
        evaluate=tiny_evaluate(TinyDataset(8, split="val", augment=False)) if evaluate else None,
    )


def test_trains_logs_and_keeps_checkpoints(tmp_path):
    cfg = tiny_config(tmp_path / "run", tensorboard=True)
    trainer = make_trainer(cfg)
    before = trainer._evaluate(0)["mpjpe_all"]
    result = trainer.fit()
    assert result.epochs_completed == 3 and result.global_step == 3 * 6
    assert result.metrics["mpjpe_all"] < before  # it learns
    run = tmp_path / "run"
    assert (run / "config.yaml").read_text().startswith("model:")
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    kinds = {rec["kind"] for rec in lines}
    assert {"train", "epoch", "eval"} <= kinds
    step = next(rec for rec in lines if rec["kind"] == "train")
    for key in ("loss", "lr", "images_per_s", "eta_s", "grad_norm", "loss/joints_cam"):
        assert key in step
    assert any((run / "tensorboard").iterdir())
    ckpts = sorted(p.name for p in (run / "checkpoints").glob("step_*.pt"))
    assert ckpts == ["step_00000016.pt", "step_00000018.pt"]  # keep_last = 2
    best = json.loads((run / "checkpoints" / "best.json").read_text())
    assert best["metric"] == "mpjpe_all" and best["value"] == pytest.approx(
        min(r["mpjpe_all"] for r in lines if r["kind"] == "eval")
    )
    assert (run / "checkpoints" / "best.pt").is_file()
    # the learning rate followed the milestone at epoch 2
    lrs = [rec["lr_next"] for rec in lines if rec["kind"] == "epoch"]
    assert lrs == pytest.approx([1e-2, 1e-3, 1e-3])


@pytest.mark.parametrize("stop_at, workers", [(5, 0), (6, 0), (9, 2)])
def test_interrupted_and_resumed_run_is_bit_identical(tmp_path, stop_at, workers):
    """Stop after ``stop_at`` steps (mid-epoch, at an epoch end, with data workers), resume with fresh objects."""
    full = make_trainer(tiny_config(tmp_path / "full", num_workers=workers))
    full.fit()
    reference = params_of(full.model)

    first = make_trainer(tiny_config(tmp_path / "cut", num_workers=workers, max_steps=stop_at))
    result = first.fit()
    assert result.global_step == stop_at and result.stopped_at_max_steps
    del first
    torch.manual_seed(999)  # a resumed process starts with unrelated generator states
    resumed = make_trainer(
        tiny_config(tmp_path / "cut", num_workers=workers, resume="auto"), model=TinyTwoHandNet(dropout=0.1)
    )
    assert resumed.position.global_step == stop_at
    resumed.fit()
    for k, v in params_of(resumed.model).items():
        assert torch.equal(v, reference[k]), k
    # the optimizer state is restored too, not only the weights
    assert resumed.optimizer.state_dict()["state"][0]["step"] == full.optimizer.state_dict()["state"][0]["step"]


def test_nonfinite_steps_are_skipped_counted_and_eventually_stop(tmp_path):
    # Samples 0-5 have NaN targets at *valid* joints: the batches holding them are skipped, not trained on.
    data = TinyDataset(24, nan_targets_at=range(6))
    trainer = make_trainer(tiny_config(tmp_path / "a", epochs=1, batch_size=2), dataset=data, evaluate=False)
    result = trainer.fit()
    assert 3 <= result.nonfinite_steps <= 6
    for v in trainer.model.parameters():
        assert torch.isfinite(v).all()
    events = [json.loads(x) for x in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert sum(e.get("event") == "nonfinite_step" for e in events) == result.nonfinite_steps

    bad = TinyDataset(24, nan_targets_at=range(24))
    trainer = make_trainer(tiny_config(tmp_path / "b", max_nonfinite_steps=3), dataset=bad, evaluate=False)
    with pytest.raises(NonFiniteLossError, match="3 consecutive steps.*lower train.lr"):
        trainer.fit()


def test_refuses_to_overwrite_a_run_and_rejects_foreign_checkpoints(tmp_path):
    cfg = tiny_config(tmp_path / "run", max_steps=2)
    make_trainer(cfg).fit()
    with pytest.raises(UserError, match="train.resume=auto"):
        make_trainer(cfg)
    cfg2 = tiny_config(tmp_path / "run", resume="auto")
    with pytest.raises(CheckpointMismatchError, match=r"wrong shapes 3: conv\.bias .*conv\.weight"):
        make_trainer(cfg2, model=TinyTwoHandNet(width=6))
    other = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with pytest.raises(CheckpointMismatchError, match=r"missing keys 2: 0\.bias, 0\.weight; unexpected keys \d+: conv"):
        make_trainer(cfg2, model=other)


def test_bf16_autocast_runs_on_cpu(tmp_path):
    cfg = tiny_config(tmp_path / "bf16", amp="bf16", max_steps=3)
    result = make_trainer(cfg, evaluate=False).fit()
    assert result.global_step == 3 and result.nonfinite_steps == 0


def test_resume_follows_a_changed_schedule(tmp_path):
    make_trainer(tiny_config(tmp_path / "r", max_steps=6), evaluate=False).fit()  # one epoch of 6 steps
    same = make_trainer(tiny_config(tmp_path / "r", resume="auto"), evaluate=False)
    assert same._lr() == pytest.approx(1e-2)
    changed = make_trainer(tiny_config(tmp_path / "r", resume="auto", lr_milestones=[1], epochs=4), evaluate=False)
    assert changed._lr() == pytest.approx(1e-3)  # epoch 2 is past the new milestone
    changed.scheduler.step()
    assert changed._lr() == pytest.approx(1e-3)


def test_max_steps_mid_epoch_evaluates_and_checkpoints_once(tmp_path):
    """``train.max_steps`` inside an epoch still gives the final evaluation and a checkpoint; with
    ``checkpoint_every_epochs=0`` and no evaluation due, finished epochs write none."""
    cfg = tiny_config(tmp_path / "run", checkpoint_every_steps=0, checkpoint_every_epochs=0, eval_every_epochs=100,
                      epochs=5, max_steps=8)  # fmt: skip
    result = make_trainer(cfg).fit()
    assert result.global_step == 8 and result.stopped_at_max_steps and "mpjpe_all" in result.metrics
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("step_*.pt"))
    assert ckpts == ["step_00000008.pt"]  # epoch 1 (step 6) wrote none
    lines = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [rec["global_step"] for rec in lines if rec["kind"] == "eval"] == [8]


def test_cpu_threads_are_applied(tmp_path):
    before = torch.get_num_threads()
    try:
        make_trainer(tiny_config(tmp_path / "run", cpu_threads=1), evaluate=False)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
