"""The transfer probe: features placed where their tiles lie, a ridge probe that finds a signal
and only a signal, and a domain gap of zero between equal inputs."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from downscaling.data.datasets import MinMax
from downscaling.evaluation import feature_probe, probe_summary

TILE, CELLS, N_LAG = 16, 4, 3


class LastDayPooled(torch.nn.Module):
    """An 'encoder' whose one feature is the mean of the last history day over each cell."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))  # encode() reads the device of a parameter

    def forward(self, history):
        return torch.nn.functional.avg_pool2d(history[:, -1:], TILE // CELLS)


def test_features_are_placed_where_their_tiles_lie_and_match_the_cell_means():
    rng = np.random.default_rng(0)
    history = rng.normal(size=(10, 40, 50)).astype(np.float32)  # 2 x 3 whole tiles, the rest cut
    days = np.array([3, 7, 9])
    features = feature_probe.cell_features(LastDayPooled(), history, days, N_LAG, TILE)
    assert features.shape == (3, 1, 2 * CELLS, 3 * CELLS)
    np.testing.assert_allclose(features[:, 0], feature_probe.cell_means(history[days - 1], TILE, CELLS), atol=1e-6)


def test_the_probe_explains_a_linear_signal_and_not_noise():
    rng = np.random.default_rng(1)
    days = {"train": 60, "test": 30}
    signal = {k: rng.normal(size=(n, 1, 4, 4)) for k, n in days.items()}
    target = {k: 0.5 * signal[k][:, 0] + 0.1 * rng.normal(size=(n, 4, 4)) for k, n in days.items()}
    noise = {k: rng.normal(size=(n, 8, 4, 4)) for k, n in days.items()}
    dates = pd.date_range("2005-06-01", periods=days["test"], freq="3D")
    table = feature_probe.probe(
        {"noise": (noise["train"], noise["test"]), "signal": (signal["train"], signal["test"])}, target, dates
    ).set_index("predictors")
    assert table.loc["signal", "r2"] > 0.9 and table.loc["noise", "r2"] < 0.05
    assert table.loc["signal", "high"] < 0  # its daily error is below the first set's, surely
    assert table.loc["noise", "mse_minus_first"] == 0 and table.loc["noise", "minus"] == "noise"


def test_the_domain_gap_is_zero_between_equal_inputs_and_grows_with_a_shift():
    rng = np.random.default_rng(2)
    field = rng.normal(size=(12, 32, 32))
    norm = MinMax(float(field.min()), float(field.max()))
    days = np.arange(N_LAG, 12)
    same = feature_probe.domain_gap(LastDayPooled(), norm, field, days, field, days, N_LAG, TILE)
    assert same["inputs_wasserstein"] == pytest.approx(0) and same["features_wasserstein_over_std"] == pytest.approx(0)
    assert same["tile_std_merra2"] == pytest.approx(same["tile_std_g5nr"])
    shifted = feature_probe.domain_gap(LastDayPooled(), norm, field + 1, days, field, days, N_LAG, TILE)
    assert shifted["inputs_wasserstein"] == pytest.approx(1 / (norm.hi - norm.lo), rel=1e-5)


def test_the_probe_table_counts_each_season_and_area(tmp_path):
    paths = []
    for k, (season, area) in enumerate([("JJA", "east"), ("JJA", "west")]):
        gap = {
            "inputs_wasserstein": 0.03 + 0.04 * k,
            "tile_std_merra2": 0.09,
            "tile_std_g5nr": 0.05,
            "features_wasserstein_over_std": 0.04,
        }
        rows = [
            {"predictors": "frozen", "r2": 0.1, "minus": "frozen", "low": 0.0, "high": 0.0},
            {"predictors": "scratch", "r2": 0.2 + k, "minus": "frozen", "low": -0.2, "high": -0.1 + 0.2 * k},
        ]
        path = tmp_path / f"{season}_{area}.json"
        path.write_text(json.dumps({"season": season, "area": area, "probe": rows, "domain_gap": dict(gap, units="u")}))
        paths.append(path)
    table = probe_summary.probe_table(paths)
    assert len(table) == 4 and set(table.tile_std_g5nr) == {0.05} and "units" not in table
    assert probe_summary.gap_finding(table) == (
        "domain gap of the frozen encoder: Wasserstein-1 distance of its normalised inputs (MERRA-2 training days "
        "against G5NR days) 0.030 to 0.070; within-tile standard deviation of the G5NR tiles it reads 0.050 to "
        "0.050 against 0.090 to 0.090 for the MERRA-2 tiles it was trained on; its features' Wasserstein-1 "
        "distance over their standard deviation 0.040 to 0.040"
    )
    assert probe_summary.probe_findings(table) == [
        "frozen: R² 0.100 to 0.100",
        "scratch: R² 0.200 to 1.200; against frozen, MSE lower in 1, higher in 0, not distinguishable in 1 of 2 "
        "season x areas",
    ]
