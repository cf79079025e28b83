"""The comparison of models: the summary table, paired per-day differences with intervals that
hold their level for the test design (:mod:`downscaling.evaluation.paired_tests`), the best model per
season × area × mode, the findings and the HTML page.

Reads the metrics JSONs and per-day CSVs the evaluate rule writes
(``results/metrics/{model}/{season}/{area}/{mode}.json`` and ``…_per_day.csv``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from downscaling import paths, variants
from downscaling.evaluation.paired_tests import PairedTest

#: Metric keys of a metrics JSON that go into the summary table, in column order.
SUMMARY_COLUMNS = [
    "rmse",
    "mae",
    "r2",
    "nse",
    "kge",
    "n_days",
    "crps",
    "spread_skill",
    "spread_error_slope",
    "rank_min",
    "rank_max",
    "psd_ratio",
    "seam_ratio",
    "predicted_history_median",
    "predicted_yesterday_days",
]


#: Direction of "better" for each summary metric ("one": closest to 1).
BETTER = {
    "rmse": "min",
    "mae": "min",
    "crps": "min",
    "r2": "max",
    "nse": "max",
    "kge": "max",
    "spread_skill": "one",
    "spread_error_slope": "one",
    "psd_ratio": "one",
    "seam_ratio": "one",
}


#: Ratios that are only credited (bolded) inside this band; outside it the HTML says why.
RELIABLE_BAND = (0.7, 1.3)


#: Scores compared day by day (paired differences and their intervals) in the summary.
PAIRED_METRICS = ("rmse", "crps")


RATIO_WORDS = {
    "spread_skill": ("under-dispersed", "over-dispersed"),
    "psd_ratio": ("too smooth", "too noisy"),
    "spread_error_slope": ("spread varies more than the error, or says little", "spread varies too little"),
}


def metrics_key(path) -> dict:
    """model, season, area, mode of ``results/metrics/{model}/{season}/{area}/{mode}.json``."""
    path = Path(path)
    model, season, area = path.parts[-4:-1]
    return {"model": model, "season": season, "area": area, "mode": path.stem}


def read_metrics(metric_paths) -> list[dict]:
    """Metrics JSONs as dicts with their key (see :func:`metrics_key`) merged in, in order."""
    records = []
    for path in metric_paths:
        with open(path) as stream:
            records.append({**metrics_key(path), **json.load(stream)})
    return records


def read_per_day(metric_paths) -> dict[tuple, pd.DataFrame]:
    """{(model, season, area, mode): per-day scores indexed by date}; a deterministic model's
    CRPS is its MAE (the CRPS of a point forecast)."""
    frames = {}
    for path in metric_paths:
        key = metrics_key(path)
        frame = pd.read_csv(paths.per_day_beside(path), parse_dates=["date"]).set_index("date")
        if "crps" not in frame:
            frame["crps"] = frame["mae"]
        frames[tuple(key[k] for k in ("model", "season", "area", "mode"))] = frame
    return frames


#: The columns of one paired comparison of a metric: mean difference, interval, p-value.
DIFFERENCE_SUFFIXES = ("", "_low", "_high", "_p")


def difference_columns(metric: str) -> list[str]:
    return [f"{metric}_diff{suffix}" for suffix in DIFFERENCE_SUFFIXES]


def summary_table(metric_paths, method: str | None = None, test: PairedTest | None = None) -> pd.DataFrame:
    """The comparison table: one row per metrics JSON, in the order given.

    Columns model, season, area, mode, then :data:`SUMMARY_COLUMNS` (crps and spread_skill are
    NaN for deterministic models, which have none). With ``method``, each row also holds the
    method's per-day paired difference to the row's model (method - model: negative where the
    method is better) for each of :data:`PAIRED_METRICS`, with its interval and p-value from
    ``test`` (default: the random design's, on the files' per-day scores):
    ``<metric>_diff``, ``<metric>_diff_low``, ``<metric>_diff_high``, ``<metric>_diff_p``.
    """
    table = pd.DataFrame(read_metrics(metric_paths))
    if "rank_extremes" in table:  # the rank histogram's smallest and largest bin / uniform share
        extremes = table["rank_extremes"].apply(lambda e: e if isinstance(e, list) else [np.nan, np.nan])
        table["rank_min"], table["rank_max"] = extremes.str[0], extremes.str[1]
    for column in SUMMARY_COLUMNS:
        if column not in table:
            table[column] = np.nan
    table.insert(1, "formulation", [variants.formulation(model) for model in table["model"]])
    table = table[["model", "formulation", "season", "area", "mode", *SUMMARY_COLUMNS]]
    table = table.astype({c: float for c in SUMMARY_COLUMNS if c != "n_days"})
    if method:
        test = test or PairedTest(read_per_day(metric_paths))
        for metric in PAIRED_METRICS:
            values = []
            for row in table.itertuples():
                group = (row.season, row.area, row.mode)
                if row.model == method or (method, *group) not in test.per_day:
                    values.append((np.nan,) * len(DIFFERENCE_SUFFIXES))
                else:
                    values.append(test.compare(method, row.model, group, metric))
            table[difference_columns(metric)] = values
    return table


def best_in_group(table: pd.DataFrame, test: PairedTest | None = None) -> pd.DataFrame:
    """Boolean frame (same index, the metric columns) marking each season × area × mode's best
    model per metric (see :data:`BETTER`); ties are all marked, NaN never.

    With ``test`` (the study's per-day scores and design), a best model by one of
    :data:`PAIRED_METRICS` is marked only where the 95 % interval of its per-day differences to
    the runner-up excludes 0: a difference the test days cannot tell from noise is no best.
    """
    columns = [c for c in BETTER if c in table]
    marks = pd.DataFrame(False, index=table.index, columns=columns)
    for (season, area, mode), group in table.groupby(["season", "area", "mode"], sort=False):
        for column in columns:
            values = group[column]
            if BETTER[column] == "one":  # closest to 1, and only within the reliable band
                inside = values.between(*RELIABLE_BAND)
                values = (-(values - 1.0).abs()).where(inside)
            best = values.min() if BETTER[column] == "min" else values.max()
            marks.loc[group.index, column] = values == best
            if test is not None and column in PAIRED_METRICS and values.notna().sum() > 1:
                ranked = values.dropna().sort_values(ascending=BETTER[column] == "min").index
                first, second = (group.at[i, "model"] for i in ranked[:2])
                _, low, high, _ = test.compare(first, second, (season, area, mode), column)
                if not (high < 0 or low > 0):
                    marks.loc[group.index, column] = False
    return marks


def findings(table: pd.DataFrame, method: str) -> list[str]:
    """One sentence per season × area × mode, generated from the table's paired RMSE
    differences (see :func:`summary_table`): which models the method beats, which beat it, and
    which it cannot be told from (95 % intervals), with its spread-skill ratio."""
    sentences = []
    if not method or "rmse_diff" not in table:
        return sentences
    for (season, area, mode), group in table.groupby(["season", "area", "mode"], sort=False):
        own = group[group["model"] == method]
        others = group[(group["model"] != method) & group["rmse_diff"].notna()]
        if own.empty or others.empty:
            continue

        def listed(rows):
            return (
                ", ".join(
                    f"{r.model} ({r.rmse_diff:+.3f} [{r.rmse_diff_low:+.3f}, {r.rmse_diff_high:+.3f}])"
                    for r in rows.itertuples()
                )
                or "none"
            )

        better = others[others["rmse_diff_high"] < 0]
        worse = others[others["rmse_diff_low"] > 0]
        tied = others.drop(better.index.union(worse.index))
        spread = own["spread_skill"].iloc[0]
        sentences.append(
            f"{season} {area}, {mode}: {method}'s RMSE is lower than that of {listed(better)}; "
            f"higher than that of {listed(worse)}; not distinguishable from {listed(tied)}"
            + (f"; spread-skill {spread:.2f}" if pd.notna(spread) else "")
            + "."
        )
    return sentences


def summary_html(
    table: pd.DataFrame,
    title: str,
    test: PairedTest | None = None,
    method: str | None = None,
    ablation: pd.DataFrame | None = None,
    designs: pd.DataFrame | None = None,
    described: dict | None = None,
    probe: list[str] | None = None,
) -> str:
    """The comparison table as a standalone HTML page, best model per season × area × mode in
    bold (the Snakemake report renders HTML, not CSV; see :func:`best_in_group`), after one
    sentence per season × area × mode on the method against every other model (:func:`findings`)
    and the transfer ablation (:func:`transfer_ablation`) with the sentences of the transfer
    probe (``probe``: feature_probe's findings), if given; first, both test designs side by side
    (:func:`design_comparison`; ``described``: {design: its description}), if given."""
    marks = best_in_group(table, test)
    how = test.described if test is not None else "paired t-interval (95 %)"
    shown = table.copy()
    for column in SUMMARY_COLUMNS:
        digits = 0 if column in ("n_days", "predicted_history_median", "predicted_yesterday_days") else 3
        shown[column] = [
            ""
            if pd.isna(value)
            else (f"<b>{value:.{digits}f}</b>" if column in marks and marks.at[i, column] else f"{value:.{digits}f}")
            + _ratio_word(column, value)
            for i, value in table[column].items()
        ]
    for metric in PAIRED_METRICS:
        if f"{metric}_diff" in table:
            parts = table[difference_columns(metric)]
            shown = shown.drop(columns=parts.columns)
            shown[f"{metric}: method − model [95 %] p"] = [
                "" if pd.isna(mean) else f"{mean:+.4f} [{low:+.4f}, {high:+.4f}] {p:.3f}"
                for mean, low, high, p in parts.itertuples(index=False)
            ]
    body = shown.to_html(index=False, escape=False, border=0, classes="summary")
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><style>"
        "body{font-family:sans-serif;background:#fff;color:#111;margin:1em}"
        "table.summary{border-collapse:collapse;font-size:13px}"
        "table.summary th,table.summary td{padding:3px 9px;border-bottom:1px solid #ddd;"
        "text-align:right}table.summary th{background:#eee}"
        f"</style></head><body><h3>{title}</h3>{_designs_html(designs, method, described or {})}"
        f"{_findings_html(table, method, how)}"
        f"{_ablation_html(ablation, how)}{_probe_html(probe)}{body}"
        "<p>Scores on log10 AOD over the season's test days. Bold: best of the models in each "
        "season × area × mode (lowest RMSE/MAE/CRPS, highest R²/NSE/KGE; spread-skill, PSD "
        f"ratio and seam ratio closest to 1, credited only within {RELIABLE_BAND[0]}–"
        f"{RELIABLE_BAND[1]}). rank_min / rank_max: the rank histogram's smallest and largest "
        "bin over the uniform share (1 and 1 when flat). psd_ratio: power of member 1 over "
        "G5NR's at 25–80 km. seam_ratio: mean jump between neighbouring pixels at the worst "
        "phase of the tiling stride over the median phase. RMSE and CRPS are bolded only "
        f"where the 95 % interval ({how}) of the best model's per-day differences to the "
        "runner-up excludes 0. method − model: the method's mean per-day score minus the row's "
        "model's (negative: the method is better), with that interval and the p-value of a zero "
        "difference (a deterministic model's CRPS is its MAE).</p></body></html>\n"
    )


#: The transfer ablation's comparisons: (name, history kind, minus history kind, what negative
#: means); kinds as in variants.HISTORY_ENCODERS.
ABLATION_EFFECTS = (
    ("transfer", "transfer", "scratch", "the frozen pretrained encoder beats the same encoder trained from scratch"),
    (
        "fine-tuned transfer",
        "finetuned",
        "scratch",
        "the pretrained encoder fine-tuned with the model beats the same encoder trained from scratch",
    ),
    ("freezing", "transfer", "finetuned", "the frozen pretrained encoder beats it fine-tuned"),
    ("history", "scratch", None, "the history (encoder trained from scratch) beats no history"),
)


def transfer_ablation(test: PairedTest, models) -> pd.DataFrame:
    """The transfer effect isolated, per season × area × mode: for each family of
    :func:`variants.transfer_ablations` (the same model with the history through the frozen
    pretrained encoder, fine-tuned, from scratch, none), the per-day paired differences of
    :data:`PAIRED_METRICS` for each of :data:`ABLATION_EFFECTS` with ``test``'s 95 % intervals
    and p-values (negative: the first is better). One row per family, group and effect; effects
    whose models were not both run are left out."""
    rows = []
    per_day = test.per_day
    groups = list(dict.fromkeys(key[1:] for key in per_day))  # (season, area, mode), in table order
    for family in variants.transfer_ablations(models):
        for season, area, mode in groups:
            for effect, first, second, meaning in ABLATION_EFFECTS:
                pair = (family.get(first), family.get(second))
                keys = [(model, season, area, mode) for model in pair]
                if None in pair or not all(key in per_day for key in keys):
                    continue
                row = {
                    "effect": effect,
                    "model": pair[0],
                    "minus": pair[1],
                    "season": season,
                    "area": area,
                    "mode": mode,
                }
                for metric in PAIRED_METRICS:
                    row.update(zip(difference_columns(metric), test.compare(*pair, (season, area, mode), metric)))
                row["meaning_if_negative"] = meaning
                rows.append(row)
    return pd.DataFrame(
        rows,
        columns=[
            "effect",
            "model",
            "minus",
            "season",
            "area",
            "mode",
            *(c for m in PAIRED_METRICS for c in difference_columns(m)),
            "meaning_if_negative",
        ],
    )


def ablation_findings(ablation: pd.DataFrame) -> list[str]:
    """One sentence per effect of the transfer ablation, counted over the season × area × mode
    groups: in how many the 95 % interval of the RMSE difference lies below 0, above, or across."""
    sentences = []
    for (effect, model, minus), rows in ablation.groupby(["effect", "model", "minus"], sort=False):
        better, worse = (rows["rmse_diff_high"] < 0).sum(), (rows["rmse_diff_low"] > 0).sum()
        sentences.append(
            f"{effect.capitalize()} ({model} minus {minus}): RMSE lower in {better}, higher in {worse}, "
            f"not distinguishable in {len(rows) - better - worse} of {len(rows)} season × area × mode "
            f"groups (mean difference {rows['rmse_diff'].mean():+.4f})."
        )
    return sentences


def design_description(splits) -> str:
    """What a ``splits`` config section's test design is, in words."""
    if splits["test_design"] == "random":
        return "test days drawn at random between training days (the authors' design)"
    gap = splits["gap_days"] if splits.get("gap_days") is not None else splits["n_lag"]
    return f"blocks of {splits['block_days']} test days, {gap} days kept out of training around each"


#: The columns of :func:`design_comparison` that count, over season × area, where the method's
#: paired difference to a model is lower (better), higher, or not distinguishable.
VERDICTS = ("lower", "higher", "tied")


def design_comparison(tables, method: str) -> pd.DataFrame:
    """The models two test designs both scored, side by side: ``tables`` maps a design's name to
    its :func:`summary_table` (with the method's paired differences). One row per design, model
    and mode: the mean over season × area of RMSE, CRPS (a deterministic model's MAE),
    spread-skill and PSD ratio, and for each of :data:`PAIRED_METRICS` in how many season ×
    areas the method's 95 % interval lies below 0 (``<metric>_lower``: the method is better),
    above, or across (each design's own interval)."""
    shared = set.intersection(*(set(table["model"]) for table in tables.values()))
    rows = []
    for design, table in tables.items():
        table = table[table["model"].isin(shared)]
        for (model, mode), group in table.groupby(["model", "mode"], sort=False):
            row = {
                "design": design,
                "model": model,
                "mode": mode,
                "groups": len(group),
                "rmse": group["rmse"].mean(),
                "crps": group["crps"].fillna(group["mae"]).mean(),
                "spread_skill": group["spread_skill"].mean(),
                "psd_ratio": group["psd_ratio"].mean(),
            }
            for metric in PAIRED_METRICS:
                if f"{metric}_diff" not in group:  # no method, nothing paired
                    continue
                low, high = group[f"{metric}_diff_low"], group[f"{metric}_diff_high"]
                counts = ((high < 0).sum(), (low > 0).sum(), ((low <= 0) & (high >= 0)).sum())
                for verdict, count in zip(VERDICTS, counts):
                    row[f"{metric}_{verdict}"] = np.nan if model == method else count
            rows.append(row)
    return pd.DataFrame(rows)


def _designs_html(designs: pd.DataFrame | None, method: str, described: dict) -> str:
    if designs is None or designs["design"].nunique() < 2:
        return ""
    shown = designs[["design", "model", "mode", "groups"]].copy()
    for column in ("rmse", "crps", "spread_skill", "psd_ratio"):
        shown[column] = [f"{v:.3f}" if pd.notna(v) else "" for v in designs[column]]
    for metric in PAIRED_METRICS:
        if f"{metric}_lower" not in designs:
            continue
        counts = designs[[f"{metric}_{verdict}" for verdict in VERDICTS]]
        shown[f"{method}'s {metric}: lower / higher / n.d."] = [
            "" if pd.isna(lower) else f"{lower:.0f} / {higher:.0f} / {tied:.0f}"
            for lower, higher, tied in counts.itertuples(index=False)
        ]
    names = "; ".join(f"<b>{name}</b>: {text}" for name, text in described.items())
    return (
        f"<p>Both test designs, side by side ({names}). Means over season × area; the counts say "
        f"in how many season × areas {method}'s per-day paired difference to the model lies below "
        "0, above 0, or cannot be told from 0 (95 %, each design's own interval). Under the "
        "random design a training day can be the day after a test day, a near copy of it; the "
        "blocked design keeps the days around its test blocks out of training, so its numbers "
        "are the ones to quote.</p>" + shown.to_html(index=False, escape=False, border=0, classes="summary")
    )


def _ablation_html(ablation: pd.DataFrame | None, how: str) -> str:
    if ablation is None or ablation.empty:
        return ""
    items = "".join(f"<li>{sentence}</li>" for sentence in ablation_findings(ablation))
    shown = ablation[["effect", "model", "minus", "season", "area", "mode"]].copy()
    for metric in PAIRED_METRICS:
        parts = ablation[difference_columns(metric)]
        shown[f"{metric}: model − minus [95 %] p"] = [
            f"{m:+.4f} [{lo:+.4f}, {hi:+.4f}] {p:.3f}" for m, lo, hi, p in parts.itertuples(index=False)
        ]
    return (
        "<p>Transfer ablation (history through the frozen pretrained encoder, fine-tuned, from "
        "scratch, none; "
        f"per-day paired differences, {how}; negative: the first model is "
        f"better):</p><ul>{items}</ul>" + shown.to_html(index=False, escape=False, border=0, classes="summary")
    )


def _probe_html(sentences: list[str] | None) -> str:
    if not sentences:
        return ""
    items = "".join(f"<li>{sentence}</li>" for sentence in sentences)
    return (
        "<p>What the history encoders know (results/metrics/transfer_probe.csv): R² on the test "
        "days of a linear probe of each day's anomaly (G5NR minus the day's matched MERRA-2) per "
        "4 × 4-pixel cell, from each predictor set with the day's matched MERRA-2; against the "
        f"frozen encoder, the daily squared error's 95 % interval:</p><ul>{items}</ul>"
    )


def _findings_html(table, method, how: str) -> str:
    sentences = findings(table, method)
    if not sentences:
        return ""
    items = "".join(f"<li>{sentence}</li>" for sentence in sentences)
    return (
        f"<p>Findings (RMSE, {method} minus the other model, per-day paired differences, "
        f"{how}; negative: {method} is better):</p><ul>{items}</ul>"
    )


def _ratio_word(column, value) -> str:
    """' (under-dispersed)' and the like for a ratio outside the reliable band, else ''."""
    if column not in RATIO_WORDS or pd.isna(value) or RELIABLE_BAND[0] <= value <= RELIABLE_BAND[1]:
        return ""
    low, high = RATIO_WORDS[column]
    return f" <i>({low if value < RELIABLE_BAND[0] else high})</i>"
