"""Torch runtime helpers shared by rule scripts and trainers: device, seeds, checkpoints.

Checkpoints are read with ``torch.load(weights_only=True)`` everywhere, so everything saved
through :func:`atomic_save` must be tensors or plain Python values (dict, list, tuple, str,
int, float, bool, None). :func:`rng_states` packs the global random states in that form.
"""

from __future__ import annotations

import ctypes
import logging
import os
import pickle
import platform
import random
import re
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from downscaling import __version__
from downscaling.jobs import atomic_output, config_hash, file_hash

# glibc's malloc gives blocks above its mmap threshold back to the kernel when they are freed
# (and trims the heap top above its trim threshold), so a new tensor of a few MB pays page
# faults on first touch, again and again. Keeping freed memory for reuse, as tcmalloc and
# jemalloc do (both recommended for PyTorch on CPU), measured 17-35 % off a CPU inference day
# at 1 member and half its non-model time (benchmarks/bench_inference.py).
MMAP_THRESHOLD = 32 * 2**20  # the largest glibc accepts on 64-bit: larger blocks still use mmap
TRIM_THRESHOLD = 2**30  # free memory at the top of the heap kept up to 1 GiB (a C int)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, from malloc.h


def reuse_freed_memory() -> bool:
    """Set glibc's malloc to keep freed memory for reuse rather than give it back to the kernel.
    Returns False, changing nothing, where the C library has no ``mallopt`` (not glibc)."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def select_device(threads: int) -> torch.device:
    """Return CUDA when a GPU is visible, else the CPU; either way torch uses ``threads`` host
    threads, and freed host memory is reused (``reuse_freed_memory``).

    ``threads`` is the rule's ``threads:`` value. Inter-op threads can only be set once per
    process (torch raises RuntimeError afterwards); a second call keeps the first value.
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    reuse_freed_memory()
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # already set, or parallel work has started: keep what is there
        pass
    if torch.cuda.is_available():
        return torch.device("cuda")
    allocated = allocated_gpus()
    if allocated:
        # e.g. the job's environment has a CPU-only torch: running on, slowly, is a choice to see
        logging.getLogger("downscaling").warning(
            "the job was allocated GPU(s) %s, but torch %s cannot use them (CUDA build: %s); running on the CPU",
            allocated,
            torch.__version__,
            torch.version.cuda or "none, a CPU-only build",
        )
    return torch.device("cpu")


def allocated_gpus() -> str:
    """The GPUs SLURM (or the user) gave this process, from the environment; '' for none."""
    for name in ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "CUDA_VISIBLE_DEVICES"):
        value = os.environ.get(name, "").strip()
        if value and value not in ("-1", "NoDevFiles"):
            return f"{value} ({name})"
    return ""


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and all GPUs)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_states() -> dict[str, Any]:
    """The global random states of torch, CUDA, NumPy and Python in a ``weights_only``-safe form."""
    np_name, np_key, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    py_version, py_internal, py_gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),  # ByteTensor
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_name, np_key.tolist(), int(np_pos), int(np_has_gauss), float(np_gauss)],
        "python": [py_version, list(py_internal), py_gauss_next],
    }


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore the global random states captured by :func:`rng_states`."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    np_name, np_key, np_pos, np_has_gauss, np_gauss = states["numpy"]
    np.random.set_state((np_name, np.asarray(np_key, dtype=np.uint32), np_pos, np_has_gauss, np_gauss))
    py_version, py_internal, py_gauss_next = states["python"]
    random.setstate((py_version, tuple(py_internal), py_gauss_next))


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj)`` to ``path`` so that a kill at any moment leaves either the old or the
    new file (:func:`downscaling.jobs.atomic_output`, flushed to disk before the rename)."""
    with atomic_output(path, fsync=True) as tmp, open(tmp, "wb") as stream:
        torch.save(obj, stream)


class CheckpointError(Exception):
    """A checkpoint or model file that cannot be read (truncated, overwritten, not a torch file)."""

    def __init__(self, path: Path, reason: str):
        self.path, self.reason = path, reason
        super().__init__(
            f"{path} cannot be read ({reason}): it is truncated or damaged. Delete it and run "
            "snakemake again: the rule that writes it reruns, and everything that depends on it"
        )


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`atomic_save` with ``weights_only=True`` (no code runs).

    Raises FileNotFoundError naming ``path`` when it is missing, CheckpointError naming it when
    it cannot be read (torch's own error names no file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(path, reason) from error


def constructor_kwargs(saved: dict) -> dict:
    """A saved model's constructor arguments as its constructor takes them (a weights-only
    checkpoint keeps the tuple of channel widths as a list)."""
    return dict(saved, channels=tuple(saved["channels"]))


def save_model(path, state_dict: dict, run_id: str, **meta) -> None:
    """Write a trained model of either stage, atomically and weights-only: its weights, then
    ``meta`` (what its stage's ``load`` needs to rebuild and use it), then the training run's id."""
    atomic_save({"state_dict": state_dict, **meta, "run_id": run_id}, path)


def load_model(path, build: Callable[[dict], torch.nn.Module], device="cpu") -> tuple[torch.nn.Module, dict]:
    """A model written by :func:`save_model`, in eval mode on ``device``, and everything saved
    with it; ``build`` makes the untrained model from the saved dict."""
    saved = load_checkpoint(path, map_location=device)
    model = build(saved)
    model.load_state_dict(saved["state_dict"])
    return model.to(device).eval(), saved


def bf16_is_native(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 in hardware (where autocast to it is a speed-up, not
    an emulation): a CUDA GPU with bf16, a CPU with AVX512-BF16 or AMX (read from Linux's
    /proc/cpuinfo; False elsewhere)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", flags) is not None


#: The values of a `precision` setting (inference and training).
PRECISIONS = ("auto", "float32", "bfloat16")


def check_precision(precision: str) -> None:
    """ValueError unless `precision` is one of PRECISIONS."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be auto, float32 or bfloat16, got {precision!r}")


def uses_bf16(precision: str, device: torch.device) -> bool:
    """Whether the setting `precision` (auto, float32, bfloat16) means bfloat16 autocast on `device`."""
    check_precision(precision)
    return precision == "bfloat16" or (precision == "auto" and bf16_is_native(device))


def git_commit(directory: str | os.PathLike = Path(__file__).parent) -> str:
    """The git commit of the checkout holding `directory` (with ``-dirty`` when tracked files
    differ from it), or ``unknown`` outside a git checkout or without git."""
    try:

        def git(*args):
            return subprocess.run(
                ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=30, check=True
            ).stdout.strip()

        commit = git("rev-parse", "HEAD")
        return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(config: dict, device: torch.device, checkpoints: dict[str, str | os.PathLike]) -> dict[str, Any]:
    """What produced an output: the SHA-256 (first 16 hex digits) of the whole resolved config,
    the pipeline's version and git commit, Python and torch versions, the device, and the full
    SHA-256 of every checkpoint used ({name: path} -> ``checkpoint_sha256_<name>``)."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    return {
        "config_sha256": config_hash(config),
        "pipeline_version": __version__,
        "git_commit": git_commit(),
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "device": f"{device.type} ({name})",
        **{f"checkpoint_sha256_{key}": file_hash(path) for key, path in checkpoints.items()},
    }
