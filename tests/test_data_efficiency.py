"""The data-efficiency study's pooled intervals hold their level, and its sentences say where
transfer pays off."""

import numpy as np
import pandas as pd
import pytest

from downscaling.evaluation import data_efficiency
from downscaling.evaluation.paired_tests import t_interval


def group_rows(rng, groups: int, mean: float) -> pd.DataFrame:
    """One transfer-effect row per season x area, as comparison.transfer_ablation writes them:
    independent days of unequal spread and number in each group."""
    rows = []
    for k in range(groups):
        days = rng.integers(8, 20)
        differences = mean + rng.uniform(0.005, 0.03) * rng.standard_normal(days)
        low, high = t_interval(differences)
        rows.append(
            {
                "record_fraction": 0.5,
                "effect": "transfer",
                "model": "unet",
                "minus": "unet_scratch",
                "season": f"S{k}",
                "area": "a",
                "mode": "lenient",
                "rmse_diff": differences.mean(),
                "rmse_diff_low": low,
                "rmse_diff_high": high,
                "days": days,
            }
        )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("groups", [2, 8])
def test_the_pooled_interval_over_season_and_areas_covers_95_percent(groups):
    rng = np.random.default_rng(groups)
    covered = []
    for _ in range(2000):
        pooled = data_efficiency.pooled_effects(group_rows(rng, groups, mean=-0.004)).iloc[0]
        covered.append(pooled.rmse_diff_low <= -0.004 <= pooled.rmse_diff_high)
    assert 0.93 <= np.mean(covered) <= 0.975  # 0.946, 0.951, 0.951 for 2, 4, 8 groups over 6000 draws


def test_the_findings_say_at_which_shares_the_pretrained_encoder_is_better():
    rng = np.random.default_rng(0)
    table = pd.concat(
        [
            group_rows(rng, 4, mean=-0.02).assign(record_fraction=0.25),
            group_rows(rng, 4, mean=0.0).assign(record_fraction=1.0),
        ]
    )
    pooled = data_efficiency.pooled_effects(table)
    assert list(pooled.groups) == [4, 4] and list(pooled.family) == ["unet", "unet"]
    (sentence,) = data_efficiency.findings(pooled)
    assert sentence.startswith(
        "unet, lenient, transfer (unet minus unet_scratch, mean over 4 season x areas, 95 %): 25 %:"
    )
    assert sentence.endswith("lower RMSE at 25 % of the training days.")
