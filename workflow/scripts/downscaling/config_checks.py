"""Checks of a validated config that its JSON schema cannot express, run when Snakemake plans.

The schema checks types and names; these check what relates values to each other (a period's
order, a box's corners, an override for an area that exists). Each problem names the config key
and the value, so that a bad config is refused before any job runs. Torch- and xarray-free.
"""
import copy
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from . import variants

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


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
    found = [f"models: {name!r} is not a model; models are {list(variants.MODELS)}"
             for name in models if name not in variants.MODELS]
    found += [
        f"models: {name} builds on {needed}; add {needed} to models"
        for name in models if name in variants.VARIANTS
        for needed in variants.trained_inputs(name)[1:] if needed not in models
    ]
    method = config.get("method")
    if method is not None and (method not in variants.ENSEMBLE_MODELS or method not in models):
        found.append(f"method: {method!r} must be a diffusion model of models "
                     f"{[m for m in models if m in variants.ENSEMBLE_MODELS]}")
    if config.get("longrun") and not (method or variants.default_method(models)):
        found.append(f"longrun: needs a diffusion model in models, got {models}")
    found += [f"per_model.{name}: {name!r} is not a trained model; those are {list(variants.VARIANTS)}"
              for name in config.get("per_model", {}) if name not in variants.VARIANTS]
    return found


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
    areas, seasons = list(config["areas"]), list(config.get("seasons", []))
    for area, per_season in config.get("overrides", {}).items():
        if area not in areas:
            found.append(f"overrides.{area}: no such area; areas are {areas}")
        found += [
            f"overrides.{area}.{season}: {season} is not one of seasons {seasons}"
            for season in per_season if season not in seasons
        ]
    if longrun:
        found += [f"longrun.areas: {area!r} is not one of areas {areas}" for area in longrun["areas"] if area not in areas]

    # The schema leaves the sections inside per_model and overrides open (any keys): check each
    # against its section's own schema, so that a misspelt key or a wrong type is not ignored.
    schema = yaml.safe_load(Path(schema_path).read_text())
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
    return found


def merged_section(config: Mapping[str, Any], section: str, season=None, area=None, model=None) -> dict:
    """The config `section` as one season x area and model sees it: the section itself, then the
    model's `per_model` entry, then the season x area's `overrides` on top. A copy: the caller
    may change it."""
    merged = dict(config.get(section, {}))
    merged.update(config.get("per_model", {}).get(model, {}).get(section, {}))
    merged.update(config.get("overrides", {}).get(area, {}).get(season, {}).get(section, {}))
    return copy.deepcopy(merged)


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
    jsonschema.validators.extend(base, {"properties": properties_with_defaults})(
        yaml.safe_load(Path(schema_path).read_text())).validate(filled)
    return filled
