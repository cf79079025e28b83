"""The results tree: every file pattern that the rules and the library (the API, the benchmarks)
share, written once (the contract files are in the design card's path contract).

Each function fills its pattern with its arguments; an argument left out stays a Snakemake
wildcard of the same name, so ``model()`` is ``results/models/{model}/{season}/{area}/model.pt``
for a rule and ``model("unet", "JJA", "west", results=run)`` a file of a finished run. Torch-free:
the Snakefile imports it while it plans.
"""

from __future__ import annotations

from pathlib import Path

RESULTS = "results"

#: The results folders that depend on the test design: the splits and everything trained or
#: scored on them. The ingested data and the domain diagnostic (data, diagnostics, inputs) do not.
DESIGN_FOLDERS = (
    "splits",
    "small_unet",
    "features",
    "models",
    "checkpoints",
    "downscaled",
    "metrics",
    "evaluation",
    "longrun",
)


def design_results(design: str, *, results=RESULTS) -> str:
    """The results tree of the second test design (config ``second_design``): its own copy of
    :data:`DESIGN_FOLDERS`, beside the shared ingested data."""
    return f"{results}/designs/{design}"


def design_prefixes(design: str) -> dict[str, str]:
    """Snakemake's ``replace_prefix`` that moves a module of this workflow into
    :func:`design_results` (its logs too), leaving the shared folders where they are."""
    moved = {f"{RESULTS}/{folder}/": f"{design_results(design)}/{folder}/" for folder in DESIGN_FOLDERS}
    return {**moved, "logs/": f"logs/designs/{design}/"}


def area_data(name="{name}", area="{area}", *, results=RESULTS) -> str:
    """One of an area's ingested files: merra2, g5nr, merra2_on_g5nr, static, coastline."""
    return f"{results}/data/{area}/{name}.nc"


def split(source="{source}", season="{season}", *, results=RESULTS) -> str:
    """The train/test days of one season on one time axis (source: g5nr or merra2)."""
    return f"{results}/splits/{source}/{season}.csv"


def model(model="{model}", season="{season}", area="{area}", *, results=RESULTS) -> str:
    """A trained model's weights and settings (small_unet or one of the registry's large models)."""
    return f"{results}/models/{model}/{season}/{area}/model.pt"


def spread_calibration(model="{model}", season="{season}", area="{area}", *, results=RESULTS) -> str:
    """A diffusion model's spread calibration by scale, from its validation days."""
    return f"{results}/models/{model}/{season}/{area}/spread_calibration.json"


def training_summary(model="{model}", season="{season}", area="{area}", *, results=RESULTS) -> str:
    """What a large model's training logged (losses, timings, the x0 checks)."""
    return f"{results}/models/{model}/{season}/{area}/training.json"


def checkpoint(model="{model}", season="{season}", area="{area}", *, results=RESULTS) -> str:
    """The resume checkpoint of a training job (not a rule output: a failed job must keep it)."""
    return f"{results}/checkpoints/{model}/{season}/{area}.pt"


def downscaled(model="{model}", season="{season}", area="{area}", mode="{mode}", *, results=RESULTS) -> str:
    """The downscaled test days of one model, season, area and mode (strict or lenient)."""
    return f"{results}/downscaled/{model}/{season}/{area}/{mode}.nc"


def metrics(model="{model}", season="{season}", area="{area}", mode="{mode}", *, results=RESULTS) -> str:
    """The overall scores of one downscaled file (JSON)."""
    return f"{results}/metrics/{model}/{season}/{area}/{mode}.json"


def summary(*, results=RESULTS) -> str:
    """The comparison table of every model x season x area x mode (CSV)."""
    return f"{results}/metrics/summary.csv"


def per_day(model="{model}", season="{season}", area="{area}", mode="{mode}", *, results=RESULTS) -> str:
    """The per-day scores beside :func:`metrics` (CSV), which the paired tests read."""
    return per_day_beside(metrics(model, season, area, mode, results=results))


def per_day_beside(metrics_path) -> str:
    """The per-day scores written beside a metrics JSON (``…/{mode}.json`` -> ``…/{mode}_per_day.csv``)."""
    path = Path(metrics_path)
    return str(path.with_name(f"{path.stem}_per_day.csv"))


def longrun(area="{area}", start="{start}", end="{end}", *, results=RESULTS) -> str:
    """The long run of one area beyond the G5NR record: every member, every day."""
    return f"{results}/longrun/{area}/{start}_{end}.nc"


def longrun_chunk(
    area="{area}", start="{start}", end="{end}", member="{member}", chunk="{chunk}", suffix=".nc", *, results=RESULTS
) -> str:
    """One chunk of one member's chain (suffix .nc: its days; .state.npz: the history it leaves)."""
    return f"{results}/longrun/{area}/{start}_{end}/member{member}/{chunk}{suffix}"
