"""The transfer probes' results in one table and in sentences (the transfer_probes and summary
rules). Torch-free, unlike :mod:`feature_probe`, which computes them: the summary's job need not
import torch to read a CSV.
"""

from __future__ import annotations

import json

import pandas as pd


def probe_table(probe_paths) -> pd.DataFrame:
    """The probes of the JSON files the transfer_probe rule writes, one row per season x area
    and predictor set, with the area's domain gap beside them."""
    rows = []
    for path in probe_paths:
        with open(path) as f:
            found = json.load(f)
        gap = {k: v for k, v in found["domain_gap"].items() if k != "units"}
        rows += [{"season": found["season"], "area": found["area"], **row, **gap} for row in found["probe"]]
    return pd.DataFrame(rows)


def probe_findings(table: pd.DataFrame) -> list[str]:
    """One sentence per predictor set: its R² range and, against the frozen encoder, in how many
    season x areas its daily squared error is lower / higher / not distinguishable."""
    sentences = []
    groups = table.groupby(["season", "area"]).ngroups
    for name, rows in table.groupby("predictors", sort=False):
        sentence = f"{name}: R² {rows.r2.min():.3f} to {rows.r2.max():.3f}"
        if (rows.predictors != rows.minus).all():
            lower, higher = int((rows.high < 0).sum()), int((rows.low > 0).sum())
            sentence += (
                f"; against {rows.minus.iloc[0]}, MSE lower in {lower}, higher in {higher}, "
                f"not distinguishable in {len(rows) - lower - higher} of {groups} season x areas"
            )
        sentences.append(sentence)
    return sentences


def gap_finding(table: pd.DataFrame) -> str:
    """One sentence on the frozen encoder's domain gap: the range of each number over the
    season x areas of a probe table."""
    gaps = table.drop_duplicates(["season", "area"])

    def spread(column):
        return f"{gaps[column].min():.3f} to {gaps[column].max():.3f}"

    return (
        "domain gap of the frozen encoder: Wasserstein-1 distance of its normalised inputs (MERRA-2 "
        f"training days against G5NR days) {spread('inputs_wasserstein')}; within-tile standard "
        f"deviation of the G5NR tiles it reads {spread('tile_std_g5nr')} against "
        f"{spread('tile_std_merra2')} for the MERRA-2 tiles it was trained on; its features' "
        f"Wasserstein-1 distance over their standard deviation {spread('features_wasserstein_over_std')}"
    )
