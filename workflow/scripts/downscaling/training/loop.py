"""The training loop shared by the small U-Net and the large models, resumable bit for bit.

``fit`` runs Adam with ReduceLROnPlateau on the validation loss, early stopping, optional
grad-norm clipping, and keeps the best weights. Every epoch ends with an atomic checkpoint;
a job killed at any point and rerun with the same ``run_id`` continues from the last finished
epoch and, on CPU, ends with weights bitwise identical to an uninterrupted run. That holds
because everything random is either a pure function of (seed, epoch) (the tile order, the
validation noise) or part of the checkpoint (the trainer's generator, the global RNG states).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, Dataset

from downscaling.jobs import config_hash, file_hash, log_to_file
from downscaling.runtime import (
    CheckpointError,
    atomic_save,
    check_precision,
    load_checkpoint,
    rng_states,
    seed_everything,
    select_device,
    set_rng_states,
    uses_bf16,
)

Batch = tuple[torch.Tensor, ...]
LossFn = Callable[[nn.Module, Batch, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class TrainSettings:
    """Optimiser, schedule and stopping settings of one training run."""

    lr: float
    batch_size: int
    max_epochs: int
    plateau_factor: float
    plateau_patience: int
    min_lr: float
    early_stop: int  # epochs without a better validation loss before stopping
    grad_clip: float | None = None  # max global grad norm; None = no clipping
    tiles_per_epoch: int | None = None  # training items drawn per epoch; None = all of them once
    # Exponential moving average of the weights, as diffusion models train (DDPM, EDM, CorrDiff):
    # its half-life in training items; None = no average, the weights of the last step are used
    ema_halflife_tiles: int | None = None
    # Arithmetic of the training steps' forward passes (validation stays float32): auto = bfloat16
    # autocast where the device computes it natively (runtime.bf16_is_native), else float32
    precision: str = "auto"
    # Learning rate of the parameters under the model's `history_encoder` over `lr` (a fine-tuned
    # pretrained encoder learns more slowly than the rest)
    encoder_lr_factor: float = 1.0
    seed: int = 0

    def __post_init__(self):
        counts = {"batch_size": self.batch_size, "max_epochs": self.max_epochs, "early_stop": self.early_stop}
        for optional in ("tiles_per_epoch", "ema_halflife_tiles"):
            if getattr(self, optional) is not None:
                counts[optional] = getattr(self, optional)
        too_small = {key: value for key, value in counts.items() if value < 1}
        if too_small:
            raise ValueError(f"training settings must be >= 1: {too_small}")
        check_precision(self.precision)

    @classmethod
    def from_config(cls, section: dict[str, Any], seed: int) -> TrainSettings:
        """Build from a model's config section (e.g. ``config["small_unet"]``); other keys are ignored.

        Raises ValueError naming the missing key(s).
        """
        required = ["lr", "batch_size", "max_epochs", "plateau_factor", "plateau_patience", "min_lr", "early_stop"]
        missing = [key for key in required if key not in section]
        if missing:
            raise ValueError(f"training config section lacks {missing}; it has {sorted(section)}")
        grad_clip, tiles, halflife = (
            section.get(key) for key in ("grad_clip", "tiles_per_epoch", "ema_halflife_tiles")
        )
        return cls(
            lr=float(section["lr"]),
            batch_size=int(section["batch_size"]),
            max_epochs=int(section["max_epochs"]),
            plateau_factor=float(section["plateau_factor"]),
            plateau_patience=int(section["plateau_patience"]),
            min_lr=float(section["min_lr"]),
            early_stop=int(section["early_stop"]),
            grad_clip=None if grad_clip is None else float(grad_clip),
            tiles_per_epoch=None if tiles is None else int(tiles),
            ema_halflife_tiles=None if halflife is None else int(halflife),
            precision=str(section.get("precision", cls.precision)),
            seed=int(seed),
        )


@dataclass(frozen=True)
class TrainingRun:
    """Where one training job runs and keeps its state: the resumable checkpoint, the final model
    file, the device, the log, and ``run_id`` (a hash of the settings and inputs that define the
    result; a checkpoint with another run_id is stale and training starts over)."""

    checkpoint_path: Path
    model_path: Path
    device: torch.device
    log: logging.Logger
    run_id: str

    @classmethod
    def of_job(cls, job, identity: dict[str, Any], inputs) -> TrainingRun:
        """The run of a Snakemake job (a rule script's ``snakemake`` object): its log file,
        ``params.checkpoint``, ``output.model``, the GPU if it has one else its ``threads``, and a
        run_id hashed from ``identity`` and the contents of the files ``inputs``."""
        return cls(
            checkpoint_path=Path(job.params.checkpoint),
            model_path=Path(job.output.model),
            device=select_device(job.threads),
            log=log_to_file(job.log[0]),
            run_id=config_hash({**identity, "inputs": [file_hash(path) for path in inputs]}),
        )


@dataclass
class FitResult:
    """What ``fit`` returns. ``history`` has one dict per finished epoch (resumed ones included):
    epoch, train_loss, val_loss, lr (used during the epoch), seconds, data_share."""

    best_state: dict[str, torch.Tensor]  # state_dict of the best epoch, on the CPU
    best_val_loss: float
    history: list[dict[str, float]]
    epochs_run: int  # finished epochs in total, including those before a resume
    stopped_early: bool
    data_share: float  # mean share of training-step time spent fetching batches
    precision: str  # of the training steps: bfloat16 (autocast) or float32


def epoch_seed(seed: int, epoch: int) -> int:
    """A 63-bit seed mixing ``seed`` and ``epoch`` (well spread even for neighbouring values)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0] >> 1)


def epoch_indices(n_items: int, tiles_per_epoch: int | None, seed: int, epoch: int) -> list[int]:
    """The training items of one epoch, in order: a pure function of (seed, epoch).

    ``tiles_per_epoch`` items are taken from concatenated random permutations (so every item is
    seen equally often up to one), or one full permutation when it is None.
    """
    if n_items < 1:
        raise ValueError("the training set is empty")
    generator = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    count = n_items if tiles_per_epoch is None else tiles_per_epoch
    rounds = math.ceil(count / n_items)
    order = torch.cat([torch.randperm(n_items, generator=generator) for _ in range(rounds)])
    return order[:count].tolist()


def _to_device(batch: Batch, device: torch.device) -> Batch:
    return tuple(tensor.to(device, non_blocking=True) for tensor in batch)


def _train_epoch(
    model: nn.Module,
    loss_fn: LossFn,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    device: torch.device,
    grad_clip: float | None,
    ema: AveragedModel | None = None,
    bf16: bool = False,
) -> tuple[float, float]:
    """One pass over ``loader``, updating ``ema`` (if any) after every step; with ``bf16`` the
    forward pass runs under bfloat16 autocast (weights, gradients and optimiser stay float32).
    Returns (mean loss per item, share of time spent fetching batches)."""
    model.train()
    loss_sum, n_items = torch.zeros((), device=device), 0
    fetch_seconds, start = 0.0, time.perf_counter()
    batches = iter(loader)
    while True:
        fetch_start = time.perf_counter()
        batch = next(batches, None)
        if batch is None:
            break
        batch = _to_device(batch, device)
        fetch_seconds += time.perf_counter() - fetch_start
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(model, batch, generator)
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        if ema is not None:
            ema.update_parameters(model)
        # Accumulate on the device: no host sync per step.
        loss_sum += loss.detach() * len(batch[0])
        n_items += len(batch[0])
    total_seconds = time.perf_counter() - start
    return (loss_sum / n_items).item(), fetch_seconds / max(total_seconds, 1e-12)


@torch.no_grad()
def mean_loss(
    model: nn.Module, loss_fn: LossFn, dataset: Dataset, batch_size: int, device: torch.device, seed: int
) -> float:
    """Mean per-item loss of ``model`` (eval mode) over ``dataset`` in its own order.

    A fresh generator seeded with ``seed`` feeds ``loss_fn``, so the value is deterministic and
    comparable across epochs (same timesteps and noise every time).
    """
    model.eval()
    generator = torch.Generator(device=device).manual_seed(seed)
    loss_sum, n_items = torch.zeros((), device=device), 0
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, pin_memory=device.type == "cuda"):
        batch = _to_device(batch, device)
        loss_sum += loss_fn(model, batch, generator) * len(batch[0])
        n_items += len(batch[0])
    if n_items == 0:
        raise ValueError("the validation set is empty")
    return (loss_sum / n_items).item()


def _cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in state.items()}


def _format_seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _resumable(checkpoint_path: Path, log: logging.Logger) -> dict[str, Any] | None:
    """The resume checkpoint, or None when there is none; one that cannot be read (a kill
    during a copy, a full disk) is moved aside with a warning, so that training starts over
    instead of failing on every rerun."""
    if not checkpoint_path.exists():
        return None
    try:
        return load_checkpoint(checkpoint_path)
    except CheckpointError as error:
        aside = checkpoint_path.with_name(checkpoint_path.name + ".unreadable")
        os.replace(checkpoint_path, aside)
        log.warning(
            "resume checkpoint %s cannot be read (%s); moved to %s, training starts over",
            checkpoint_path,
            error.reason,
            aside,
        )
        return None


def parameter_groups(model: nn.Module, settings: TrainSettings) -> list[dict]:
    """The optimiser's parameter groups: one, or with an `encoder_lr_factor` other than 1 the
    parameters of the model's `history_encoder` apart at that share of the learning rate."""
    encoder = getattr(model, "history_encoder", None)
    if settings.encoder_lr_factor == 1.0 or encoder is None:
        return [{"params": list(model.parameters())}]
    ids = {id(parameter) for parameter in encoder.parameters()}
    return [
        {"params": [p for p in model.parameters() if id(p) not in ids]},
        {"params": list(encoder.parameters()), "lr": settings.lr * settings.encoder_lr_factor},
    ]


@dataclass
class TrainingState:
    """Everything a training run is at the end of an epoch, and all a resume needs: the model,
    optimiser, LR schedule, the moving average of the weights (if any) and the trainer's
    generator, the epoch count, the best weights and validation loss, the patience count and the
    history. ``state_dict`` (with the process's global RNG states) is the checkpoint;
    ``load_state_dict`` restores it exactly."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau
    generator: torch.Generator
    ema: AveragedModel | None = None
    epoch: int = 0  # finished epochs
    best_val_loss: float = math.inf
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)
    epochs_without_improvement: int = 0
    history: list[dict[str, float]] = field(default_factory=list)

    @classmethod
    def start(cls, model: nn.Module, settings: TrainSettings, device: torch.device) -> TrainingState:
        """A fresh run's state: Adam, ReduceLROnPlateau on the validation loss, and with
        ``ema_halflife_tiles`` torch's exponential moving average of the weights."""
        optimizer = torch.optim.Adam(parameter_groups(model, settings), lr=settings.lr)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="min",
            factor=settings.plateau_factor,
            patience=settings.plateau_patience,
            min_lr=settings.min_lr,
        )
        ema = None
        if settings.ema_halflife_tiles is not None:
            decay = 0.5 ** (settings.batch_size / settings.ema_halflife_tiles)  # per optimiser step
            ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        return cls(model, optimizer, scheduler, torch.Generator(device=device), ema)

    @property
    def weights(self) -> nn.Module:
        """The network that is validated and kept: the moving average when there is one."""
        return self.model if self.ema is None else self.ema.module

    def end_epoch(self, val_loss: float, record: dict[str, float]) -> None:
        """Count a finished epoch: step the schedule, keep the best weights, log `record`."""
        self.epoch += 1
        self.scheduler.step(val_loss)
        if val_loss < self.best_val_loss:
            self.best_val_loss, self.epochs_without_improvement = val_loss, 0
            self.best_state = _cpu_copy(self.weights.state_dict())
        else:
            self.epochs_without_improvement += 1
        self.history.append({"epoch": self.epoch, **record})

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "generator": self.generator.get_state(),
            "rng": rng_states(),
            "best_val_loss": self.best_val_loss,
            "best_state": self.best_state,
            "epochs_without_improvement": self.epochs_without_improvement,
            "history": self.history,
        }

    def load_state_dict(self, checkpoint: dict[str, Any]) -> None:
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        if self.ema is not None:
            self.ema.load_state_dict(checkpoint["ema"])
        self.generator.set_state(checkpoint["generator"])
        set_rng_states(checkpoint["rng"])
        self.epoch, self.best_val_loss = checkpoint["epoch"], checkpoint["best_val_loss"]
        self.best_state, self.history = checkpoint["best_state"], checkpoint["history"]
        self.epochs_without_improvement = checkpoint["epochs_without_improvement"]


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    train_set: Dataset,
    val_set: Dataset,
    settings: TrainSettings,
    run: TrainingRun,
    extra: dict[str, Any] | None = None,
) -> FitResult:
    """Train ``model`` and return the best weights by validation loss; resumes from the run's
    checkpoint (``run.model_path`` is not written here: the caller saves what it needs).

    Datasets are map-style and return tuples of tensors (batched by the default collate; a
    dataset may define ``__getitems__(indices)`` to cut a whole batch of tiles at once).
    ``loss_fn(model, batch, generator)`` returns a scalar mean loss over the batch; ``generator``
    is a ``torch.Generator`` on ``run.device`` owned by the trainer and checkpointed (draw
    diffusion timesteps and noise from it). A checkpoint with another ``run.run_id`` is stale and
    training starts over. ``extra`` (tensors and
    plain values only, e.g. normalisation) is stored in the checkpoint as ``extra``.

    With ``settings.ema_halflife_tiles`` the validation loss and the best weights are those of
    the moving average of the weights.

    The checkpoint, rewritten atomically after every epoch, holds: run_id, epoch (finished),
    model, optimizer, scheduler, ema, generator, rng, best_val_loss, best_state,
    epochs_without_improvement, history, extra. On return the model holds the best weights.
    Raises FloatingPointError when an epoch's training loss is not finite.
    """
    checkpoint_path, device, log, run_id = Path(run.checkpoint_path), run.device, run.log, run.run_id
    bf16 = uses_bf16(settings.precision, device)
    log.info("training steps in %s on %s", "bfloat16 autocast" if bf16 else "float32", device)
    model.to(device)
    state = TrainingState.start(model, settings, device)
    checkpoint = _resumable(checkpoint_path, log)
    if checkpoint is not None and checkpoint["run_id"] != run_id:
        log.info(
            "checkpoint %s is stale (run_id %s, expected %s): starting over",
            checkpoint_path,
            checkpoint["run_id"],
            run_id,
        )
        checkpoint = None
    if checkpoint is None:
        seed_everything(settings.seed)
        state.generator.manual_seed(settings.seed)
    else:
        state.load_state_dict(checkpoint)
        log.info("resuming from checkpoint %s at epoch %d (%d done)", checkpoint_path, state.epoch + 1, state.epoch)

    session_seconds = []  # epoch durations of this process, for the ETA
    while state.epoch < settings.max_epochs and state.epochs_without_improvement < settings.early_stop:
        start = time.perf_counter()
        lr = state.optimizer.param_groups[0]["lr"]
        indices = epoch_indices(len(train_set), settings.tiles_per_epoch, settings.seed, state.epoch + 1)
        loader = DataLoader(
            train_set, batch_size=settings.batch_size, sampler=indices, pin_memory=device.type == "cuda"
        )
        train_loss, data_share = _train_epoch(
            model, loss_fn, loader, state.optimizer, state.generator, device, settings.grad_clip, state.ema, bf16
        )
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"training loss is {train_loss} in epoch {state.epoch + 1} (lr {lr:.2e})")
        val_loss = mean_loss(state.weights, loss_fn, val_set, settings.batch_size, device, settings.seed)
        seconds = time.perf_counter() - start
        session_seconds.append(seconds)
        state.end_epoch(
            val_loss,
            {"train_loss": train_loss, "val_loss": val_loss, "lr": lr, "seconds": seconds, "data_share": data_share},
        )
        atomic_save({"run_id": run_id, **state.state_dict(), "extra": extra or {}}, checkpoint_path)
        eta = (settings.max_epochs - state.epoch) * sum(session_seconds) / len(session_seconds)
        log.info(
            "epoch %d/%d train %.5f val %.5f lr %.2e %s ETA %s data %.1f%%",
            state.epoch,
            settings.max_epochs,
            train_loss,
            val_loss,
            lr,
            _format_seconds(seconds),
            _format_seconds(eta),
            100 * data_share,
        )

    stopped_early = state.epochs_without_improvement >= settings.early_stop
    if stopped_early:
        log.info("early stop after epoch %d: no better validation loss in %d epochs", state.epoch, settings.early_stop)
    model.load_state_dict(state.best_state)
    return FitResult(
        best_state=state.best_state,
        best_val_loss=state.best_val_loss,
        history=state.history,
        epochs_run=state.epoch,
        stopped_early=stopped_early,
        data_share=float(np.mean([row["data_share"] for row in state.history])),
        precision="bfloat16" if bf16 else "float32",
    )
