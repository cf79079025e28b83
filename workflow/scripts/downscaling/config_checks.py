"""Checks of a validated config that its JSON schema cannot express, run when Snakemake plans.

The schema checks types and names; these check what relates values to each other (a period's
order, a box's corners, an override for an area that exists, a tile that the networks can halve,
a halo that leaves a tile interior, an area that holds a tile, a season with days to test on).
Each problem names the config key and the value, so that a bad config is refused before any job
runs. The workflow, the ``downscaling`` command and the API use these same checks. Torch- and
xarray-free.
"""

import copy
import functools
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from downscaling import variants
from downscaling.data import splits

#: The config's JSON schema, shipped with the package (workflow/schemas/ links to it for Snakemake).
SCHEMA = Path(__file__).with_name("config.schema.yaml")


@functools.cache
def _schema(schema_path: Path = SCHEMA) -> dict:
    """The schema, read once (callers must not change it)."""
    return yaml.safe_load(Path(schema_path).read_text())


#: Grid steps (degrees) of the products: G5NR 0.0625 x 0.0625, MERRA-2 0.5 (lat) x 0.625 (lon).
G5NR_STEP_DEG = {"lat": 0.0625, "lon": 0.0625}
MERRA2_STEP_DEG = {"lat": 0.5, "lon": 0.625}


class ConfigError(ValueError):
    """A config file that cannot be read or parsed: the message names the file and the line."""


def load(path: str | Path) -> dict:
    """The config file at ``path`` as a dict; ConfigError naming the file and the line of a YAML
    syntax error (Snakemake's own loader says only that the file is not valid YAML)."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror})") from error
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        context, opened = getattr(error, "context", None), getattr(error, "context_mark", None)
        if context and opened:
            context += f" that starts on line {opened.line + 1}:"
        problem = " ".join(filter(None, [context, getattr(error, "problem", None)]))
        raise ConfigError(f"{path}: {where}not valid YAML ({problem or error})") from error
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, got {type(config).__name__}")
    return config


#: Config sections with a new name, old -> new: a config with the old name still runs, with a
#: warning (``ddpm`` trains every large model, deterministic ones too).
RENAMED_SECTIONS = {"ddpm": "large_model"}


def renamed_sections(config: dict) -> list[str]:
    """Give the sections of ``config`` with an old name (at the top, in per_model and in
    overrides) their new one, in place; one deprecation message per key renamed. A config that
    holds both names keeps both, for the schema to refuse."""
    messages = []

    def rename(sections, where: str):
        for old, new in RENAMED_SECTIONS.items():
            if isinstance(sections, dict) and old in sections and new not in sections:
                sections[new] = sections.pop(old)
                messages.append(f"{where}{old}: this section is now called {new} (the old name still works, for now)")

    rename(config, "")
    for model, sections in (config.get("per_model") or {}).items():
        rename(sections, f"per_model.{model}.")
    for area, seasons in (config.get("overrides") or {}).items():
        for season, sections in (seasons or {}).items():
            rename(sections, f"overrides.{area}.{season}.")
    return messages


def check_file(path: str | Path, schema_path: Path = SCHEMA) -> list[str]:
    """Everything wrong with the config file at ``path``, as the workflow would refuse it:
    YAML syntax (with the line), the schema (each key), the relations between values."""
    try:
        config = load(path)
    except ConfigError as error:
        return [str(error)]
    renamed_sections(config)
    schema = jsonschema.Draft202012Validator(_schema(schema_path))
    invalid = [
        f"{'.'.join(map(str, error.absolute_path)) or '(top level)'}: {error.message}"
        for error in schema.iter_errors(config)
    ]
    return invalid or problems(config, schema_path)


def box_problem(box: Mapping[str, Sequence[float]]) -> str | None:
    """What is wrong with a ``{lat: [south, north], lon: [west, east]}`` box, or None."""
    (south, north), (west, east) = box["lat"], box["lon"]
    if not -90 <= south < north <= 90:
        return f"lat {list(box['lat'])} must be [south, north] with south < north in -90..90"
    if not -180 <= west < east <= 180:
        return f"lon {list(box['lon'])} must be [west, east] with west < east in -180..180"
    return None


def _period_problem(key: str, first: str, last: str) -> str | None:
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError as error:
        return f"{key}: {[first, last]} is not a pair of dates ({error})"
    if start > end:
        return f"{key}: {[first, last]} ends before it starts; expected [first day, last day]"
    return None


def model_problems(config: Mapping[str, Any]) -> list[str]:
    """Model names against the registry (downscaling/variants.py): the one place they live."""
    models = list(config.get("models", []))
    found = [
        f"models: {name!r} is not a model; models are {list(variants.MODELS)}"
        for name in models
        if name not in variants.MODELS
    ]
    found += [
        f"models: {name} builds on {needed}; add {needed} to models"
        for name in models
        if name in variants.VARIANTS
        for needed in variants.trained_inputs(name)[1:]
        if needed not in models
    ]
    method = config.get("method")
    if method is not None and (method not in variants.ENSEMBLE_MODELS or method not in models):
        found.append(
            f"method: {method!r} must be a diffusion model of models "
            f"{[m for m in models if m in variants.ENSEMBLE_MODELS]}"
        )
    if config.get("longrun") and not (method or variants.default_method(models)):
        found.append(f"longrun: needs a diffusion model in models, got {models}")
    found += [
        f"per_model.{name}: {name!r} is not a trained model; those are {list(variants.VARIANTS)}"
        for name in config.get("per_model", {})
        if name not in variants.VARIANTS
    ]
    return found


#: The sections a module of this workflow (another design of the same study) does not inherit:
#: the long run (free-running: the same under any split of the G5NR record) and the modules'
#: own definitions.
NOT_IN_MODULES = ("longrun", "second_design", "data_efficiency")


def module_config(config: Mapping[str, Any], splits: Mapping[str, Any], models) -> dict:
    """This config for the workflow run again as a module: other splits settings (merged over
    the splits section) and models, without :data:`NOT_IN_MODULES` (and without the method when
    it is not among the models: the module then shows its own default)."""
    derived = {key: copy.deepcopy(value) for key, value in config.items() if key not in NOT_IN_MODULES}
    derived["splits"] = {**derived.get("splits", {}), **splits}
    derived["models"] = list(models)
    if derived.get("method") not in derived["models"]:
        derived.pop("method", None)
    return derived


def second_design_config(config: Mapping[str, Any]) -> dict:
    """The config of the second test design (``second_design``): that design's splits settings
    and models (default: all)."""
    design = config["second_design"]
    return module_config(config, design["splits"], design.get("models") or config["models"])


def record_fraction_configs(config: Mapping[str, Any]) -> dict[str, dict]:
    """{design name: config} of the data-efficiency study (``data_efficiency``): each share of
    the G5NR training days (``splits.record_fraction``) with the study's models (default: every
    model of a transfer-ablation family in models, and the models they build on), named
    ``records_<percent>``."""
    study = config.get("data_efficiency")
    if not study:
        return {}
    return {
        record_design(fraction): module_config(config, {"record_fraction": fraction}, data_efficiency_models(config))
        for fraction in study["record_fractions"]
    }


def record_design(fraction: float) -> str:
    """The design name (results folder) of a share of the training days: records_25 for 0.25."""
    return f"records_{100 * fraction:g}".replace(".", "_")


def data_efficiency_models(config: Mapping[str, Any]) -> list[str]:
    """The models the data-efficiency study trains and scores on each share (see
    :func:`record_fraction_configs`), in the order of models."""
    chosen = (config.get("data_efficiency") or {}).get("models")
    if not chosen:
        chosen = [model for family in variants.transfer_ablations(config["models"]) for model in family.values()]
    needed = {inputs for model in chosen for inputs in variants.trained_inputs(model)} | set(chosen)
    return [model for model in config["models"] if model in needed]


def data_efficiency_problems(config: Mapping[str, Any]) -> list[str]:
    """What is wrong with ``data_efficiency`` (nothing if there is none)."""
    study = config.get("data_efficiency")
    if not study:
        return []
    found = [
        f"data_efficiency.models: {name!r} is not one of models {list(config['models'])}"
        for name in study.get("models", [])
        if name not in config["models"]
    ]
    if found:
        return found
    models = data_efficiency_models(config)
    if not variants.transfer_ablations(models):
        found.append(
            f"data_efficiency.models: {models} hold no transfer-ablation family (a model with history "
            "through the frozen encoder and one of its _finetuned, _scratch or _notransfer twins), "
            "which is what the study compares"
        )
    names = [record_design(fraction) for fraction in study["record_fractions"]]
    if len(set(names)) < len(names):
        found.append(f"data_efficiency.record_fractions: {study['record_fractions']} name one share twice ({names})")
    found += [
        f"data_efficiency.{p}"
        for p in model_problems(module_config(config, {}, models))
        if not p.startswith(("longrun", "method"))
    ]
    return found


def second_design_problems(config: Mapping[str, Any]) -> list[str]:
    """What is wrong with ``second_design`` (nothing if there is none)."""
    design = config.get("second_design")
    if not design:
        return []
    second = second_design_config(config)
    found = [
        f"second_design.models: {name!r} is not one of models {list(config['models'])}"
        for name in second["models"]
        if name not in config["models"]
    ]
    # the method and the long run are the first design's: said below, or not the second's concern
    found += [f"second_design.{p}" for p in model_problems(second) if not p.startswith(("longrun", "method"))]
    method = config.get("method") or variants.default_method(config["models"])
    if method and method not in second["models"]:
        found.append(
            f"second_design.models: the method {method!r} must be one of them (it is what the designs compare)"
        )
    splits = {**schema_defaults()["splits"], **config.get("splits", {})}
    first = {key: splits.get(key) for key in design["splits"]}
    if first == design["splits"]:
        found.append(f"second_design.splits: {design['splits']} is the splits section's own design; name another")
    return found


def key_of(config: Mapping[str, Any], section: str, key: str, season=None, area=None, model=None) -> str:
    """The config key that gives ``section.key`` its value for one season x area and model
    (the most specific of overrides, per_model and the section; see :func:`merged_section`)."""
    if key in config.get("overrides", {}).get(area, {}).get(season, {}).get(section, {}):
        return f"overrides.{area}.{season}.{section}.{key}"
    for name in reversed(per_model_entries(model)):
        if key in config.get("per_model", {}).get(name, {}).get(section, {}):
            return f"per_model.{name}.{section}.{key}"
    return f"{section}.{key}"


def network_problems(network: Mapping[str, Any], tile: int, key=lambda name: name) -> list[str]:
    """What keeps a U-Net of ``network`` (channels, groups) from running on ``tile`` x ``tile``
    tiles; ``key(name)`` names the config key of a setting."""
    if "channels" not in network or "groups" not in network:
        return []  # the training job names a missing setting
    channels, groups = list(network["channels"]), network["groups"]
    found = []
    factor = 2 ** (len(channels) - 1)
    if tile % factor:
        found.append(
            f"tiles.size: {tile} is not divisible by {factor}: the U-Net of {key('channels')} "
            f"{channels} halves the tile {len(channels) - 1} times"
        )
    undivided = [width for width in channels if width % groups]
    if undivided:
        found.append(
            f"{key('groups')}: {groups} does not divide the widths {undivided} of {key('channels')} "
            f"{channels} (GroupNorm splits each width into groups)"
        )
    return found


def inference_problems(
    inference: Mapping[str, Any],
    tile: int | None = None,
    timesteps: int | None = None,
    key=lambda name: f"inference.{name}",
) -> list[str]:
    """What keeps stitched sampling with ``inference`` settings from running on ``tile`` x
    ``tile`` tiles of a model with ``timesteps`` diffusion steps (each check needs its numbers)."""
    found = []
    for name in ("members", "steps", "stride"):
        if name in inference and inference[name] < 1:
            found.append(f"{key(name)}: {inference[name]} must be at least 1")
    halo, stride = inference.get("halo"), inference.get("stride")
    if tile is not None and halo is not None:
        if not 0 <= 2 * halo < tile:
            found.append(
                f"{key('halo')}: {halo} must be in 0..{(tile - 1) // 2}: it is cut from both "
                f"edges of a tile of tiles.size {tile}"
            )
        elif stride is not None and stride > tile - 2 * halo:
            found.append(
                f"{key('stride')}: {stride} must be at most tiles.size - 2 * {key('halo')} = "
                f"{tile - 2 * halo}, else the cropped tiles leave gaps"
            )
    steps = inference.get("steps")
    if timesteps is not None and steps is not None and steps > timesteps:
        found.append(
            f"{key('steps')}: {steps} is more than the model's {timesteps} diffusion timesteps (large_model.timesteps)"
        )
    return found


def _most_points(box: Mapping[str, Sequence[float]], steps: Mapping[str, float], margin: float = 0.0) -> dict:
    """The most grid points of spacing ``steps`` that the box +- ``margin`` can hold per axis."""
    return {axis: int((box[axis][1] - box[axis][0] + 2 * margin) / steps[axis] + 1e-9) + 1 for axis in ("lat", "lon")}


def climatology_problems(config: Mapping[str, Any], model: str, season: str, area: str) -> list[str]:
    """A residual model and its base read one covariate stack: both with the per-pixel
    climatology inputs, or neither. The anomaly is of the matched MERRA-2, one of those inputs,
    and a residual model learns the difference from its base instead."""
    section = merged_section(config, "large_model", season, area, model)
    base = variants.VARIANTS[model].residual_of
    if section.get("predict_anomaly", False):
        where = key_of(config, "large_model", "predict_anomaly", season, area, model)
        if base is not None:
            return [f"{where}: {model} learns the difference from its base {base}; set predict_anomaly for {base}"]
        if not section.get("climatology_inputs", False):
            return [
                f"{where}: the anomaly is taken from the matched MERRA-2 of the climatology inputs; "
                f"set {key_of(config, 'large_model', 'climatology_inputs', season, area, model)}: true"
            ]
    if base is None:
        return []
    values = {
        name: bool(merged_section(config, "large_model", season, area, name).get("climatology_inputs", False))
        for name in (model, base)
    }
    if values[model] == values[base]:
        return []
    where = {name: key_of(config, "large_model", "climatology_inputs", season, area, name) for name in (model, base)}
    return [
        f"{where[model]}: {values[model]} for {model} but {where[base]}: {values[base]} for its base {base}; "
        "a residual model and its base must both have the climatology inputs or neither"
    ]


def history_lowpass_problems(config: Mapping[str, Any], model: str, season: str, area: str) -> list[str]:
    """history_lowpass_px filters the history a model's own encoder reads: refused for a model
    that reads transfer features extracted beforehand; a residual model and its base read one
    history, so through one low-pass."""

    def sigma(name):
        return float(merged_section(config, "large_model", season, area, name).get("history_lowpass_px", 0))

    variant, where = variants.VARIANTS[model], key_of(config, "large_model", "history_lowpass_px", season, area, model)
    if sigma(model) and variant.history == "transfer":
        return [
            f"{where}: {model} reads transfer features extracted beforehand; the history's low-pass is for "
            "the variants whose encoder reads the history itself (the fine-tuned and scratch ones)"
        ]
    base = variant.residual_of
    if base is None or sigma(model) == sigma(base):
        return []
    return [
        f"{where}: {sigma(model)} for {model} but "
        f"{key_of(config, 'large_model', 'history_lowpass_px', season, area, base)}: {sigma(base)} for its base "
        f"{base}; a residual model and its base read one history, so through one low-pass"
    ]


def area_problems(config: Mapping[str, Any]) -> list[str]:
    """Areas too small for one tile: in G5NR pixels (the large models, inference) and in
    MERRA-2 cells around them (the small U-Net trains on native MERRA-2 tiles)."""
    tile, margin = config["tiles"]["size"], config["ingest"]["margin_deg"]
    found = []
    for name, box in config["areas"].items():
        for grid, steps, extra in (("G5NR pixels", G5NR_STEP_DEG, 0.0), ("MERRA-2 cells", MERRA2_STEP_DEG, margin)):
            points = _most_points(box, steps, extra)
            if min(points.values()) < tile:
                within = f" (with ingest.margin_deg {margin:g})" if extra else ""
                found.append(
                    f"areas.{name}: {points['lat']} x {points['lon']} {grid}{within}, smaller than one "
                    f"tile of tiles.size {tile}; enlarge the area or lower tiles.size"
                )
                break
    return found


def record_period(config: Mapping[str, Any], source: str) -> tuple[str, str] | None:
    """[first, last] day of a source's record as the config knows it before ingest: periods.<source>,
    else the synthetic world's; None when only the files know."""
    period = config.get("periods", {}).get(source)
    synthetic = config.get("synthetic", {})
    if period is None and synthetic.get("enabled"):
        period = synthetic.get(f"{source}_period")
    return tuple(period) if period else None


def season_problems(config: Mapping[str, Any]) -> list[str]:
    """Seasons without days to test on or to train with, from the records' periods (when the
    config knows them; otherwise the splits job checks the same on the ingested records)."""
    g5nr, merra2 = record_period(config, "g5nr"), record_period(config, "merra2")
    if g5nr is None:
        return []
    g5nr_dates = splits.pd.date_range(*g5nr)
    merra2_dates = splits.pd.date_range(*merra2) if merra2 else g5nr_dates
    cfg = config["splits"]
    try:
        tables = splits.make_splits(
            g5nr_dates,
            merra2_dates,
            cfg["n_lag"],
            cfg["test_ratio"],
            cfg["buffer_days"],
            config.get("seed", 0),
            cfg["test_design"],
            cfg["block_days"],
            cfg.get("gap_days"),
        )
    except ValueError as error:
        return [f"splits: {error}"]
    periods = {"g5nr": g5nr, "merra2": merra2 or g5nr}
    return [
        f"seasons: {problem} (record {list(periods[source])})"
        for source, per_season in tables.items()
        for problem in splits.season_problems(per_season, config["seasons"], source, cfg["n_lag"])
    ]


def relation_problems(config: Mapping[str, Any]) -> list[str]:
    """The relations between values of a config with the schema's defaults filled in: networks
    and tiles, inference and tiles, areas and tiles, seasons and records."""
    tile = config["tiles"]["size"]
    found = []
    for season in config["seasons"]:
        for area in config["areas"]:

            def key(section, model=None, season=season, area=area):
                return lambda name: key_of(config, section, name, season, area, model)

            found += network_problems(merged_section(config, "small_unet", season, area), tile, key("small_unet"))
            for model in (m for m in config["models"] if m in variants.VARIANTS):
                large_model = merged_section(config, "large_model", season, area, model)
                found += network_problems(large_model, tile, key("large_model", model))
                inference = merged_section(config, "inference", season, area, model)
                timesteps = large_model.get("timesteps") if variants.VARIANTS[model].diffusion else None
                found += inference_problems(inference, tile, timesteps, key("inference", model))
                if inference.get("calibrate_spread") and not (timesteps and inference["members"] >= 2):
                    found.append(
                        f"{key('inference', model)('calibrate_spread')}: {model} has no ensemble to calibrate "
                        "(a diffusion model with inference.members >= 2 has one)"
                    )
                found += climatology_problems(config, model, season, area)
                found += history_lowpass_problems(config, model, season, area)
    run = config.get("longrun")
    method = config.get("method") or variants.default_method(config["models"])
    for area in run["areas"] if run and method else []:
        members = {s: merged_section(config, "inference", s, area, method)["members"] for s in config["seasons"]}
        problem = member_count_problem(members, area)
        if problem:
            found.append(f"overrides: {problem}")
    low, high = config["ingest"]["valid_range"]
    if not low < high:
        found.append(f"ingest.valid_range: {[low, high]} must be [low, high] with low < high")
    found += area_problems(config)
    found += season_problems(config)
    return list(dict.fromkeys(found))  # each once, in order, though many season x areas share it


def member_count_problem(members: Mapping[str, int], area: str) -> str | None:
    """A run across seasons needs one ensemble size: each member carries its own history from one
    season into the next. members: {season: inference members}."""
    if len(set(members.values())) != 1:
        return f"the long run of {area} needs one number of inference members in every season, got {dict(members)}"
    return None


def problems(config: Mapping[str, Any], schema_path: Path = SCHEMA) -> list[str]:
    """Everything wrong with ``config`` beyond its schema, one line per problem (empty if none)."""
    found = []
    periods = [(f"periods.{name}", value) for name, value in config.get("periods", {}).items()]
    synthetic = config.get("synthetic", {})
    periods += [(f"synthetic.{key}", synthetic[key]) for key in ("merra2_period", "g5nr_period") if key in synthetic]
    longrun = config.get("longrun")
    if longrun:
        periods.append(("longrun.start/end", [longrun["start"], longrun["end"]]))
    found += [p for key, (first, last) in periods if (p := _period_problem(key, first, last))]

    boxes = [(f"areas.{name}", box) for name, box in config["areas"].items()]
    if "region" in synthetic:
        boxes.append(("synthetic.region", synthetic["region"]))
    found += [f"{key}: {p}" for key, box in boxes if (p := box_problem(box))]

    found += model_problems(config)
    found += second_design_problems(config)
    found += data_efficiency_problems(config)
    areas, seasons = list(config["areas"]), list(config.get("seasons", []))
    for area, per_season in config.get("overrides", {}).items():
        if area not in areas:
            found.append(f"overrides.{area}: no such area; areas are {areas}")
        found += [
            f"overrides.{area}.{season}: {season} is not one of seasons {seasons}"
            for season in per_season
            if season not in seasons
        ]
    if longrun:
        found += [
            f"longrun.areas: {area!r} is not one of areas {areas}" for area in longrun["areas"] if area not in areas
        ]

    # The schema leaves the sections inside per_model and overrides open (any keys): check each
    # against its section's own schema, so that a misspelt key or a wrong type is not ignored.
    schema = _schema(schema_path)
    sections_only = jsonschema.Draft202012Validator({**schema, "required": []})
    entries = [(f"per_model.{model}", sections) for model, sections in config.get("per_model", {}).items()]
    entries += [
        (f"overrides.{area}.{season}", sections)
        for area, per_season in config.get("overrides", {}).items()
        for season, sections in per_season.items()
    ]
    for prefix, sections in entries:
        for error in sections_only.iter_errors(sections):
            where = ".".join(str(part) for part in error.absolute_path)
            found.append(f"{prefix}{'.' + where if where else ''}: {error.message}")
    if not found:  # values related to each other, once each is known to be well formed
        try:
            found += relation_problems(with_defaults(config, schema_path))
        except jsonschema.ValidationError:
            pass  # Snakemake's validation, or the caller's, reports it
    return found


def merged_section(config: Mapping[str, Any], section: str, season=None, area=None, model=None) -> dict:
    """The config `section` as one season x area and model sees it: the section itself, then the
    model's `per_model` entries (:func:`per_model_entries`), then the season x area's
    `overrides` on top. A copy: the caller may change it."""
    merged = dict(config.get(section, {}))
    for name in per_model_entries(model):
        merged.update(config.get("per_model", {}).get(name, {}).get(section, {}))
    merged.update(config.get("overrides", {}).get(area, {}).get(season, {}).get(section, {}))
    return copy.deepcopy(merged)


def per_model_entries(model) -> list:
    """The `per_model` entries that apply to `model`, the most specific last: a transfer
    ablation takes the settings of the model it ablates, then its own."""
    ablated = getattr(variants.VARIANTS.get(model), "ablation_of", None)
    return [ablated, model] if ablated else [model]


def with_defaults(config: Mapping[str, Any], schema_path: Path = SCHEMA) -> dict:
    """A copy of `config` validated against the schema with the schema's defaults filled in,
    as Snakemake's `validate` gives it to the rules (jsonschema.ValidationError if invalid)."""
    base = jsonschema.Draft202012Validator

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    filled = copy.deepcopy(dict(config))
    renamed_sections(filled)
    jsonschema.validators.extend(base, {"properties": properties_with_defaults})(_schema(schema_path)).validate(filled)
    return filled


def schema_defaults(schema_path: Path = SCHEMA) -> dict:
    """Every default of the schema, nested as a config is: what a config that names nothing gets
    (the sections without a default of their own hold their keys' defaults)."""

    def defaults(node: dict) -> dict:
        found = {}
        for name, subschema in node.get("properties", {}).items():
            if "default" in subschema:
                found[name] = copy.deepcopy(subschema["default"])
            if "properties" in subschema:
                found[name] = {**defaults(subschema), **found.get(name, {})}
        return found

    return defaults(_schema(schema_path))
