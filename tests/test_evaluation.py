"""Evaluation of downscaled files: scores against hand-computed values, tables, diagnostics."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from contract_fakes import G5NR_LAT, G5NR_LON, fake_area, write_cube, write_downscaled, write_split
from statsmodels.tsa.stattools import acf

from downscaling import paths, variants
from downscaling.evaluation import comparison, longrun, scoring, spatial
from downscaling.evaluation.paired_tests import PairedTest
from downscaling.files import contracts

DATES = pd.to_datetime(["2005-07-01", "2005-07-03"])
LAT, LON = np.array([20.0, 20.5, 21.0]), np.array([40.0, 40.5, 41.0, 41.5])


@pytest.fixture
def truth():
    """(2, 3, 4) log10 AOD with a negative mean, as real AOD."""
    return np.random.default_rng(0).normal(-1.0, 0.3, size=(2, 3, 4))


def write_case(tmp_path, truth, members, dates=DATES, test_dates=DATES):
    """Truth cube, split and downscaled file of one small case; returns their paths."""
    write_cube(tmp_path / "g5nr.nc", truth, DATES, LAT, LON)
    write_split(tmp_path / "split.csv", pd.to_datetime(["2005-06-01"]), test_dates)
    write_downscaled(tmp_path / "strict.nc", members, dates, LAT, LON)
    return tmp_path / "strict.nc", tmp_path / "g5nr.nc", tmp_path / "split.csv"


def test_perfect_prediction_scores(tmp_path, truth):
    overall, per_day = scoring.evaluate_downscaled(*write_case(tmp_path, truth, truth[None]), seed=0)
    assert overall["rmse"] == pytest.approx(0, abs=1e-5)
    assert overall["mae"] == pytest.approx(0, abs=1e-5)
    assert overall["nse"] == pytest.approx(1, abs=1e-5)
    assert overall["kge"] == pytest.approx(1, abs=1e-5)
    assert overall["r2"] == pytest.approx(1, abs=1e-5)
    assert overall["n_days"] == 2 and overall["members"] == 1 and overall["n_pixels"] == 24
    assert "crps" not in overall  # deterministic: no ensemble scores
    assert list(per_day["date"]) == list(DATES)


def test_constant_offset_scores(tmp_path, truth):
    offset = 0.2
    overall, per_day = scoring.evaluate_downscaled(*write_case(tmp_path, truth, truth[None] + offset), seed=0)
    t = truth.astype(np.float32).astype(np.float64)  # the cube is stored as float32
    beta = (t.mean() + offset) / t.mean()  # r = 1 and alpha = 1 for an offset
    assert overall["rmse"] == pytest.approx(offset, abs=1e-5)
    assert overall["mae"] == pytest.approx(offset, abs=1e-5)
    assert overall["r2"] == pytest.approx(1, abs=1e-5)
    assert overall["nse"] == pytest.approx(1 - offset**2 / t.var(), abs=1e-4)
    assert overall["kge"] == pytest.approx(1 - abs(beta - 1), abs=1e-4)
    assert per_day["rmse"].to_numpy() == pytest.approx([offset, offset], abs=1e-5)


def test_two_member_ensemble_by_hand(tmp_path, truth):
    """Members truth + 0.1 and truth + 0.3 at every pixel.

    Mean = truth + 0.2 -> RMSE 0.2. Fair CRPS = mean |X - y| - |X1 - X2| / (M (M - 1)) * ...
    = 0.2 - (2 * 0.2) / (2 * 2 * 1) = 0.1. Spread-skill = sqrt(var_ddof1 * (M+1)/M) / RMSE =
    sqrt(0.02 * 1.5) / 0.2. Both members above the truth: every rank is 0.
    """
    members = np.stack([truth + 0.1, truth + 0.3])
    overall, per_day = scoring.evaluate_downscaled(*write_case(tmp_path, truth, members), seed=0)
    assert overall["members"] == 2
    assert overall["rmse"] == pytest.approx(0.2, abs=1e-5)
    assert overall["crps"] == pytest.approx(0.1, abs=1e-5)
    assert overall["spread_skill"] == pytest.approx(np.sqrt(0.03) / 0.2, abs=1e-4)
    assert overall["rank_histogram"] == [24, 0, 0]
    assert per_day["crps"].to_numpy() == pytest.approx([0.1, 0.1], abs=1e-5)


def test_days_must_be_the_test_days(tmp_path, truth):
    paths = write_case(tmp_path, truth, truth[None], test_dates=DATES[:1])
    with pytest.raises(ValueError, match="not the test days"):
        scoring.evaluate_downscaled(*paths, seed=0)


def test_missing_variable_is_named(tmp_path, truth):
    downscaled, g5nr, split = write_case(tmp_path, truth, truth[None])
    with xr.open_dataset(downscaled) as ds:
        broken = ds.drop_vars("aod_mean").load()
    broken.to_netcdf(tmp_path / "broken.nc")
    with pytest.raises(ValueError, match="'aod_mean' is missing"):
        scoring.evaluate_downscaled(tmp_path / "broken.nc", g5nr, split, seed=0)


def test_grid_mismatch_is_named(tmp_path, truth):
    downscaled, g5nr, split = write_case(tmp_path, truth, truth[None])
    write_cube(g5nr, truth, DATES, LAT + 0.25, LON)
    with pytest.raises(ValueError, match="lat grid differs"):
        scoring.evaluate_downscaled(downscaled, g5nr, split, seed=0)


def test_write_json_turns_nan_into_null(tmp_path):
    contracts.write_json({"r2": float("nan"), "rmse": 0.5, "hist": [1, 2]}, tmp_path / "m.json")
    assert json.loads((tmp_path / "m.json").read_text()) == {"r2": None, "rmse": 0.5, "hist": [1, 2]}


def write_metrics(root, model, mode, **scores):
    path = root / "results" / "metrics" / model / "JJA" / "west" / f"{mode}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    contracts.write_json({"rmse": 0.1, "mae": 0.1, "r2": 0.5, "nse": 0.4, "kge": 0.3, "n_days": 9, **scores}, path)
    return path


def test_summary_table_rows_columns_and_best(tmp_path):
    paths = [
        write_metrics(
            tmp_path,
            "ddpm",
            "strict",
            rmse=0.05,
            r2=0.9,
            crps=0.02,
            spread_skill=0.8,
            rank_histogram=[1, 2, 1],
            rank_extremes=[0.75, 1.5],
        ),
        write_metrics(tmp_path, "ddpm_notransfer", "strict", crps=0.03, spread_skill=0.05),
        write_metrics(tmp_path, "unet", "strict", rmse=0.07, r2=0.95),
        write_metrics(tmp_path, "interp", "strict", rmse=0.2, r2=0.4),
    ]
    table = comparison.summary_table(paths)
    assert list(table.columns) == ["model", "formulation", "season", "area", "mode", *comparison.SUMMARY_COLUMNS]
    assert list(table["model"]) == ["ddpm", "ddpm_notransfer", "unet", "interp"]  # the order of the files
    assert table["formulation"].iloc[0].startswith("the paper's")
    assert list(table[["rank_min", "rank_max"]].iloc[0]) == [0.75, 1.5]
    assert set(table["season"]) == {"JJA"} and set(table["area"]) == {"west"}
    assert table["crps"].iloc[0] == pytest.approx(0.02) and table["crps"].iloc[2:].isna().all()
    best = comparison.best_in_group(table)
    assert list(best["rmse"]) == [True, False, False, False]
    assert list(best["r2"]) == [False, False, True, False]
    assert list(best["spread_skill"]) == [True, False, False, False]
    page = comparison.summary_html(table, "Comparison")
    assert "<b>0.050</b>" in page and "<b>0.950</b>" in page and "<b>0.200</b>" not in page
    assert "0.050 <i>(under-dispersed)</i>" in page  # never bolded as the best
    # an under-dispersed ensemble is not credited even when it is the only one
    alone = comparison.best_in_group(table.iloc[1:])
    assert not alone["spread_skill"].any()


def write_per_day(metrics_path, rmse, crps=None):
    dates = pd.date_range("2005-06-01", periods=len(rmse), freq="3D")
    frame = pd.DataFrame({"date": dates, "rmse": rmse, "mae": rmse})
    if crps is not None:
        frame["crps"] = crps
    frame.to_csv(paths.per_day_beside(metrics_path), index=False, date_format="%Y-%m-%d")


def test_paired_differences_with_their_intervals_decide_what_is_bolded(tmp_path):
    rng = np.random.default_rng(0)
    days = 0.1 + 0.03 * rng.standard_normal(20)  # how hard each test day is, shared by every model
    paths = {
        "ddpm_residual": write_metrics(tmp_path, "ddpm_residual", "lenient", rmse=0.080, crps=0.050),
        "unet": write_metrics(tmp_path, "unet", "lenient", rmse=0.081),
        "interp": write_metrics(tmp_path, "interp", "lenient", rmse=0.150),
    }
    write_per_day(paths["ddpm_residual"], days - 0.020 + 0.002 * rng.standard_normal(20), crps=days - 0.05)
    write_per_day(paths["unet"], days - 0.020 + 0.002 * rng.standard_normal(20))  # a tie within noise
    write_per_day(paths["interp"], days + 0.05 + 0.002 * rng.standard_normal(20))
    test = PairedTest(comparison.read_per_day(list(paths.values())), "random", seed=1)
    table = comparison.summary_table(list(paths.values()), method="ddpm_residual", test=test)
    rows = table.set_index("model")
    assert np.isnan(rows.at["ddpm_residual", "rmse_diff"])
    assert rows.at["interp", "rmse_diff"] == pytest.approx(-0.07, abs=0.003)
    assert rows.at["interp", "rmse_diff_low"] < rows.at["interp", "rmse_diff"] < rows.at["interp", "rmse_diff_high"] < 0
    assert rows.at["unet", "rmse_diff_low"] < 0 < rows.at["unet", "rmse_diff_high"]
    assert rows.at["interp", "crps_diff"] == pytest.approx(-0.1, abs=0.003)  # interp's CRPS is its MAE
    assert rows.at["interp", "rmse_diff_p"] == pytest.approx(
        1 / 20001
    )  # all 20 days better: no drawn pattern as extreme
    assert rows.at["unet", "rmse_diff_p"] > 0.05
    # RMSE: the method is best, but not clearly better than unet: nothing bolded
    assert not comparison.best_in_group(table, test)["rmse"].any()
    assert list(comparison.best_in_group(table)["rmse"]) == [True, False, False]  # without the per-day test
    # CRPS: clearly better than the runner-up (unet's MAE): bolded
    assert list(comparison.best_in_group(table, test)["crps"]) == [True, False, False]
    page = comparison.summary_html(table, "Comparison", test, method="ddpm_residual")
    assert "rmse: method − model [95 %] p" in page and "-0.07" in page and "sign-flip" in page
    (sentence,) = comparison.findings(table, "ddpm_residual")
    assert sentence.startswith("JJA west, lenient: ddpm_residual's RMSE is lower than that of interp (-0.07")
    assert "higher than that of none; not distinguishable from unet (" in sentence
    assert sentence in page


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    return fake_area(tmp_path_factory.mktemp("area"))


def test_sample_days_by_area_mean(area):
    days = scoring.sample_days(area["g5nr"], area["split"], ["min", "median", "max", "p0"])
    area_mean = (10.0 ** area["truth"]).mean(axis=(1, 2))  # test days in date order
    order = np.argsort(area_mean)
    test_days = area["test_days"]
    assert days["min"] == test_days[order[0]] == days["p0"]
    assert days["max"] == test_days[order[-1]]
    assert days["median"] == test_days[order[len(order) // 2]]  # 5 days: the middle one
    with pytest.raises(ValueError, match="'mean' is not min, median, max or pNN"):
        scoring.sample_days(area["g5nr"], area["split"], ["mean"])


def strict_paths(area, models=("ddpm", "unet", "interp")):
    return {m: area["downscaled"][m, "strict"] for m in models}


def test_spectra_table(area):
    fields = scoring.season_prediction_fields(area["g5nr"], area["split"], strict_paths(area), 1e-6)
    assert [f.label for f in fields] == [
        "G5NR",
        "ddpm ensemble mean",
        "ddpm member 1",
        "ddpm member 2",
        "ddpm member 3",
        "unet",
        "interp",
    ]
    table = scoring.spectra_table(fields)
    truth = table[table["source"] == "G5NR"]
    unet = table[table["source"] == "unet"]
    # unet = truth + a constant: each day's mean is removed, so the spectra agree
    assert unet["psd"].to_numpy() == pytest.approx(truth["psd"].to_numpy(), rel=1e-3)
    dx, dy = scoring.grid_spacing_km(G5NR_LAT, G5NR_LON)
    wavenumber, psd = spatial.radial_power_spectrum(fields[2].values, dx, dy)
    member = table[table["label"] == "ddpm member 1"]
    assert member["psd"].to_numpy() == pytest.approx(psd)
    assert member["wavelength_km"].to_numpy() == pytest.approx(1 / wavenumber)
    assert set(table["n_days"]) == {5}


def test_grid_spacing_km():
    dx, dy = scoring.grid_spacing_km(np.array([-0.0625, 0.0, 0.0625]), np.array([10.0, 10.0625, 10.125]))
    assert dy == pytest.approx(6.95, abs=0.01) and dx == pytest.approx(6.95, abs=0.01)


def test_variogram_tables_share_pairs(area):
    fields = scoring.season_prediction_fields(area["g5nr"], area["split"], strict_paths(area, ("unet",)), 1e-6)
    merra2 = scoring.merra2_field(area["merra2"], area["test_days"], G5NR_LAT, G5NR_LON)
    assert merra2.lat.min() >= G5NR_LAT.min() and merra2.lat.max() <= G5NR_LAT.max()
    curves, fits = scoring.variogram_tables([*fields, merra2], max_km=300, bins=12, pairs=2000, seed=0)
    truth = curves[curves["source"] == "G5NR"]
    unet = curves[curves["source"] == "unet"]
    # same grid and seed -> the same pairs; an offset leaves every difference unchanged
    assert unet["gamma"].to_numpy() == pytest.approx(truth["gamma"].to_numpy(), rel=1e-4)
    assert list(fits["source"]) == ["G5NR", "unet", "MERRA-2"]
    assert (fits["range_km"] > 0).all() and (fits["sill"] >= fits["nugget"]).all()
    assert len(curves) == 3 * 12


def test_temporal_tables(area):
    acf_table, lags = scoring.temporal_tables(area["g5nr"], area["merra2"], area["longrun"], nlags=30, max_lag=4)
    n_days = acf_table.groupby("source")["n_days"].first().to_dict()
    assert n_days == {"G5NR": 150, "MERRA-2": 730, "long run": 70}
    with xr.open_dataset(area["g5nr"]) as ds:
        series = ds["log10_aod"].mean(("lat", "lon")).values.astype(np.float64)
    expected = acf(series, nlags=30, fft=True)
    got = acf_table.loc[acf_table["source"] == "G5NR", "acf"].to_numpy()
    assert got == pytest.approx(expected, abs=1e-6)
    assert list(lags["source"].unique()) == ["G5NR", "MERRA-2 (G5NR period)", "long run"]
    assert list(lags.loc[lags["source"] == "G5NR", "lag"]) == [1, 2, 3, 4]
    assert lags.loc[lags["source"] == "G5NR", "n_pairs"].tolist() == [149, 148, 147, 146]
    # MERRA-2 over the G5NR period only: 150 days as well
    assert lags.loc[lags["source"] == "MERRA-2 (G5NR period)", "n_pairs"].iloc[0] == 149
    # the long run's diagnostics are those of a member (truth + noise here), not of the smoother mean
    with xr.open_dataset(area["longrun"]) as ds:
        member = np.log10(ds["aod_member"].isel(member=0)).mean(("lat", "lon")).values.astype(np.float64)
    assert acf_table.loc[acf_table["source"] == "long run", "acf"].to_numpy() == pytest.approx(
        acf(member, nlags=30, fft=True), abs=1e-5
    )


def test_acf_needs_a_gap_free_series():
    dates = pd.date_range("2005-01-01", periods=80).delete(10)
    series = pd.Series(np.random.default_rng(0).normal(size=79), index=dates)
    with pytest.raises(ValueError, match="gappy: the daily series has gaps"):
        scoring.acf_table({"gappy": series}, nlags=10)


def test_short_series_gets_fewer_lags():
    series = pd.Series(np.random.default_rng(0).normal(size=21), index=pd.date_range("2005-01-01", periods=21))
    table = scoring.acf_table({"short": series}, nlags=30)
    assert table["lag"].max() == 10


def test_spaced_days():
    assert list(contracts.spaced_days(10, 20)) == list(range(10))
    picked = contracts.spaced_days(1000, 100, run_length=25)
    assert len(picked) == 100 and picked[0] == 0 and picked[-1] == 999
    assert np.sum(np.diff(picked) == 1) == 96  # four runs of 25 consecutive days


def test_area_mean_series_of_members(area):
    means = contracts.area_mean_series(area["longrun"], "aod_member", log_floor=1e-6)
    assert means.dims == ("time", "member") and means.shape == (70, 3)  # as the file stores them
    with xr.open_dataset(area["longrun"]) as ds:
        expected = np.log10(ds["aod_member"].values.astype(np.float64)).mean(axis=(2, 3))
    assert means.values == pytest.approx(expected, abs=1e-5)


def test_longrun_series_and_frames(area):
    series = longrun.longrun_series(area["longrun"], area["merra2"])
    assert list(series["date"]) == list(area["run_dates"])
    assert (series["member_min"] <= series["longrun"] + 1e-9).all()
    assert (series["longrun"] <= series["member_max"] + 1e-9).all()
    assert series["merra2"].notna().all()
    frames = longrun.longrun_frames(area["longrun"], area["merra2"], max_frames=7)
    assert len(frames.dates) == 7 and frames.run.shape == (7, 48, 64)
    assert frames.dates[0] == area["run_dates"][0] and frames.dates[-1] == area["run_dates"][-1]
    # native cells overlapping the area: their centres within half a cell of it
    assert frames.merra2_lat.min() < G5NR_LAT.min() < frames.merra2_lat.min() + 0.5


def test_longrun_skill_against_the_known_truth(area):
    skill = longrun.longrun_skill(area["longrun"], area["known_truth"], area["g5nr"], area["merra2"])
    assert list(skill["lead_days"]) == list(range(1, len(area["run_dates"]) + 1))
    # members are truth + N(0, 0.05): their mean is off by about 0.05 / sqrt(3)
    assert skill["rmse"].mean() == pytest.approx(0.05 / np.sqrt(3), rel=0.15)
    assert (skill["merra2_rmse"] > 1.5 * skill["rmse"]).all()  # MERRA-2 carries a +0.05 bias
    assert (skill["crps"] > 0).all() and (skill["spread_skill"] > 1).all()  # truth has no noise: wide
    assert (skill["psd_ratio"] > 1).all()  # white noise adds power at 25-80 km
    assert skill["bias"].abs().max() < 0.005 and skill["merra2_bias"].mean() == pytest.approx(0.05, abs=0.01)


def test_the_drift_checks_count_the_months_within_each_goal(area):
    skill = longrun.longrun_skill(area["longrun"], area["known_truth"], area["g5nr"], area["merra2"])
    monthly = longrun.drift_by_month(skill)
    months = pd.DatetimeIndex(skill["date"]).to_period("M")
    assert list(monthly["month"]) == sorted(set(months.astype(str))) and monthly["days"].sum() == len(skill)
    first = skill[months == months[0]]
    assert monthly.at[0, "bias"] == pytest.approx(first["bias"].mean())
    bias, psd, spread = longrun.drift_summary(monthly)
    n = len(monthly)
    assert bias.startswith(f"Drift, area-mean bias by month: within -0.02..0.02 in {n} of {n} months")
    assert psd.startswith(f"Drift, PSD ratio by month: within 0.9..1.1 in 0 of {n} months")  # white noise: > 1
    # a run whose area mean drifts away by 0.01 a month fails the bias check from its third month
    drifting = skill.assign(bias=skill["bias"] + 0.01 * np.searchsorted(np.unique(months), months))
    assert longrun.drift_summary(longrun.drift_by_month(drifting))[0].startswith(
        f"Drift, area-mean bias by month: within -0.02..0.02 in 2 of {n} months"
    )


def test_longrun_skill_beside_the_statistical_references(area):
    summer = longrun.SeasonTraining.read(area["g5nr"], area["merra2_on_g5nr"], area["split"])
    assert len(summer.dates) == summer.g5nr.shape[0] == summer.merra2.shape[0] > 50
    # the run covers autumn and winter; the fake split has summer only: learn from it for both
    skill = longrun.longrun_skill(
        area["longrun"],
        area["known_truth"],
        area["g5nr"],
        area["merra2"],
        training={"SON": summer, "DJF": summer},
        seed=1,
    )
    # MERRA-2 knows the day's large scales, the climatology does not; the drawn residuals add the
    # fine scales MERRA-2 lacks, as a spread that follows the error (~0.9) and a lower CRPS
    assert skill["interp_qm_rmse"].mean() < 0.6 * skill["climatology_rmse"].mean()
    assert (
        skill["interp_mm_rmse"].mean() < 0.6 * skill["climatology_rmse"].mean()
        and "interp_mm_spread_skill" not in skill
    )
    assert skill["interp_qm_stochastic_crps"].mean() < 0.8 * skill["interp_qm_crps"].mean()
    assert 0.7 < skill["interp_qm_stochastic_spread_skill"].mean() < 1.1 and "interp_qm_spread_skill" not in skill
    sentences = longrun.lead_summary(skill)
    assert [s.split(":")[0] for s in sentences] == [
        "Against MERRA-2 on the grid",
        "Against interp_qm",
        "Against interp_mm",
        "Against the stochastic interp_qm",
        "Against the G5NR climatology",
    ]
    assert sentences[0].startswith(
        "Against MERRA-2 on the grid: CRPS lower in 14 of 14 5-day blocks of lead (better at every lead"
    )
    worse = skill.assign(crps=skill["merra2_crps"] + np.where(skill["lead_days"] > 30, 0.01, -0.01))
    assert "no better from lead day 31 on" in longrun.lead_summary(worse)[0]
    late = skill.assign(crps=skill["merra2_crps"] + np.where(skill["lead_days"] > 30, -0.01, 0.01))
    assert "CRPS lower in 8 of 14 5-day blocks of lead (better again in the last block" in longrun.lead_summary(late)[0]


def test_longrun_skill_needs_the_truth_on_every_day(area, tmp_path):
    with xr.open_dataset(area["known_truth"]) as ds:
        ds.isel(time=slice(0, 10)).to_netcdf(tmp_path / "short.nc")
    with pytest.raises(ValueError, match="short.nc: the known truth lacks 60 days of the long run"):
        longrun.longrun_skill(area["longrun"], tmp_path / "short.nc", area["g5nr"], area["merra2"])


def test_longrun_needs_merra2_on_every_day(area, tmp_path):
    with xr.open_dataset(area["merra2"]) as ds:
        short = ds.sel(time=slice(None, "2005-11-01")).load()
    short.to_netcdf(tmp_path / "merra2.nc")
    with pytest.raises(ValueError, match="MERRA-2 lacks 49 days of the long run"):
        longrun.longrun_series(area["longrun"], tmp_path / "merra2.nc")


def test_the_transfer_ablation_reads_no_history_without_transfer_with_transfer(tmp_path):
    assert variants.transfer_ablations(["ddpm_residual", "ddpm", "ddpm_scratch", "ddpm_notransfer", "unet"]) == [
        {"transfer": "ddpm", "scratch": "ddpm_scratch", None: "ddpm_notransfer"}
    ]
    assert variants.transfer_ablations(["ddpm", "ddpm_notransfer"]) == [{"transfer": "ddpm", None: "ddpm_notransfer"}]
    assert variants.transfer_ablations(["unet", "unet_finetuned", "unet_scratch", "ddpm", "ddpm_finetuned"]) == [
        {"transfer": "unet", "finetuned": "unet_finetuned", "scratch": "unet_scratch"},
        {"transfer": "ddpm", "finetuned": "ddpm_finetuned"},
    ]
    assert variants.transfer_ablations(["ddpm_residual", "unet", "ddpm"]) == []  # nothing to compare
    # a residual model's ablation is of its family, not of the paper's (same history, other model)
    assert variants.transfer_ablations(["ddpm_residual", "ddpm_residual_scratch", "ddpm", "unet", "unet_scratch"]) == [
        {"transfer": "ddpm_residual", "scratch": "ddpm_residual_scratch"},
        {"transfer": "unet", "scratch": "unet_scratch"},
    ]
    rng = np.random.default_rng(0)
    days = 0.1 + 0.03 * rng.standard_normal(20)
    per_day_rmse = {"ddpm": days - 0.02, "ddpm_scratch": days, "ddpm_notransfer": days + 0.0005}
    paths = []
    for model, rmse in per_day_rmse.items():
        paths.append(write_metrics(tmp_path, model, "lenient", rmse=float(rmse.mean())))
        write_per_day(paths[-1], rmse + 0.002 * rng.standard_normal(20))
    test = PairedTest(comparison.read_per_day(paths), "random", seed=1)
    ablation = comparison.transfer_ablation(test, list(per_day_rmse)).set_index("effect")
    assert list(ablation.index) == ["transfer", "history"]
    assert tuple(ablation.loc["transfer", ["model", "minus"]]) == ("ddpm", "ddpm_scratch")
    assert ablation.at["transfer", "rmse_diff"] == pytest.approx(-0.02, abs=0.002)
    assert ablation.at["transfer", "rmse_diff_high"] < 0  # the pretrained encoder clearly helps
    assert ablation.at["history", "rmse_diff_low"] < 0 < ablation.at["history", "rmse_diff_high"]  # a tie
    transfer, history = comparison.ablation_findings(ablation.reset_index())
    assert transfer.startswith(
        "Transfer (ddpm minus ddpm_scratch): RMSE lower in 1, higher in 0, not distinguishable in 0 of 1"
    )
    assert history.startswith(
        "History (ddpm_scratch minus ddpm_notransfer): RMSE lower in 0, higher in 0, not distinguishable in 1 of 1"
    )
    table = comparison.summary_table(paths)
    assert transfer in comparison.summary_html(table, "Comparison", test, None, ablation.reset_index())
