"""Runtime helpers: hashes, atomic checkpoints, RNG states that survive weights_only, log redirection."""

import hashlib
import logging
import platform
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from downscaling.jobs import config_hash, failed_job_causes, file_hash, last_error, log_to_file
from downscaling.runtime import (
    atomic_save,
    load_checkpoint,
    rng_states,
    seed_everything,
    select_device,
    set_rng_states,
)


def test_config_hash_is_canonical():
    first = config_hash({"lr": 1e-3, "channels": [16, 32], "area": {"lat": [20, 29]}})
    assert first == config_hash({"area": {"lat": [20, 29]}, "channels": [16, 32], "lr": 1e-3})
    assert first != config_hash({"lr": 1e-3, "channels": [16, 64], "area": {"lat": [20, 29]}})
    assert len(first) == 16 and int(first, 16) >= 0


def test_file_hash_matches_hashlib(tmp_path):
    path = tmp_path / "data.bin"
    payload = np.random.default_rng(0).bytes(3_000_000)  # several read chunks
    path.write_bytes(payload)
    assert file_hash(path) == hashlib.sha256(payload).hexdigest()


def test_atomic_save_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "state.ckpt"
    atomic_save({"weights": torch.ones(3), "epoch": 1}, path)
    atomic_save({"weights": torch.zeros(3), "epoch": 2}, path)
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 2 and torch.equal(loaded["weights"], torch.zeros(3))
    assert [p.name for p in path.parent.iterdir()] == ["state.ckpt"]
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        load_checkpoint(tmp_path / "missing.ckpt")


def test_rng_states_survive_weights_only_round_trip(tmp_path):
    def draws():
        return random.random(), np.random.standard_normal(3).tolist(), torch.rand(3)

    seed_everything(5)
    np.random.standard_normal()  # leaves a cached Gaussian in NumPy's state
    atomic_save({"rng": rng_states()}, tmp_path / "rng.ckpt")
    expected = draws()
    seed_everything(99)
    set_rng_states(load_checkpoint(tmp_path / "rng.ckpt")["rng"])
    python_draw, numpy_draws, torch_draws = draws()
    assert (python_draw, numpy_draws) == expected[:2] and torch.equal(torch_draws, expected[2])


def test_log_to_file_captures_stderr_and_logging(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stderr", sys.stderr)  # restored after the test
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    log = log_to_file(tmp_path / "logs" / "job.log")
    try:
        log.info("epoch 1/3")
        print("a warning on stderr", file=sys.stderr)
        text = (tmp_path / "logs" / "job.log").read_text()
        assert "epoch 1/3" in text and "a warning on stderr" in text
    finally:
        sys.stderr.close()  # the log file
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def test_last_error_is_the_exception_of_the_last_traceback_or_the_last_line():
    log = (
        "2005 INFO start\nTraceback (most recent call last):\n  File \"x.py\", line 1\n    raise\nKeyError: 'old'\n"
        'During handling ...\nTraceback (most recent call last):\n  File "y.py", line 2\n'
        "downscaling.ingest.granules.IngestError: a.nc: bad\nsecond line\n\n"
    )
    assert last_error(log) == "downscaling.ingest.granules.IngestError: a.nc: bad\nsecond line"
    assert last_error("step 1\nKilled\n  \n") == "Killed"
    assert last_error("") == "(the log is empty)"


def test_failed_job_causes_reads_snakemake_s_log_and_each_job_log(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("logs").mkdir()
    Path("logs/a.log").write_text("Traceback (most recent call last):\n  x\nValueError: boom\n")
    main = tmp_path / "snakemake.log"
    main.write_text(
        "Error in rule a:\n    message: None\n    jobid: 1\n    output: x.txt\n"
        "    log: logs/a.log (check log file(s) for error details)\n\n"
        "Error in rule b:\n    jobid: 2\n    log: logs/b.log (check log file(s) for error details)\n"
    )
    assert failed_job_causes(main) == [
        "rule a failed (logs/a.log):\n    ValueError: boom",
        "rule b failed (logs/b.log):\n    (no log written)",
    ]


def test_select_device_on_this_machine():
    threads = torch.get_num_threads()
    device = select_device(threads)
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert torch.get_num_threads() == threads
    with pytest.raises(ValueError, match="threads"):
        select_device(0)


def python_in_a_fresh_process(code: str, *args: str) -> str:
    """stdout of ``python -c code args`` run beside the library, in a process of its own."""
    scripts = Path(__file__).resolve().parents[1] / "workflow" / "scripts"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, cwd=scripts
    ).stdout


def test_a_gpu_allocated_but_not_usable_is_a_warning_naming_both(monkeypatch, caplog):
    for name in ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    caplog.set_level(logging.WARNING, logger="downscaling")
    assert select_device(1).type == "cpu" and caplog.text == ""  # nothing allocated: nothing to say
    monkeypatch.setenv("SLURM_JOB_GPUS", "3")
    assert select_device(1).type == "cpu"
    assert "allocated GPU(s) 3 (SLURM_JOB_GPUS)" in caplog.text and f"torch {torch.__version__}" in caplog.text


def test_the_job_helpers_and_evaluation_do_not_import_torch():
    # most jobs never use torch; importing it would cost each of them ~1.5 s
    code = (
        "import sys, downscaling.jobs, downscaling.ingest.manifest, downscaling.ingest.cubes, downscaling.data.splits, "
        "downscaling.evaluation.scoring, downscaling.evaluation.comparison, downscaling.evaluation.probe_summary, "
        "downscaling.plots.figures; print('torch' in sys.modules)"
    )
    assert python_in_a_fresh_process(code).strip() == "False"


MALLOC_OF_A_TENSOR = """
import ctypes, sys, torch
from downscaling.runtime import reuse_freed_memory
FIELDS = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")
class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in FIELDS]
mallinfo2 = ctypes.CDLL(None).mallinfo2
mallinfo2.restype = Mallinfo2
if sys.argv[1] == "reuse":
    assert reuse_freed_memory()
mapped = mallinfo2().hblkhd
tensor = torch.ones(5_000_000)  # 20 MB, touched
mapped = mallinfo2().hblkhd - mapped
del tensor
print(mapped, mallinfo2().fordblks)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_freed_tensor_memory_stays_in_the_heap_for_reuse():
    # glibc's defaults map a 20 MB tensor on its own and unmap it when freed (the next one
    # faults in fresh pages); after reuse_freed_memory it comes from the heap and stays there
    mapped, free_in_heap = map(int, python_in_a_fresh_process(MALLOC_OF_A_TENSOR, "default").split())
    assert mapped >= 20_000_000 and free_in_heap < 20_000_000
    mapped, free_in_heap = map(int, python_in_a_fresh_process(MALLOC_OF_A_TENSOR, "reuse").split())
    assert mapped == 0 and free_in_heap >= 20_000_000


def test_provenance_names_config_software_device_and_every_checkpoint(tmp_path):
    from downscaling import __version__, runtime

    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"weights")
    described = runtime.provenance({"seed": 1, "areas": {"west": {}}}, torch.device("cpu"), {"model": checkpoint})
    assert described["config_sha256"] == config_hash({"areas": {"west": {}}, "seed": 1})
    assert described["checkpoint_sha256_model"] == file_hash(checkpoint)
    assert described["pipeline_version"] == __version__ and described["torch_version"] == torch.__version__
    assert described["device"].startswith("cpu")
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", described["git_commit"])  # this checkout
    assert runtime.git_commit(tmp_path) == "unknown"  # not a git checkout
