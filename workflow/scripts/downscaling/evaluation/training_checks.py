"""What the diffusion models' training logged about their x0 estimate (``training.json``): its
error and bias on the validation tiles at each noise level. A bias at any level is carried into
every sample (past sampler drifts showed there first), so the report shows it beside the scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def x0_by_noise(summary_paths) -> pd.DataFrame:
    """One row per diffusion model, season, area and noise level (timestep t) from the training
    summaries ``results/models/{model}/{season}/{area}/training.json``: x0_error (mean squared
    error of the x0 estimate on forward-noised validation tiles, in the model's scaled units)
    and x0_bias (its mean error). Summaries without these checks are skipped."""
    rows = []
    for path in summary_paths:
        path = Path(path)
        model, season, area = path.parts[-4:-1]
        summary = json.loads(path.read_text())
        errors, biases = summary.get("val_x0_error_by_t", {}), summary.get("val_x0_bias_by_t", {})
        rows += [
            {"model": model, "season": season, "area": area, "t": int(t), "x0_error": error, "x0_bias": biases.get(t)}
            for t, error in errors.items()
        ]
    columns = ["model", "season", "area", "t", "x0_error", "x0_bias"]
    return pd.DataFrame(rows, columns=columns).sort_values(["model", "season", "area", "t"], ignore_index=True)
