"""The shared training loop: reproducible, resumable bit for bit, stale checkpoints ignored, early stop."""

import logging
import math
import re
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from downscaling.runtime import CheckpointError, load_checkpoint, seed_everything
from downscaling.training.loop import TrainingRun, TrainingState, TrainSettings, epoch_indices, fit, mean_loss

SETTINGS = TrainSettings.from_config(
    {
        "lr": 1e-2,
        "batch_size": 8,
        "max_epochs": 5,
        "tiles_per_epoch": 48,  # more than the 40 training items: two permutations per epoch
        "plateau_factor": 0.5,
        "plateau_patience": 1,
        "min_lr": 1e-5,
        "early_stop": 3,
        "grad_clip": 0.5,
        "precision": "float32",  # the same arithmetic on every machine (auto: bf16 where native)
        "channels": [4],  # model keys in the same section are ignored
    },
    seed=7,
)
STEPS_PER_EPOCH = math.ceil(SETTINGS.tiles_per_epoch / SETTINGS.batch_size)


class TinyNet(nn.Module):
    """Conv net with dropout, so the global torch RNG matters too."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Dropout(0.2), nn.Conv2d(4, 1, 3, padding=1)
        )

    def forward(self, x):
        return self.body(x)


class ShiftedTiles(Dataset):
    """(x, y) tiles of shape (1, 8, 8); y is x shifted by one pixel, so there is something to learn."""

    def __init__(self, n_items: int, seed: int):
        self.x = torch.randn(n_items, 1, 8, 8, generator=torch.Generator().manual_seed(seed))
        self.y = 0.5 * self.x.roll(1, dims=-1)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        return self.x[index], self.y[index]


def noisy_l1(model, batch, generator):
    """L1 loss on inputs jittered with noise from the trainer's generator (as the DDPM loss does)."""
    x, y = batch
    noise = torch.randn(x.shape, generator=generator, device=x.device)
    return (model(x + 0.1 * noise) - y).abs().mean()


def run_fit(checkpoint, run_id="run-a", settings=SETTINGS, loss_fn=noisy_l1, extra=None):
    seed_everything(0)  # the model's initial weights
    model, log = TinyNet(), logging.getLogger("test_training")
    train_set, val_set = ShiftedTiles(40, seed=1), ShiftedTiles(16, seed=2)
    run = TrainingRun(Path(checkpoint), Path(checkpoint).with_suffix(".pt"), torch.device("cpu"), log, run_id)
    return fit(model, loss_fn, train_set, val_set, settings, run, extra)


def assert_same_state(first, second):
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


def trajectory(result):
    """The numbers of each epoch that must repeat exactly (not the timings)."""
    return [(row["epoch"], row["train_loss"], row["val_loss"], row["lr"]) for row in result.history]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    path = tmp_path_factory.mktemp("uninterrupted") / "model.ckpt"
    return run_fit(path), load_checkpoint(path)


def test_same_seed_gives_identical_weights(uninterrupted, tmp_path):
    result, _ = uninterrupted
    again = run_fit(tmp_path / "again.ckpt")
    assert_same_state(result.best_state, again.best_state)
    assert trajectory(again) == trajectory(result)
    other = run_fit(tmp_path / "other.ckpt", settings=replace(SETTINGS, seed=8))
    assert not torch.equal(other.best_state["body.0.weight"], result.best_state["body.0.weight"])


def test_training_learns_and_reports(uninterrupted):
    result, _ = uninterrupted
    assert result.epochs_run == len(result.history) == 5
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.best_val_loss == min(row["val_loss"] for row in result.history)
    assert 0.0 <= result.data_share < 1.0


def test_killed_run_resumes_bitwise_identical(uninterrupted, tmp_path, caplog):
    checkpoint = tmp_path / "model.ckpt"
    # The child kills itself with SIGKILL at the 2nd training step of epoch 3: epoch 2's
    # checkpoint is on disk, epoch 3 is half done (weights, generator and RNGs moved on).
    child = tmp_path / "killed_run.py"
    paths = [str(Path(__file__).parent), str(Path(__file__).parents[1] / "workflow" / "scripts")]
    child.write_text(
        textwrap.dedent(
            f"""
            import os, signal, sys
            import torch
            sys.path[:0] = {paths!r}
            torch.set_num_threads({torch.get_num_threads()})
            import test_training as t

            steps = 0
            def loss_then_kill(model, batch, generator):
                global steps
                if torch.is_grad_enabled():  # training steps only, not validation
                    steps += 1
                    if steps == 2 * t.STEPS_PER_EPOCH + 2:
                        os.kill(os.getpid(), signal.SIGKILL)
                return t.noisy_l1(model, batch, generator)

            t.run_fit({str(checkpoint)!r}, loss_fn=loss_then_kill)
            """
        )
    )
    killed = subprocess.run([sys.executable, str(child)], capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert load_checkpoint(checkpoint)["epoch"] == 2

    caplog.set_level(logging.INFO, logger="test_training")
    resumed = run_fit(checkpoint)
    assert "resuming from checkpoint" in caplog.text and "at epoch 3" in caplog.text

    result, final_checkpoint = uninterrupted
    assert_same_state(resumed.best_state, result.best_state)
    assert_same_state(load_checkpoint(checkpoint)["model"], final_checkpoint["model"])
    assert trajectory(resumed) == trajectory(result)


def test_checkpoint_of_another_run_is_not_resumed(uninterrupted, tmp_path, caplog):
    checkpoint = tmp_path / "model.ckpt"
    run_fit(checkpoint, run_id="old-config", settings=replace(SETTINGS, max_epochs=2))
    caplog.set_level(logging.INFO, logger="test_training")
    result = run_fit(checkpoint, run_id="new-config")
    assert "is stale" in caplog.text and "resuming" not in caplog.text
    assert re.search(r"epoch 5/5 train [\d.]+ val [\d.]+ lr [\d.e+-]+ [\d.]+ s ETA 0.0 s data [\d.]+%", caplog.text)
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4, 5]
    assert_same_state(result.best_state, uninterrupted[0].best_state)
    assert load_checkpoint(checkpoint)["run_id"] == "new-config"


def test_finished_checkpoint_returns_without_training(uninterrupted, tmp_path, caplog):
    checkpoint = tmp_path / "model.ckpt"
    run_fit(checkpoint)
    caplog.set_level(logging.INFO, logger="test_training")
    again = run_fit(checkpoint)
    assert "at epoch 6" in caplog.text and "epoch 1/5" not in caplog.text
    assert_same_state(again.best_state, uninterrupted[0].best_state)


def test_an_unreadable_checkpoint_is_moved_aside_and_training_starts_over(uninterrupted, tmp_path, caplog):
    checkpoint = tmp_path / "model.ckpt"
    run_fit(checkpoint, settings=replace(SETTINGS, max_epochs=2))
    content = checkpoint.read_bytes()
    checkpoint.write_bytes(content[: len(content) // 2])  # a kill during a copy, a full disk
    caplog.set_level(logging.INFO, logger="test_training")
    result = run_fit(checkpoint)
    assert f"resume checkpoint {checkpoint} cannot be read" in caplog.text and "training starts over" in caplog.text
    assert (tmp_path / "model.ckpt.unreadable").read_bytes() == content[: len(content) // 2]
    assert_same_state(result.best_state, uninterrupted[0].best_state)  # as if it had never been there
    assert load_checkpoint(checkpoint)["epoch"] == 5


def test_an_unreadable_model_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "results/models/ddpm/JJA/west/model.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 not a whole zip archive")
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert str(error.value).startswith(f"{path} cannot be read (")
    assert "Delete it and run snakemake again" in str(error.value)


def constant_val_loss(model, batch, generator):
    """Training as usual, but a validation loss that never improves after epoch 1."""
    return noisy_l1(model, batch, generator) if model.training else torch.tensor(1.0)


PLATEAU = replace(SETTINGS, lr=1e-3, plateau_factor=0.1, max_epochs=50, early_stop=4)


def test_plateau_lowers_lr_and_early_stop_ends_training(tmp_path):
    result = run_fit(tmp_path / "model.ckpt", settings=PLATEAU, loss_fn=constant_val_loss)
    assert result.stopped_early and result.epochs_run == 5  # best at epoch 1, then 4 without improvement
    assert [row["lr"] for row in result.history] == pytest.approx([1e-3, 1e-3, 1e-3, 1e-4, 1e-4])
    assert result.best_val_loss == 1.0


def test_resume_restores_plateau_and_early_stop_counters(tmp_path):
    # Stopped after the bad epoch 2: the scheduler's and the early stop's counts must carry over.
    whole = run_fit(tmp_path / "whole.ckpt", settings=PLATEAU, loss_fn=constant_val_loss)
    split = tmp_path / "split.ckpt"
    run_fit(split, settings=replace(PLATEAU, max_epochs=2), loss_fn=constant_val_loss)
    resumed = run_fit(split, settings=PLATEAU, loss_fn=constant_val_loss)
    assert trajectory(resumed) == trajectory(whole)
    assert resumed.epochs_run == whole.epochs_run and resumed.stopped_early
    assert_same_state(load_checkpoint(split)["model"], load_checkpoint(tmp_path / "whole.ckpt")["model"])


def test_checkpoint_loads_with_weights_only(tmp_path):
    path = tmp_path / "model.ckpt"
    extra = {"normalisation": {"min": -6.0, "max": 0.5}, "channels": [4]}
    run_fit(path, settings=replace(SETTINGS, max_epochs=1), extra=extra)
    checkpoint = torch.load(path, weights_only=True)
    assert set(checkpoint) == {
        "run_id",
        "epoch",
        "model",
        "optimizer",
        "scheduler",
        "ema",
        "generator",
        "rng",
        "best_val_loss",
        "best_state",
        "epochs_without_improvement",
        "history",
        "extra",
    }
    assert checkpoint["extra"] == extra and checkpoint["epoch"] == 1 and checkpoint["run_id"] == "run-a"
    assert set(checkpoint["rng"]) == {"torch", "cuda", "numpy", "python"}
    assert not path.with_name(path.name + ".tmp").exists()


def test_epoch_indices_are_a_function_of_seed_and_epoch():
    first = epoch_indices(10, 25, seed=3, epoch=1)
    assert first == epoch_indices(10, 25, seed=3, epoch=1)
    assert first != epoch_indices(10, 25, seed=3, epoch=2) and first != epoch_indices(10, 25, seed=4, epoch=1)
    counts = torch.bincount(torch.tensor(first), minlength=10)
    assert len(first) == 25 and counts.min() >= 2 and counts.max() <= 3  # two full permutations + 5
    assert sorted(epoch_indices(10, None, seed=3, epoch=1)) == list(range(10))


def test_settings_from_config_names_missing_keys():
    section = {"lr": 1e-3, "batch_size": 4, "max_epochs": 2, "plateau_factor": 0.1, "plateau_patience": 1}
    with pytest.raises(ValueError, match="early_stop"):
        TrainSettings.from_config(dict(section, min_lr=0.0), seed=0)
    assert SETTINGS.grad_clip == 0.5 and SETTINGS.tiles_per_epoch == 48 and SETTINGS.seed == 7
    with pytest.raises(ValueError, match="max_epochs"):
        replace(SETTINGS, max_epochs=0)


def test_the_training_state_round_trips_through_its_state_dict():
    settings = TrainSettings(
        lr=1e-2, batch_size=4, max_epochs=3, plateau_factor=0.5, plateau_patience=0, min_lr=1e-4, early_stop=2, seed=1
    )
    state = TrainingState.start(torch.nn.Linear(3, 1), settings, torch.device("cpu"))
    state.generator.manual_seed(5)
    state.end_epoch(0.5, {"train_loss": 0.6})
    state.end_epoch(0.7, {"train_loss": 0.4})  # worse: patience 0 halves the learning rate
    saved = state.state_dict()
    restored = TrainingState.start(torch.nn.Linear(3, 1), settings, torch.device("cpu"))
    restored.load_state_dict(saved)
    assert (restored.epoch, restored.best_val_loss, restored.epochs_without_improvement) == (2, 0.5, 1)
    assert restored.history == [{"epoch": 1, "train_loss": 0.6}, {"epoch": 2, "train_loss": 0.4}]
    assert restored.optimizer.param_groups[0]["lr"] == pytest.approx(5e-3)
    assert torch.equal(restored.generator.get_state(), state.generator.get_state())
    assert all(torch.equal(restored.best_state[k], state.best_state[k]) for k in state.best_state)


EMA_SETTINGS = replace(SETTINGS, ema_halflife_tiles=16, lr=5e-2, early_stop=5)


def test_the_moving_average_of_the_weights_is_validated_and_kept(tmp_path):
    checkpoint = tmp_path / "ema.ckpt"
    result = run_fit(checkpoint, settings=EMA_SETTINGS)
    last = load_checkpoint(checkpoint)
    model, val_set = TinyNet(), ShiftedTiles(16, seed=2)

    def val_loss(state):
        model.load_state_dict(state)
        return mean_loss(model, noisy_l1, val_set, SETTINGS.batch_size, torch.device("cpu"), SETTINGS.seed)

    # the loss recorded and the weights kept are the average's, not the last step's
    assert val_loss(result.best_state) == pytest.approx(result.best_val_loss, rel=1e-6)
    averaged = {k.removeprefix("module."): v for k, v in last["ema"].items() if k.startswith("module.")}
    assert val_loss(averaged) == pytest.approx(result.history[-1]["val_loss"], rel=1e-6)
    # on this noisy problem (large steps) the average is the better model
    assert result.history[-1]["val_loss"] < val_loss(last["model"])


def test_a_run_with_a_moving_average_resumes_bitwise_identical(tmp_path):
    whole = run_fit(tmp_path / "whole.ckpt", settings=EMA_SETTINGS)
    checkpoint = tmp_path / "stopped.ckpt"
    run_fit(checkpoint, settings=replace(EMA_SETTINGS, max_epochs=2))  # the same run, stopped after epoch 2
    resumed = run_fit(checkpoint, settings=EMA_SETTINGS)
    assert_same_state(resumed.best_state, whole.best_state)
    assert trajectory(resumed) == trajectory(whole)


BF16_SETTINGS = replace(SETTINGS, precision="bfloat16")


def test_bf16_training_resumes_bitwise_and_learns_as_well_as_float32(uninterrupted, tmp_path):
    whole = run_fit(tmp_path / "whole.ckpt", settings=BF16_SETTINGS)
    assert whole.precision == "bfloat16"
    checkpoint = tmp_path / "stopped.ckpt"
    run_fit(checkpoint, settings=replace(BF16_SETTINGS, max_epochs=2))
    resumed = run_fit(checkpoint, settings=BF16_SETTINGS)
    assert_same_state(resumed.best_state, whole.best_state)
    assert trajectory(resumed) == trajectory(whole)

    float32, _ = uninterrupted
    assert float32.precision == "float32"
    # autocast is engaged (another trajectory), and the stated tolerance: every epoch's
    # validation loss (computed in float32) within 5 % of the float32 run's
    assert trajectory(whole) != trajectory(float32)
    for bf16_row, float32_row in zip(whole.history, float32.history, strict=True):
        assert bf16_row["val_loss"] == pytest.approx(float32_row["val_loss"], rel=0.05)


def test_a_precision_other_than_auto_float32_or_bfloat16_is_refused():
    with pytest.raises(ValueError, match="precision.*'float16'"):
        replace(SETTINGS, precision="float16")
