"""The real workflow on the tiny config: contract outputs, targets, staleness, resume.

One full run (about seven minutes on 2 cores) in a temporary directory feeds every test here;
the staleness tests only dry-run on top of it.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cf_tools
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "configs" / "tiny.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile")]
MODELS = [
    "ddpm_residual",
    "ddpm",
    "ddpm_scratch",
    "ddpm_notransfer",
    "unet",
    "interp",
    "interp_qm",
    "interp_mm",
    "interp_qm_stochastic",
    "persistence",
]
SEASONS, MODES = ["MAM", "JJA"], ["strict", "lenient"]


def snakemake(workdir, *args, config=None, check=True, timeout=1200, env=None):
    cmd = SNAKEMAKE + ["--directory", str(workdir), "--configfile", str(config or workdir / "config.yaml")]
    result = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def planned_jobs(workdir, *targets, config=None) -> dict:
    """Dry run: {rule: [output paths]} of the jobs Snakemake would run."""
    out = snakemake(workdir, "-n", *targets, config=config).stdout
    jobs = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out):
        rule = re.match(r"(?:local)?rule (\w+):", block.strip())
        output = re.search(r"output: (.*)", block)
        if rule and output:
            jobs.setdefault(rule.group(1), []).extend(output.group(1).split(", "))
    return jobs


FIXED_DATE = {**os.environ, "SOURCE_DATE_EPOCH": "1764547200"}


def tiny_run(workdir: Path, *targets: str) -> Path:
    shutil.copy(TINY, workdir / "config.yaml")
    snakemake(workdir, "--cores", "2", *targets, env=FIXED_DATE)
    return workdir


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The tiny run every test reads; a test that runs jobs runs them in a `copy_of` it, so
    that no test leaves stale files for another to remake."""
    return tiny_run(tmp_path_factory.mktemp("tiny"))


def copy_of(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy, symlinks=True)  # copy2 keeps the mtimes: nothing is stale
    return copy


def checksums(workdir: Path) -> dict[str, str]:
    """SHA-256 of every result file but those that hold wall-clock facts by design: training
    timings (training.json, resume checkpoints), the raw files' mtimes (results/inputs) and the
    report."""
    skip = ("results/checkpoints/", "results/inputs/", "training.json", "report.html")
    return {
        str(path.relative_to(workdir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted((workdir / "results").rglob("*"))
        if path.is_file() and not any(part in str(path.relative_to(workdir)) for part in skip)
    }


def test_the_same_config_gives_byte_identical_files(run, tmp_path_factory):
    """Every rule's outputs made again from the same config: the season-independent part (the
    synthetic world, ingest, the domain diagnostic) in an empty folder, and one season's
    chain (splits, models, calibration, downscaled files, scores) with everything downstream
    of it (the long run, the summary, the figures) in a copy of the run without that season's
    files. MAM runs the same code as JJA: rerunning it too would double the cost, not the
    coverage."""
    first = checksums(run)
    assert len(first) > 100 and any(name.endswith("model.pt") for name in first)

    upstream = checksums(
        tiny_run(
            tmp_path_factory.mktemp("upstream_again"),
            "results/diagnostics/wasserstein/west.json",
            "results/data/west/static.nc",
            "results/data/west/coastline.nc",
        )
    )
    assert {f"results/data/west/{cube}.nc" for cube in ("merra2", "g5nr", "merra2_on_g5nr")} <= upstream.keys()
    assert [name for name in upstream if upstream[name] != first.get(name)] == []

    again = copy_of(run, tmp_path_factory.mktemp("season_again"))
    season_files = [
        path
        for path in (again / "results").rglob("*")
        if path.is_file() and ("JJA" in path.relative_to(again).parts or path.stem == "JJA")
    ]
    assert len(season_files) > 50 and any(path.name == "model.pt" for path in season_files)
    for path in season_files:
        path.unlink()
    copied = time.time()
    snakemake(again, "--cores", "2", env=FIXED_DATE)
    second = checksums(again)
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []
    for remade in ("results/longrun/west/2005-08-21_2005-08-31.nc", "results/metrics/summary.csv"):
        assert (again / remade).stat().st_mtime > copied  # downstream of the season: made again too


def test_contract_outputs_exist_and_are_sane(run):
    for area_file in ("merra2", "g5nr", "merra2_on_g5nr", "static"):
        assert (run / "results" / "data" / "west" / f"{area_file}.nc").exists()
    wd = json.loads((run / "results/diagnostics/wasserstein/west.json").read_text())
    assert set(wd["per_day"]) == {"mean", "median", "p10", "p90", "n_days"} and wd["pooled"] > 0
    for season in SEASONS:
        split = pd.read_csv(run / f"results/splits/g5nr/{season}.csv")
        assert set(split.columns) == {"date", "split"} and (split.split == "test").any()
    summary = pd.read_csv(run / "results/metrics/summary.csv")
    assert len(summary) == len(MODELS) * len(MODES) * len(SEASONS)
    page = (run / "results/metrics/summary.html").read_text()  # the scientist's first page
    assert "Transfer ablation" in page and "ddpm_scratch's encoder: R²" in page and "domain gap" in page
    strict = summary.query("mode == 'strict'")
    assert (strict["predicted_history_median"] >= 0).all() and strict["predicted_yesterday_days"].notna().all()
    assert summary.query("mode == 'lenient'")["predicted_history_median"].isna().all()
    for row in summary.itertuples():
        metrics = json.loads((run / f"results/metrics/{row.model}/{row.season}/{row.area}/{row.mode}.json").read_text())
        assert {"rmse", "mae", "r2", "nse", "kge", "n_days"} <= set(metrics)
        assert np.isfinite(metrics["rmse"]) and metrics["n_days"] > 0


def test_downscaled_files_are_cf_with_provenance(run):
    ds = xr.open_dataset(run / "results/downscaled/ddpm/JJA/west/strict.nc")
    assert ds["aod_mean"].attrs["units"] == "1" and "long_name" in ds["aod_mean"].attrs
    assert "_FillValue" in ds["aod_mean"].encoding
    assert ds.sizes["member"] == 2 and {"time", "lat", "lon"} <= set(ds.coords)
    for key in (
        "config_sha256",
        "pipeline_version",
        "git_commit",
        "torch_version",
        "device",
        "precision",
        "checkpoint_sha256_model",
        "checkpoint_sha256_small_unet",
        "sampler",
        "steps",
        "stride",
    ):
        assert f"provenance_{key}" in ds.attrs
    test_days = pd.read_csv(run / "results/splits/g5nr/JJA.csv", parse_dates=["date"]).query("split == 'test'")
    assert list(pd.DatetimeIndex(ds["time"].values)) == sorted(test_days.date)
    # the method calibrates its spread (tiny.yaml) from its validation days; the paper's ddpm does not
    assert "provenance_checkpoint_sha256_spread_calibration" not in ds.attrs
    method = xr.open_dataset(run / "results/downscaled/ddpm_residual/JJA/west/strict.nc")
    calibration = json.loads((run / "results/models/ddpm_residual/JJA/west/spread_calibration.json").read_text())
    assert method.attrs["provenance_checkpoint_sha256_spread_calibration"] and calibration["n_days"] > 0
    longrun = xr.open_dataset(run / "results/longrun/west/2005-08-21_2005-08-31.nc")
    assert longrun.sizes["time"] == 11
    skill = pd.read_csv(run / "results/evaluation/longrun/west/skill.csv")  # against the known truth
    assert list(skill["lead_days"]) == list(range(1, 12)) and skill["rmse"].notna().all()
    drift = pd.read_csv(run / "results/evaluation/longrun/west/drift.csv")
    assert list(drift["month"]) == ["2005-08"] and drift.at[0, "days"] == 11
    assert longrun.attrs["provenance_model"] == "ddpm_residual"  # the config's method
    residual = xr.open_dataset(run / "results/downscaled/ddpm_residual/JJA/west/strict.nc")
    assert residual.attrs["provenance_checkpoint_sha256_base"] != residual.attrs["provenance_checkpoint_sha256_model"]
    # the whole config, so the same hash in every output of one run; and every checkpoint used
    assert (
        residual.attrs["provenance_config_sha256"]
        == ds.attrs["provenance_config_sha256"]
        == longrun.attrs["provenance_config_sha256"]
    )
    assert {f"provenance_checkpoint_sha256_{kind}_JJA" for kind in ("model", "small_unet", "base")} <= set(
        longrun.attrs
    )


# Every kind of netCDF file the pipeline writes, with the variables CDO must read from it.
OUTPUT_KINDS = {
    "downscaled": ("results/downscaled/ddpm/JJA/west/strict.nc", 3),
    "long run": ("results/longrun/west/2005-08-21_2005-08-31.nc", 3),
    "ingested MERRA-2": ("results/data/west/merra2.nc", 1),
    "ingested G5NR": ("results/data/west/g5nr.nc", 1),
    "MERRA-2 on the G5NR grid": ("results/data/west/merra2_on_g5nr.nc", 1),
    "elevation on the G5NR grid": ("results/data/west/static.nc", 1),
    "land mask of the maps": ("results/data/west/coastline.nc", 1),
}


@pytest.mark.parametrize("kind", OUTPUT_KINDS)
def test_every_output_kind_passes_the_fields_checkers(run, kind):
    """cfchecks: no error, no warning; ACDD's highly recommended attributes, but a CF
    standard_name where CF has none (log10 of an optical thickness); CDO reads every variable."""
    path, variables = OUTPUT_KINDS[kind]
    assert cf_tools.cf_problems(run / path) == "", kind
    missing = cf_tools.acdd_highly_recommended(run / path)
    assert all(
        name.startswith('variable "log10_aod') and msgs == ["standard_name"] for name, msgs in missing.items()
    ), missing
    assert cf_tools.cdo_variables(run / path) == variables


def test_the_residual_model_plans_the_model_it_builds_on(run, tmp_path):
    jobs = planned_jobs(
        tmp_path, "results/metrics/ddpm_residual/JJA/west/strict.json", config=raw_config(run, tmp_path)
    )
    assert sorted(jobs["train_large_model"]) == sorted(
        f"results/models/{m}/JJA/west/{f}" for m in ("unet", "ddpm_residual") for f in ("model.pt", "training.json")
    )
    assert jobs["downscale"] == ["results/downscaled/ddpm_residual/JJA/west/strict.nc"]


def test_nothing_left_to_do_after_a_run(run):
    assert "Nothing to be done" in snakemake(run, "-n").stdout


def test_training_logs_show_progress_and_resume_works(run):
    log = (run / "logs/train_small_unet/JJA/west.log").read_text()
    assert re.search(r"epoch 2/2 .*train .*val .*lr .*ETA", log, re.I), log[-2000:]


def raw_config(run, tmp_path, **changes) -> Path:
    """The tiny config on the run's raw files with synthetic generation off, plus changes."""
    config = yaml.safe_load(TINY.read_text())
    config["synthetic"] = {"enabled": False}
    config["inputs"] = {
        k: str(run / v) if k in ("merra2", "g5nr", "elevation") else v for k, v in config["inputs"].items()
    }
    config.update(changes)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_targeting_one_seasons_metrics_builds_only_its_chain(run, tmp_path):
    areas = {"west": {"lat": [20.0, 24.0], "lon": [40.0, 45.0]}, "south": {"lat": [20.0, 24.0], "lon": [41.0, 46.0]}}
    config = raw_config(run, tmp_path, areas=areas)
    # south is the first area (areas are sorted), whose cubes carry the shared time axis
    jobs = planned_jobs(tmp_path, "results/metrics/ddpm/JJA/south/strict.json", config=config)
    outputs = [o for paths in jobs.values() for o in paths]
    assert "train_large_model" in jobs and "downscale" in jobs and "evaluate" in jobs
    assert not any("MAM" in o or "west" in o for o in outputs), outputs
    assert not any("ddpm_notransfer" in o or "/unet/" in o or "interp" in o for o in outputs)
    assert "results/splits/merra2/JJA.csv" in outputs  # the small U-Net's split, and no other season's


def test_editing_one_seasons_override_reruns_exactly_that_season(run):
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["overrides"] = {"west": {"MAM": {"small_unet": {"max_epochs": 3}}}}
    edited = run / "config_override.yaml"
    edited.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = planned_jobs(run, config=edited)
    outputs = [o for paths in jobs.values() for o in paths]
    assert "train_small_unet" in jobs and jobs["train_small_unet"] == ["results/models/small_unet/MAM/west/model.pt"]
    assert not any(
        "/JJA/" in o
        for o in outputs
        if "/MAM/" not in o and "summary" not in o and "longrun" not in o and "ensemble_skill" not in o
    ), outputs


def test_switching_to_the_blocked_design_reruns_the_splits_and_what_depends_on_them(run):
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["splits"].update(test_design="blocked", gap_days=7)  # the default gap leaves MAM no training day
    edited = run / "config_blocked.yaml"
    edited.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = planned_jobs(run, config=edited)
    assert "splits" in jobs and "train_small_unet" in jobs and "downscale" in jobs and "summary" in jobs
    assert not {
        "synthetic_data",
        "ingest_merra2",
        "ingest_g5nr",
        "regrid_merra2",
        "ingest_elevation",
        "wasserstein",
    } & set(jobs)


def edited_config(run, name, change) -> Path:
    config = yaml.safe_load((run / "config.yaml").read_text())
    change(config)
    path = run / f"config_{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_the_authors_evaluation_definitions_make_only_evaluation_stale(run):
    jobs = planned_jobs(
        run, config=edited_config(run, "authors_scores", lambda c: c["evaluation"].update(definitions="authors"))
    )
    assert {"evaluate", "temporal_diagnostics", "summary"} <= set(jobs)
    assert not {"train_small_unet", "train_large_model", "downscale", "downscale_longrun", "splits"} & set(jobs)


def test_the_authors_sampler_makes_only_inference_and_what_follows_stale(run):
    jobs = planned_jobs(
        run,
        config=edited_config(
            run, "authors_sampler", lambda c: c["inference"].update(timestep_spacing="leading", clip_x0=False)
        ),
    )
    assert {"downscale", "downscale_longrun", "evaluate", "summary"} <= set(jobs)
    assert not {"train_small_unet", "train_large_model", "extract_features", "splits"} & set(jobs)
    # the baselines do not sample: they stay as they are
    assert not any("/interp" in o or "/persistence/" in o for o in jobs["downscale"])


def modified(path: Path):
    """Rewrite a raw netCDF file with new content (a global attribute), as an update would."""
    import netCDF4

    with netCDF4.Dataset(path, "a") as ds:
        ds.setncattr("history", f"reprocessed {time.time()}")


def test_updating_a_raw_input_reruns_its_dependents_only(run):
    # a raw file counts as changed when its size or mtime changes (results/inputs/{source}.tsv)
    granule = sorted((run / "resources/synthetic/merra2").glob("*.nc4"))[10]
    elevation = run / "resources/synthetic/elevation.nc"
    # mtimes restored to the nanosecond: the input manifests record them so
    originals = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in (granule, elevation)}
    try:
        modified(granule)
        jobs = planned_jobs(run)
        assert "ingest_merra2" in jobs and "train_small_unet" in jobs
        assert "ingest_g5nr" not in jobs and "ingest_elevation" not in jobs and "synthetic_data" not in jobs
        path, (content, mtime) = granule, originals[granule]
        path.write_bytes(content)
        os.utime(path, ns=(mtime, mtime))
        modified(elevation)
        jobs = planned_jobs(run)
        assert "ingest_elevation" in jobs and "ingest_merra2" not in jobs and "ingest_g5nr" not in jobs
        assert "train_small_unet" not in jobs and "extract_features" not in jobs  # they never read elevation
    finally:
        for path, (content, mtime) in originals.items():
            path.write_bytes(content)
            os.utime(path, ns=(mtime, mtime))
    assert "Nothing to be done" in snakemake(run, "-n").stdout


def test_a_killed_training_job_resumes_from_its_checkpoint(run, tmp_path):
    run = copy_of(run, tmp_path)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["overrides"] = {"west": {"JJA": {"small_unet": {"max_epochs": 6, "tiles_per_epoch": 2048}}}}
    edited = run / "config_resume.yaml"
    edited.write_text(yaml.safe_dump(config, sort_keys=False))
    target = "results/models/small_unet/JJA/west/model.pt"
    log = run / "logs/train_small_unet/JJA/west.log"
    cmd = SNAKEMAKE + ["--directory", str(run), "--configfile", str(edited), "--cores", "1", target]
    job = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and not re.search(r"epoch 2/6", log.read_text() if log.exists() else ""):
        time.sleep(0.5)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    assert "epoch 2/6" in log.read_text()
    snakemake(run, "--unlock", config=edited)  # a killed Snakemake leaves its lock behind
    snakemake(run, "--cores", "1", "--rerun-incomplete", target, config=edited)
    text = log.read_text()
    assert "resuming from checkpoint" in text and "epoch 6/6" in text
    assert "epoch 1/6" not in text  # it did not start over


def test_a_killed_long_run_continues_from_its_last_finished_chunk(run, tmp_path):
    run = copy_of(run, tmp_path)
    target = "results/longrun/west/2005-08-21_2005-08-31.nc"
    reference = xr.load_dataset(run / target)
    (run / target).unlink()  # its chunks were temporary: all three of each member rerun
    chunk_logs = run / "logs/downscale_longrun/west/2005-08-21_2005-08-31"
    for log in chunk_logs.rglob("*.log"):
        log.unlink()
    cmd = SNAKEMAKE + ["--directory", str(run), "--configfile", str(run / "config.yaml"), "--cores", "1", target]
    job = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and not (chunk_logs / "member0/2005-08-25.log").exists():  # member 0's chunk 1 is done
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    assert not (run / target).exists()
    assert not (run / "results/longrun/west/2005-08-21_2005-08-31/member0/2005-08-29.nc").exists()
    first_chunk_log = (chunk_logs / "member0/2005-08-21.log").read_text()
    snakemake(run, "--unlock")
    snakemake(run, "--cores", "1", "--rerun-incomplete", target)
    assert (chunk_logs / "member0/2005-08-21.log").read_text() == first_chunk_log  # not run again
    resumed = xr.load_dataset(run / target)
    for name in ("aod_member", "aod_mean", "log10_aod_spread"):
        np.testing.assert_array_equal(resumed[name].values, reference[name].values)
    assert list(resumed["time"].values) == list(reference["time"].values)
    chunk_dir = run / "results/longrun/west/2005-08-21_2005-08-31"
    assert not any(path.is_file() for path in chunk_dir.rglob("*"))  # the chunks were temporary


def test_the_wasserstein_target_builds_only_what_it_needs(run, tmp_path):
    areas = {"west": {"lat": [20.0, 24.0], "lon": [40.0, 45.0]}, "south": {"lat": [20.0, 24.0], "lon": [41.0, 46.0]}}
    jobs = planned_jobs(
        tmp_path, "results/diagnostics/wasserstein/west.json", config=raw_config(run, tmp_path, areas=areas)
    )
    assert set(jobs) == {"ingest_merra2", "ingest_g5nr", "join_ingested", "regrid_merra2", "wasserstein"}
    assert all("/west" in o for paths in jobs.values() for o in paths)


def downscaling_command():
    """The installed `downscaling` command (pip install -e .), else the module run from the tree."""
    installed = Path(sys.executable).with_name("downscaling")
    if installed.exists():
        return [str(installed)], dict(os.environ)
    return [sys.executable, "-m", "downscaling.cli"], {**os.environ, "PYTHONPATH": str(REPO / "workflow" / "scripts")}


def test_the_command_downscales_a_period_as_the_workflow_does(run, tmp_path):
    command, env = downscaling_command()
    # one thread, as the workflow's jobs: reductions split over threads round differently
    args = [
        "downscale",
        "--results",
        str(run / "results"),
        "--area",
        "west",
        "--merra2",
        str(run / "resources/synthetic/merra2/MERRA2_*.nc4"),
        "--config",
        str(run / "config.yaml"),
        "--threads",
        "1",
    ]
    out = tmp_path / "west.nc"
    result = subprocess.run(
        command + args + ["--start", "2005-08-21", "--end", "2005-08-31", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # the workflow's long run of the same period, bit for bit: same models, MERRA-2, history,
    # noise streams, and each member's chain denoised on its own in both
    produced, workflow = xr.open_dataset(out), xr.open_dataset(run / "results/longrun/west/2005-08-21_2005-08-31.nc")
    np.testing.assert_array_equal(produced["aod_member"].values, workflow["aod_member"].values)
    assert produced.attrs["provenance_model"] == "ddpm_residual"
    # a period inside the G5NR record starts from the true days before it
    inside = subprocess.run(
        command
        + args
        + ["--start", "2005-08-01", "--end", "2005-08-03", "--members", "2", "--out", str(tmp_path / "inside.nc")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert inside.returncode == 0, inside.stderr[-3000:]
    g5nr = xr.open_dataset(run / "results/data/west/g5nr.nc")
    assert dict(xr.open_dataset(tmp_path / "inside.nc")["aod_member"].sizes) == {
        "time": 3,
        "member": 2,
        "lat": g5nr.sizes["lat"],
        "lon": g5nr.sizes["lon"],
    }
    # a period without the history it needs: one line naming the dates, exit status 1
    early = subprocess.run(
        command + args + ["--start", "2005-01-02", "--end", "2005-01-03", "--out", str(tmp_path / "no.nc")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert early.returncode == 1 and "the history needs 40" in early.stderr and not (tmp_path / "no.nc").exists()
    # settings the models cannot sample with: the config check's line, before any work
    for option, expected in (
        (["--members", "0"], "inference.members: 0 must be at least 1"),
        (["--halo", "4"], "inference.halo: 4 must be in 0..3"),
    ):
        refused = subprocess.run(
            command
            + args
            + ["--start", "2005-08-21", "--end", "2005-08-22", *option, "--out", str(tmp_path / "refused.nc")],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert refused.returncode == 1 and expected in refused.stderr, refused.stderr[-2000:]
        assert not (tmp_path / "refused.nc").exists()


def test_a_second_design_and_the_data_efficiency_study_run_beside_the_first_without_touching_it(run, tmp_path):
    """Both are the workflow again as modules on the same ingested data: one run of both (one
    copy, one DAG) costs less than one of each and checks that they do not collide either."""
    both = copy_of(run, tmp_path)
    models = ["ddpm_residual", "unet", "persistence"]  # the method, its base and a baseline
    config = edited_config(
        both,
        "modules",
        lambda c: c.update(
            second_design={"splits": {"test_design": "blocked", "gap_days": 7}, "models": models},
            data_efficiency={"record_fractions": [0.5]},
        ),
    )
    jobs = planned_jobs(both, config=config)
    second = {rule: outputs for rule, outputs in jobs.items() if rule.startswith("second_design_")}
    share = {rule: outputs for rule, outputs in jobs.items() if rule.startswith("records_50_")}
    # no ingest again, nothing of the first design
    assert set(jobs) - set(second) - set(share) == {"summary", "data_efficiency"}
    assert {
        "splits",
        "train_small_unet",
        "extract_features",
        "train_large_model",
        "spread_calibration",
        "downscale",
        "evaluate",
        "summary",
    } == {rule.removeprefix("second_design_") for rule in second}
    assert all(o.startswith("results/designs/blocked/") for outputs in second.values() for o in outputs)
    assert all(o.startswith("results/designs/records_50/") for outputs in share.values() for o in outputs)
    trained = {Path(o).parts[-4] for o in share["records_50_train_large_model"]}
    assert trained == {"ddpm", "ddpm_scratch", "ddpm_notransfer"}  # the tiny config's ablation family

    before = checksums(both)
    snakemake(both, "--cores", "2", config=config)
    after = checksums(both)
    assert [name for name in before if before[name] != after[name]] == [
        "results/metrics/designs.csv",
        "results/metrics/summary.html",
    ]

    # the second design
    blocked = pd.read_csv(both / "results/designs/blocked/splits/g5nr/JJA.csv", parse_dates=["date"])
    assert blocked.query("split == 'test'")["date"].diff().dropna().dt.days.eq(1).all()  # one block
    # each design trains and resumes from its own files
    assert (both / "results/designs/blocked/checkpoints/unet/JJA/west.pt").is_file()
    assert (both / "logs/designs/blocked/train_large_model/unet/JJA/west.log").is_file()
    designs = pd.read_csv(both / "results/metrics/designs.csv")
    assert designs["design"].unique().tolist() == ["blocked", "random"]  # the one to quote first
    assert set(designs["model"]) == set(models) and (designs["groups"] == len(SEASONS)).all()
    others = designs[designs["model"] != "ddpm_residual"]
    assert (others[["crps_lower", "crps_higher", "crps_tied"]].sum(axis=1) == len(SEASONS)).all()
    assert "Both test designs, side by side" in (both / "results/metrics/summary.html").read_text()

    # the data-efficiency study
    for season in SEASONS:
        full, half = (
            pd.read_csv(both / f"results/{tree}splits/g5nr/{season}.csv") for tree in ("", "designs/records_50/")
        )
        assert (half.split == "train").sum() == np.ceil((full.split == "train").sum() / 2)
        assert half.query("split == 'test'").equals(full.query("split == 'test'"))
    table = pd.read_csv(both / "results/metrics/data_efficiency.csv")
    assert sorted(table.record_fraction.unique()) == [0.5, 1.0]
    for _, rows in table.groupby("record_fraction"):  # each share: both effects in every group
        assert len(rows) == 2 * len(SEASONS) * len(MODES) and set(rows.effect) == {"transfer", "history"}
        assert (rows.days > 0).all() and rows.rmse_model.notna().all()
    assert (both / "results/metrics/data_efficiency.png").stat().st_size > 10_000
