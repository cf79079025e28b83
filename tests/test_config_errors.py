"""A config that is wrong beyond its schema is refused when Snakemake plans, naming key and value."""
import copy
from pathlib import Path

import jsonschema
import pytest
import yaml

from downscaling import config_checks
from downscaling.ingest import Box
from test_ingest_errors import run_snakemake, tiny_config

TINY = yaml.safe_load((Path(__file__).resolve().parent / "configs" / "tiny.yaml").read_text())


def with_change(change) -> dict:
    config = copy.deepcopy(TINY)
    change(config)
    return config


def test_the_tiny_and_demo_configs_have_no_problem():
    demo = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())
    paper = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "paper.yaml").read_text())
    assert config_checks.problems(TINY) == config_checks.problems(demo) == config_checks.problems(paper) == []


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda c: c.update(periods={"merra2": ["2006-12-31", "2004-01-01"]}),
         "periods.merra2: ['2006-12-31', '2004-01-01'] ends before it starts"),
        (lambda c: c.update(periods={"g5nr": ["2005-02-30", "2005-03-01"]}),
         "periods.g5nr: ['2005-02-30', '2005-03-01'] is not a pair of dates"),
        (lambda c: c["synthetic"].update(g5nr_period=["2005-09-01", "2005-05-01"]),
         "synthetic.g5nr_period: ['2005-09-01', '2005-05-01'] ends before it starts"),
        (lambda c: c["longrun"].update(start="2006-01-10", end="2006-01-01"),
         "longrun.start/end: ['2006-01-10', '2006-01-01'] ends before it starts"),
        (lambda c: c["areas"].update(west={"lat": [36, 28], "lon": [40, 45]}),
         "areas.west: lat [36, 28] must be [south, north] with south < north in -90..90"),
        (lambda c: c["areas"].update(west={"lat": [20, 28], "lon": [200, 210]}),
         "areas.west: lon [200, 210] must be [west, east] with west < east in -180..180"),
        (lambda c: c.update(overrides={"north": {"JJA": {"ddpm": {"max_epochs": 2}}}}),
         "overrides.north: no such area; areas are"),
        (lambda c: c.update(overrides={"west": {"DJF": {"ddpm": {"max_epochs": 2}}}}),
         "overrides.west.DJF: DJF is not one of seasons"),
        (lambda c: c.update(overrides={"west": {"JJA": {"ddpm": {"max_epoch": 2}}}}),
         "overrides.west.JJA.ddpm: Additional properties are not allowed ('max_epoch' was unexpected)"),
        (lambda c: c.update(per_model={"ddpm": {"inference": {"steps": "many"}}}),
         "per_model.ddpm.inference.steps: 'many' is not of type 'integer'"),
        (lambda c: c["longrun"].update(areas=["north"]),
         "longrun.areas: 'north' is not one of areas"),
        (lambda c: c.update(models=["ddpm", "ddpm_transfer"], method="ddpm"),
         "models: 'ddpm_transfer' is not a model; models are ['ddpm_residual', 'ddpm', 'ddpm_scratch'"),
        (lambda c: c.update(models=["ddpm_residual", "interp"], method="ddpm_residual"),
         "models: ddpm_residual builds on unet; add unet to models"),
        (lambda c: c.update(models=["ddpm", "unet"], method="unet"),
         "method: 'unet' must be a diffusion model of models ['ddpm']"),
        (lambda c: c.update(per_model={"interp": {"inference": {"steps": 2}}}),
         "per_model.interp: 'interp' is not a trained model"),
    ],
)
def test_each_problem_names_the_key_and_the_value(change, expected):
    found = config_checks.problems(with_change(change))
    assert len(found) == 1 and found[0].startswith(expected), found


def test_box_from_config_refuses_what_the_check_refuses():
    with pytest.raises(ValueError, match=r"lat \[36, 28\] must be \[south, north\]"):
        Box.from_config({"lat": [36, 28], "lon": [40, 45]})


def test_snakemake_refuses_a_bad_config_before_any_job(tmp_path):
    config = tiny_config(areas={"a": {"lat": [36, 28], "lon": [40.625, 42.0]}},
                         overrides={"b": {"JJA": {"ddpm": {"max_epochs": 2}}}})
    done = run_snakemake(tmp_path, config, "-n")
    assert done.returncode != 0
    assert "areas.a: lat [36, 28] must be [south, north]" in done.stdout
    assert "overrides.b: no such area" in done.stdout
    assert not (tmp_path / "results").exists()


def test_a_long_run_with_another_member_count_in_one_season_is_refused(tmp_path):
    config = with_change(lambda c: c.update(overrides={"west": {"JJA": {"inference": {"members": 3}}}}))
    done = run_snakemake(tmp_path, config, "-n")
    assert done.returncode != 0
    assert "the long run of west needs one number of inference members in every season, got {'MAM': 2, 'JJA': 3}" in done.stdout


def test_every_schema_key_has_a_description():
    schema = yaml.safe_load(config_checks.SCHEMA.read_text())
    undescribed = []

    def walk(node, path):
        for key, value in node.get("properties", {}).items():
            if "description" not in value:
                undescribed.append(f"{path}{key}")
            walk(value, f"{path}{key}.")

    walk(schema, "")
    for name, definition in schema["definitions"].items():
        walk(definition, f"definitions.{name}.")
    assert undescribed == []


def test_area_names_may_hold_underscores():
    config = with_change(lambda c: c.update(areas={"saudi_arabia": c["areas"]["west"]},
                                            longrun={**c["longrun"], "areas": ["saudi_arabia"]}))
    jsonschema.Draft202012Validator(yaml.safe_load(config_checks.SCHEMA.read_text())).validate(config)
    assert config_checks.problems(config) == []


def test_the_library_fills_the_schema_defaults_as_snakemake_does():
    filled = config_checks.with_defaults(TINY)
    assert filled["inference"]["precision"] == "auto" and filled["evaluation"]["definitions"] == "project"
    assert "precision" not in TINY["inference"]  # a copy: the caller's config is untouched
    with pytest.raises(jsonschema.ValidationError, match="'many' is not of type 'integer'"):
        config_checks.with_defaults(with_change(lambda c: c["inference"].update(steps="many")))
