"""The library as a package: its schema ships with it, its defaults come from the schema, and the
file patterns the rules and the API share are written once (downscaling/paths.py)."""

import dataclasses
import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from downscaling import api, config_checks, paths
from downscaling.inference import stitched

REPO = Path(__file__).resolve().parents[1]


def test_the_schema_is_found_through_the_package_and_snakemake_reads_the_same_file():
    assert config_checks.SCHEMA.is_file() and config_checks.SCHEMA.parent.name == "downscaling"
    assert (REPO / "workflow" / "schemas" / "config.schema.yaml").resolve() == config_checks.SCHEMA.resolve()


@pytest.mark.skipif(importlib.util.find_spec("setuptools") is None, reason="needs setuptools to build a wheel")
def test_a_built_wheel_ships_the_schema_and_every_subpackage(tmp_path):
    source = tmp_path / "source"  # a copy: a build writes build/ and *.egg-info beside its sources
    shutil.copytree(REPO / "workflow" / "scripts" / "downscaling", source / "workflow" / "scripts" / "downscaling")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            str(source),
            "-w",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "downscaling/config.schema.yaml" in names
    library = REPO / "workflow" / "scripts"
    modules = {str(p.relative_to(library)) for p in (library / "downscaling").rglob("*.py")}
    assert modules <= names


def test_inference_settings_default_to_the_schema():
    defaults = config_checks.schema_defaults()["inference"]
    assert dataclasses.asdict(stitched.InferenceSettings()) == defaults
    settings, other = api.settings_from_config(None, "west", "ddpm_residual", ["JJA"])
    assert settings["JJA"] == stitched.InferenceSettings()
    assert other == {
        "seed": config_checks.schema_defaults()["seed"],
        "variable": "DUEXTTAU",
        "margin_deg": 1.5,
        "log_floor": 1e-6,
        "regrid": "nearest",
    }


def test_a_path_left_unfilled_is_a_snakemake_wildcard_of_the_same_name():
    assert paths.model() == "results/models/{model}/{season}/{area}/model.pt"
    assert paths.model("unet", "JJA", "west", results="/runs/a") == "/runs/a/models/unet/JJA/west/model.pt"
    assert paths.downscaled(mode="strict") == "results/downscaled/{model}/{season}/{area}/strict.nc"
    assert paths.per_day("unet", "JJA", "west", "lenient").endswith("metrics/unet/JJA/west/lenient_per_day.csv")
    assert (
        paths.longrun_chunk(suffix=".state.npz")
        == "results/longrun/{area}/{start}_{end}/member{member}/{chunk}.state.npz"
    )


def test_the_api_reads_a_finished_run_where_the_rules_wrote_it(tmp_path):
    trained = api.TrainedArea(tmp_path, "west", "ddpm_residual")
    assert trained.path("unet", "JJA") == tmp_path / "models" / "unet" / "JJA" / "west" / "model.pt"
    assert trained.static == Path(paths.area_data("static", "west", results=tmp_path))
    with pytest.raises(FileNotFoundError, match="no trained ddpm_residual of area 'west'"):
        trained.season_models()


def test_the_api_adds_a_spread_calibration_only_where_the_settings_ask_for_it(tmp_path):
    trained = api.TrainedArea(tmp_path, "west", "ddpm_residual")
    for path in (trained.path("ddpm_residual", "JJA"), trained.path("small_unet", "JJA"), trained.path("unet", "JJA")):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    for path in (trained.static, trained.g5nr):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    calibration = Path(paths.spread_calibration("ddpm_residual", "JJA", "west", results=tmp_path))
    with pytest.raises(FileNotFoundError, match="spread_calibration.json.*calibrate_spread"):
        trained.season_models(calibrated={"JJA"})
    calibration.touch()
    assert trained.seasons() == ["JJA"]
    assert trained.season_models(calibrated={"JJA"})["JJA"][3] == calibration
    assert trained.season_models()["JJA"][3] is None  # the file alone does not calibrate
