"""A config that is wrong beyond its schema is refused when Snakemake plans, naming key and value."""

import copy
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from test_ingest_errors import run_snakemake, tiny_config

from downscaling import config_checks, variants
from downscaling.ingest.cubes import Box

REPO = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())


def with_change(change) -> dict:
    config = copy.deepcopy(TINY)
    change(config)
    return config


def test_the_tiny_and_demo_configs_have_no_problem():
    demo = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())
    paper = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "paper.yaml").read_text())
    assert config_checks.problems(TINY) == config_checks.problems(demo) == config_checks.problems(paper) == []


def test_the_long_run_config_merged_over_the_demo_runs_to_the_end_of_the_known_truth():
    from snakemake.utils import update_config

    folder = Path(__file__).resolve().parents[1] / "config"
    config = yaml.safe_load((folder / "config.yaml").read_text())
    update_config(config, yaml.safe_load((folder / "longrun_long.yaml").read_text()))
    assert config_checks.problems(config) == []
    assert (
        config["longrun"]["start"] == "2006-06-17"
        and config["longrun"]["end"] == config["synthetic"]["merra2_period"][1]
    )


def test_the_transfer_study_merged_over_the_demo_adds_each_history_kind_with_its_models_settings():
    from snakemake.utils import update_config

    folder = Path(__file__).resolve().parents[1] / "config"
    study = yaml.safe_load((folder / "config.yaml").read_text())
    update_config(study, yaml.safe_load((folder / "transfer_study.yaml").read_text()))  # as --configfile does
    assert config_checks.problems(study) == []
    families = {family["transfer"]: family for family in variants.transfer_ablations(study["models"])}
    assert families["unet"] == {
        "transfer": "unet",
        "finetuned": "unet_finetuned",
        "scratch": "unet_scratch",
        None: "unet_notransfer",
    }
    assert families["ddpm"] == {
        "transfer": "ddpm",
        "finetuned": "ddpm_finetuned",
        "scratch": "ddpm_scratch",
        None: "ddpm_notransfer",
    }
    assert families["ddpm_residual"] == {
        "transfer": "ddpm_residual",
        "finetuned": "ddpm_residual_finetuned",
        "scratch": "ddpm_residual_scratch",
        None: "ddpm_residual_notransfer",
    }
    for kind, model in families["ddpm_residual"].items():  # each samples around its kind's mean
        assert variants.VARIANTS[model].residual_of == families["unet"][kind]
        # and is judged against that mean, as the paper's formulation is against the U-Net of its kind
        assert variants.deterministic_twin(model) == variants.deterministic_twin(families["ddpm"][kind])
        assert variants.deterministic_twin(model) == families["unet"][kind]
    assert variants.deterministic_twin("unet") is None and variants.deterministic_twin("interp_qm") is None
    study = config_checks.with_defaults(study)
    for family in families.values():  # an ablation differs from its model in the history alone
        for section in ("large_model", "inference"):
            settings = [config_checks.merged_section(study, section, "JJA", "west", m) for m in family.values()]
            assert all(s == settings[0] for s in settings), (section, family)
    assert config_checks.merged_section(study, "large_model", model="ddpm_residual_scratch")["max_epochs"] == 30
    # its own entry wins over its model's, and an error names the key that set the value
    study["per_model"]["ddpm_residual_scratch"] = {"large_model": {"max_epochs": 5}}
    assert config_checks.merged_section(study, "large_model", model="ddpm_residual_scratch")["max_epochs"] == 5
    assert config_checks.key_of(study, "large_model", "max_epochs", model="ddpm_residual_scratch") == (
        "per_model.ddpm_residual_scratch.large_model.max_epochs"
    )
    assert config_checks.key_of(study, "large_model", "tiles_per_epoch", model="ddpm_residual_scratch") == (
        "per_model.ddpm_residual.large_model.tiles_per_epoch"
    )


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            lambda c: c.update(periods={"merra2": ["2006-12-31", "2004-01-01"]}),
            "periods.merra2: ['2006-12-31', '2004-01-01'] ends before it starts",
        ),
        (
            lambda c: c.update(periods={"g5nr": ["2005-02-30", "2005-03-01"]}),
            "periods.g5nr: ['2005-02-30', '2005-03-01'] is not a pair of dates",
        ),
        (
            lambda c: c["synthetic"].update(g5nr_period=["2005-09-01", "2005-05-01"]),
            "synthetic.g5nr_period: ['2005-09-01', '2005-05-01'] ends before it starts",
        ),
        (
            lambda c: c["longrun"].update(start="2006-01-10", end="2006-01-01"),
            "longrun.start/end: ['2006-01-10', '2006-01-01'] ends before it starts",
        ),
        (
            lambda c: c["areas"].update(west={"lat": [36, 28], "lon": [40, 45]}),
            "areas.west: lat [36, 28] must be [south, north] with south < north in -90..90",
        ),
        (
            lambda c: c["areas"].update(west={"lat": [20, 28], "lon": [200, 210]}),
            "areas.west: lon [200, 210] must be [west, east] with west < east in -180..180",
        ),
        (
            lambda c: c.update(overrides={"north": {"JJA": {"large_model": {"max_epochs": 2}}}}),
            "overrides.north: no such area; areas are",
        ),
        (
            lambda c: c.update(overrides={"west": {"DJF": {"large_model": {"max_epochs": 2}}}}),
            "overrides.west.DJF: DJF is not one of seasons",
        ),
        (
            lambda c: c.update(overrides={"west": {"JJA": {"large_model": {"max_epoch": 2}}}}),
            "overrides.west.JJA.large_model: Additional properties are not allowed ('max_epoch' was unexpected)",
        ),
        (
            lambda c: c.update(per_model={"ddpm": {"inference": {"steps": "many"}}}),
            "per_model.ddpm.inference.steps: 'many' is not of type 'integer'",
        ),
        (lambda c: c["longrun"].update(areas=["north"]), "longrun.areas: 'north' is not one of areas"),
        (
            lambda c: c.update(models=["ddpm", "ddpm_transfer"], method="ddpm"),
            "models: 'ddpm_transfer' is not a model; models are "
            "['ddpm_residual', 'ddpm', 'ddpm_finetuned', 'ddpm_scratch'",
        ),
        (
            lambda c: c.update(models=["ddpm_residual", "interp"], method="ddpm_residual"),
            "models: ddpm_residual builds on unet; add unet to models",
        ),
        (
            lambda c: c.update(models=["ddpm", "unet"], method="unet"),
            "method: 'unet' must be a diffusion model of models ['ddpm']",
        ),
        (
            lambda c: c.update(per_model={"interp": {"inference": {"steps": 2}}}),
            "per_model.interp: 'interp' is not a trained model",
        ),
        (
            lambda c: c.update(
                second_design={"splits": {"test_design": "blocked"}, "models": ["ddpm_residual", "interp"]}
            ),
            "second_design.models: ddpm_residual builds on unet; add unet to models",
        ),
        (
            lambda c: c.update(second_design={"splits": {"test_design": "blocked"}, "models": ["unet", "interp"]}),
            "second_design.models: the method 'ddpm_residual' must be one of them",
        ),
        (
            lambda c: c.update(
                models=["ddpm_residual", "unet"],
                second_design={"splits": {"test_design": "blocked"}, "models": ["ddpm_residual", "unet", "interp"]},
            ),
            "second_design.models: 'interp' is not one of models ['ddpm_residual', 'unet']",
        ),
        (
            lambda c: c.update(second_design={"splits": {"test_design": "random"}}),
            "second_design.splits: {'test_design': 'random'} is the splits section's own design",
        ),
        (
            lambda c: c.update(data_efficiency={"record_fractions": [0.5], "models": ["ddpm", "ddpm_finetuned"]}),
            "data_efficiency.models: 'ddpm_finetuned' is not one of models",
        ),
        (
            lambda c: c.update(data_efficiency={"record_fractions": [0.5], "models": ["ddpm_residual", "unet"]}),
            "data_efficiency.models: ['ddpm_residual', 'unet'] hold no transfer-ablation family",
        ),
        (
            lambda c: c.update(data_efficiency={"record_fractions": [0.25, 0.2500001]}),
            "data_efficiency.record_fractions: [0.25, 0.2500001] name one share twice",
        ),
    ],
)
def test_each_problem_names_the_key_and_the_value(change, expected):
    found = config_checks.problems(with_change(change))
    assert len(found) == 1 and found[0].startswith(expected), found


def set_in(*keys_and_value):
    """A change that sets config[k1][k2]...[kn] = value, making the dicts on the way."""
    *keys, value = keys_and_value

    def change(config):
        for key in keys[:-1]:
            config = config.setdefault(key, {})
        config[keys[-1]] = value

    return change


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            set_in("tiles", "size", 6),
            "tiles.size: 6 is not divisible by 4: the U-Net of small_unet.channels [8, 16, 32] halves the tile 2 times",
        ),
        (
            set_in("small_unet", "groups", 3),
            "small_unet.groups: 3 does not divide the widths [8, 16, 32] of small_unet.channels",
        ),
        (
            set_in("overrides", "west", "JJA", "large_model", "groups", 3),
            "overrides.west.JJA.large_model.groups: 3 does not divide the widths [8, 16, 32] of large_model.channels",
        ),
        (
            set_in("inference", "halo", 4),
            "inference.halo: 4 must be in 0..3: it is cut from both edges of a tile of tiles.size 8",
        ),
        (
            lambda c: c["inference"].update(stride=8, halo=2),
            "inference.stride: 8 must be at most tiles.size - 2 * inference.halo = 4, "
            "else the cropped tiles leave gaps",
        ),
        (set_in("inference", "steps", 500), "inference.steps: 500 is more than the model's 200 diffusion timesteps"),
        (set_in("per_model", "ddpm", "inference", "halo", 4), "per_model.ddpm.inference.halo: 4 must be in 0..3"),
        (
            lambda c: c["areas"].update(west={"lat": [20.0, 20.25], "lon": [40.0, 40.25]}),
            "areas.west: 5 x 5 G5NR pixels, smaller than one tile of tiles.size 8",
        ),
        (
            set_in("seasons", ["DJF", "JJA"]),
            "seasons: DJF has no G5NR test day: no day of the season in the record has 40 days of history before "
            "it (splits.n_lag) (record ['2005-04-01', '2005-08-20'])",
        ),
        (set_in("periods", "g5nr", ["2005-04-01", "2005-05-31"]), "seasons: JJA has no G5NR test day"),
        (set_in("ingest", "valid_range", [10, 0]), "ingest.valid_range: [10, 0] must be [low, high] with low < high"),
        (
            set_in("per_model", "ddpm_residual", "large_model", "climatology_inputs", False),
            "per_model.ddpm_residual.large_model.climatology_inputs: False for ddpm_residual but "
            "per_model.unet.large_model.climatology_inputs: True for its base unet",
        ),
        (
            set_in("per_model", "ddpm_residual", "large_model", "predict_anomaly", True),
            "per_model.ddpm_residual.large_model.predict_anomaly: ddpm_residual learns the difference from its "
            "base unet",
        ),
        (
            set_in("per_model", "unet", "inference", "calibrate_spread", True),
            "per_model.unet.inference.calibrate_spread: unet has no ensemble to calibrate",
        ),
        (
            set_in("per_model", "ddpm_residual", "inference", "members", 1),
            "per_model.ddpm_residual.inference.calibrate_spread: ddpm_residual has no ensemble to calibrate",
        ),
        (
            set_in("per_model", "unet", "large_model", "climatology_inputs", False),
            "per_model.unet.large_model.predict_anomaly: the anomaly is taken from the matched MERRA-2 of the "
            "climatology inputs; set per_model.unet.large_model.climatology_inputs: true",
        ),
        (
            set_in("per_model", "unet", "large_model", "history_lowpass_px", 3),
            "per_model.unet.large_model.history_lowpass_px: unet reads transfer features extracted beforehand",
        ),
        (
            lambda c: (
                c.update(models=["ddpm_residual_finetuned", "unet_finetuned"], method="ddpm_residual_finetuned"),
                set_in("per_model", "unet_finetuned", "large_model", "history_lowpass_px", 3)(c),
            ),
            "large_model.history_lowpass_px: 0.0 for ddpm_residual_finetuned "
            "but per_model.unet_finetuned.large_model.history_lowpass_px: 3.0 for its base unet_finetuned",
        ),
    ],
)
def test_relations_between_values_are_checked_naming_the_key(change, expected):
    found = config_checks.problems(with_change(change))
    assert any(line.startswith(expected) for line in found), found


def test_the_second_design_shares_every_setting_but_its_splits_and_models():
    config = with_change(
        lambda c: c.update(
            second_design={"splits": {"test_design": "blocked", "gap_days": 7}, "models": ["ddpm_residual", "unet"]}
        )
    )
    second = config_checks.second_design_config(config)
    assert second["splits"] == {**TINY["splits"], "test_design": "blocked", "gap_days": 7}
    assert second["models"] == ["ddpm_residual", "unet"] and "second_design" not in second and "longrun" not in second
    assert {k: v for k, v in second.items() if k not in ("splits", "models")} == {
        k: v for k, v in TINY.items() if k not in ("splits", "models", "longrun")
    }
    assert config_checks.problems(config) == []


def test_each_share_of_the_data_efficiency_study_is_the_config_with_its_record_fraction():
    config = with_change(lambda c: c.update(data_efficiency={"record_fractions": [0.25, 0.5]}))
    shares = config_checks.record_fraction_configs(config)
    assert list(shares) == ["records_25", "records_50"]
    family = ["ddpm", "ddpm_scratch", "ddpm_notransfer"]  # the tiny config's only family, by default
    for fraction, share in zip((0.25, 0.5), shares.values()):
        assert share["splits"] == {**TINY["splits"], "record_fraction": fraction}
        assert share["models"] == family and "method" not in share  # the method is not among them
        assert not {"longrun", "second_design", "data_efficiency"} & set(share)
    assert config_checks.problems(config) == []


def test_box_from_config_refuses_what_the_check_refuses():
    with pytest.raises(ValueError, match=r"lat \[36, 28\] must be \[south, north\]"):
        Box.from_config({"lat": [36, 28], "lon": [40, 45]})


def test_snakemake_refuses_a_bad_config_before_any_job(tmp_path):
    config = tiny_config(
        areas={"a": {"lat": [36, 28], "lon": [40.625, 42.0]}},
        overrides={"b": {"JJA": {"large_model": {"max_epochs": 2}}}},
    )
    done = run_snakemake(tmp_path, config, "-n")
    assert done.returncode != 0
    assert "areas.a: lat [36, 28] must be [south, north]" in done.stdout
    assert "overrides.b: no such area" in done.stdout
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_snakemake_refuses_unrelated_values_before_any_job(tmp_path):
    config = with_change(
        lambda c: (c["tiles"].update(size=6), c["small_unet"].update(groups=3), c["inference"].update(halo=4))
    )
    done = run_snakemake(tmp_path, config, "-n")
    assert done.returncode != 0
    for expected in (
        "tiles.size: 6 is not divisible by 4",
        "small_unet.groups: 3 does not divide",
        "inference.halo: 4 must be in 0..2",
    ):
        assert expected in done.stdout, done.stdout
    assert not (tmp_path / "results").exists()


def test_a_long_run_with_another_member_count_in_one_season_is_refused(tmp_path):
    config = with_change(lambda c: c.update(overrides={"west": {"JJA": {"inference": {"members": 3}}}}))
    done = run_snakemake(tmp_path, config, "-n")
    assert done.returncode != 0
    assert (
        "the long run of west needs one number of inference members in every season, got {'MAM': 2, 'JJA': 3}"
        in done.stdout
    )


def test_a_config_with_the_old_section_name_still_runs_with_a_warning(tmp_path):
    def old_names(config):
        config["ddpm"] = config.pop("large_model")
        config["per_model"]["unet"]["ddpm"] = config["per_model"]["unet"].pop("large_model")
        config["overrides"] = {"west": {"JJA": {"ddpm": {"max_epochs": 2}}}}

    config = with_change(old_names)
    renamed = copy.deepcopy(config)
    assert config_checks.renamed_sections(renamed) == [
        "ddpm: this section is now called large_model (the old name still works, for now)",
        "per_model.unet.ddpm: this section is now called large_model (the old name still works, for now)",
        "overrides.west.JJA.ddpm: this section is now called large_model (the old name still works, for now)",
    ]
    assert renamed["large_model"] == TINY["large_model"] and "ddpm" not in renamed
    assert config_checks.with_defaults(config)["per_model"]["unet"]["large_model"]["predict_anomaly"] is True
    done = run_snakemake(tmp_path, config, "-n")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "Warning: config ddpm: this section is now called large_model" in done.stdout


def test_a_config_with_both_names_of_a_section_is_refused():
    config = with_change(lambda c: c.update(ddpm={"max_epochs": 2}))
    assert config_checks.renamed_sections(config) == []
    with pytest.raises(jsonschema.ValidationError, match="'ddpm' was unexpected"):
        config_checks.with_defaults(config)


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
    config = with_change(
        lambda c: c.update(
            areas={"saudi_arabia": c["areas"]["west"]}, longrun={**c["longrun"], "areas": ["saudi_arabia"]}
        )
    )
    jsonschema.Draft202012Validator(yaml.safe_load(config_checks.SCHEMA.read_text())).validate(config)
    assert config_checks.problems(config) == []


def test_the_library_fills_the_schema_defaults_as_snakemake_does():
    filled = config_checks.with_defaults(TINY)
    assert filled["inference"]["precision"] == "auto" and filled["evaluation"]["definitions"] == "project"
    assert "precision" not in TINY["inference"]  # a copy: the caller's config is untouched
    with pytest.raises(jsonschema.ValidationError, match="'many' is not of type 'integer'"):
        config_checks.with_defaults(with_change(lambda c: c["inference"].update(steps="many")))


BROKEN_YAML = "seed: 7\nareas:\n  west: { lat: [20.0, 24.0], lon: [40.0, 45.0]\nseasons: [MAM]\n"


def test_a_yaml_syntax_error_names_the_file_and_the_line(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(BROKEN_YAML)
    with pytest.raises(config_checks.ConfigError, match=r"config.yaml: line 4, column 1: not valid YAML"):
        config_checks.load(path)


def test_the_default_config_with_a_syntax_error_is_named_with_its_line(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(BROKEN_YAML)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "workflow" / "Snakefile"),
            "--directory",
            str(tmp_path),
            "-n",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "config/config.yaml: line 4, column 1: not valid YAML" in done.stdout + done.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_the_check_command_says_what_the_workflow_would_refuse(tmp_path):
    command = [sys.executable, "-m", "downscaling.cli", "check-config"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow" / "scripts")}
    broken, bad, good = tmp_path / "broken.yaml", tmp_path / "bad.yaml", tmp_path / "good.yaml"
    broken.write_text(BROKEN_YAML)
    bad.write_text(yaml.safe_dump(with_change(lambda c: c["inference"].update(halo=4, stride="wide"))))
    good.write_text(yaml.safe_dump(TINY))
    said = {
        path: subprocess.run(command + [str(path)], capture_output=True, text=True, env=env, timeout=120)
        for path in (broken, bad, good)
    }
    assert said[broken].returncode == 1 and "broken.yaml: line 4, column 1: not valid YAML" in said[broken].stderr
    assert said[bad].returncode == 1 and "inference.stride: 'wide' is not of type 'integer'" in said[bad].stderr
    assert said[good].returncode == 0 and said[good].stderr == ""
    bad.write_text(yaml.safe_dump(with_change(lambda c: c["inference"].update(halo=4))))
    related = subprocess.run(command + [str(bad)], capture_output=True, text=True, env=env, timeout=120)
    assert related.returncode == 1 and "inference.halo: 4 must be in 0..3" in related.stderr
