"""The data-efficiency study: the transfer ablation again on shares of the G5NR training days
(config ``data_efficiency``; each share a module of the workflow with
``splits.record_fraction``), beside the full record's. The paper's premise is that the long
MERRA-2 record teaches what a short high-resolution record cannot: if it holds, the frozen or
fine-tuned pretrained encoder should gain on the scratch one as the share shrinks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from downscaling import variants
from downscaling.evaluation import comparison
from downscaling.evaluation.paired_tests import PairedTest

#: The effects of comparison.ABLATION_EFFECTS the study draws (what pretraining adds, frozen and
#: fine-tuned, and what the history adds), as in its table.
EFFECTS = ("transfer", "fine-tuned transfer", "history")


def ablation_by_share(metrics_by_share: dict, design: str, seed: int, models) -> pd.DataFrame:
    """The transfer ablation (comparison.transfer_ablation) of each share {fraction: the
    evaluate rule's metrics JSONs}, one table with the share, each model's mean RMSE over the
    group's test days and the number of days the pair has in common."""
    tables = []
    for fraction, metric_paths in metrics_by_share.items():
        test = PairedTest(comparison.read_per_day(metric_paths), design, seed=seed)
        table = comparison.transfer_ablation(test, models)
        groups = list(zip(table.season, table.area, table["mode"]))
        table.insert(0, "record_fraction", float(fraction))
        for column in ("model", "minus"):
            table[f"rmse_{column}"] = [
                float(test.per_day[(name, *group)]["rmse"].mean()) for name, group in zip(table[column], groups)
            ]
        table["days"] = [
            len(test.differences(first, second, group, "rmse"))
            for first, second, group in zip(table.model, table.minus, groups)
        ]
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def family_of(model: str) -> str:
    """The transfer-ablation family a model belongs to, named by its frozen-encoder model."""
    return variants.VARIANTS[model].ablation_of or model


def pooled_effects(table: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per family, effect of :data:`EFFECTS`, mode and share: the mean over season x areas of the paired RMSE
    difference and its interval. The groups are independent; each group's standard error is
    its interval's half-width over the t quantile it was built with (days - 1 degrees of
    freedom), and the pooled interval is a t-interval with Welch-Satterthwaite's degrees of
    freedom: it holds its level if the groups' do (tests/test_data_efficiency.py simulates it)."""
    rows = []
    table = table[table.effect.isin(EFFECTS)]
    table = table.assign(family=[family_of(model) for model in table.model])
    for (family, effect, mode, fraction), group in table.groupby(
        ["family", "effect", "mode", "record_fraction"], sort=False
    ):
        dof = group.days.to_numpy() - 1
        variances = (
            (group.rmse_diff_high - group.rmse_diff_low).to_numpy() / (2 * stats.t.ppf((1 + level) / 2, dof))
        ) ** 2
        mean, error = float(group.rmse_diff.mean()), float(np.sqrt(variances.sum()) / len(group))
        welch = variances.sum() ** 2 / np.sum(variances**2 / dof)  # Welch-Satterthwaite degrees of freedom
        half = stats.t.ppf((1 + level) / 2, welch) * error
        rows.append(
            {
                "family": family,
                "effect": effect,
                "model": group.model.iloc[0],
                "minus": group.minus.iloc[0],
                "mode": mode,
                "record_fraction": fraction,
                "groups": len(group),
                "rmse_diff": mean,
                "rmse_diff_low": mean - half,
                "rmse_diff_high": mean + half,
            }
        )
    return pd.DataFrame(rows)


def findings(pooled: pd.DataFrame) -> list[str]:
    """Where, if anywhere, transfer pays off: per family and mode, the pretrained encoder's
    (frozen and fine-tuned) RMSE difference to the scratch one at each share, in words."""
    sentences = []
    shown = pooled[pooled.effect.isin(EFFECTS[:2])]
    for (family, mode, effect), rows in shown.groupby(["family", "mode", "effect"], sort=False):
        rows = rows.sort_values("record_fraction")
        parts = [
            f"{100 * r.record_fraction:g} %: {r.rmse_diff:+.4f} [{r.rmse_diff_low:+.4f}, {r.rmse_diff_high:+.4f}]"
            for r in rows.itertuples()
        ]
        pays = [f"{100 * r.record_fraction:g} %" for r in rows.itertuples() if r.rmse_diff_high < 0]
        verdict = f"lower RMSE at {', '.join(pays)} of the training days" if pays else "lower RMSE at no share"
        sentences.append(
            f"{family}, {mode}, {effect} ({rows.model.iloc[0]} minus {rows.minus.iloc[0]}, mean over "
            f"{rows.groups.max()} season x areas, 95 %): {'; '.join(parts)}; {verdict}."
        )
    return sentences
