"""Stage code end to end on tiny fake cubes: pretrain -> features -> large models -> inference."""

import dataclasses
import logging

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from downscaling import variants
from downscaling.data import transfer_features
from downscaling.data.datasets import lowpass_history, open_cube
from downscaling.data.splits import make_splits
from downscaling.files.outputs import DailyWriter, SourceVariable
from downscaling.inference import longrun, stitched
from downscaling.inference.spread_calibration import SpreadCalibration
from downscaling.training import large_model_stage, small_unet_stage
from downscaling.training.loop import TrainingRun
from downscaling.training.settings import StageSettings

LOG = logging.getLogger("test")
N_LAG, TILE, STRIDE = 40, 16, 8
SMALL = dict(
    channels=[8, 16, 32],
    res_blocks=1,
    attention=True,
    groups=4,
    lr=1e-3,
    batch_size=32,
    max_epochs=1,
    tiles_per_epoch=128,
    val_tiles=64,
    val_fraction=0.2,
    plateau_factor=0.1,
    plateau_patience=3,
    min_lr=1e-6,
    early_stop=6,
)
LARGE = dict(SMALL, timesteps=100, schedule="squaredcos_cap_v2", grad_clip=0.5)


def write_cube(path, values, lat, lon, dates):
    xr.Dataset(
        {"log10_aod": (("time", "lat", "lon"), values.astype(np.float32), {"units": "1"})},
        coords={"time": dates, "lat": lat, "lon": lon},
    ).to_netcdf(path)


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    """Fake ingested cubes of one area, splits, and tiny trained models of every kind."""
    d = tmp_path_factory.mktemp("area")
    rng = np.random.default_rng(0)
    dates = pd.date_range("2005-01-01", "2005-12-31")
    lat, lon = 20 + 0.0625 * np.arange(24), 40 + 0.0625 * np.arange(32)
    base = np.cumsum(rng.normal(size=(len(dates), 1, 1)) * 0.05, 0) - 1
    g5nr = base + 0.1 * rng.normal(size=(len(dates), 24, 32))
    write_cube(d / "g5nr.nc", g5nr, lat, lon, dates)
    # not a per-pixel linear map of G5NR: matching its moments must leave an anomaly to learn
    write_cube(d / "merra2_on_g5nr.nc", 0.9 * g5nr + 0.1 + 0.05 * rng.normal(size=g5nr.shape), lat, lon, dates)
    write_cube(
        d / "merra2.nc",
        base + 0.1 * rng.normal(size=(len(dates), 20, 20)),
        18 + 0.5 * np.arange(20),
        38 + 0.625 * np.arange(20),
        dates,
    )
    xr.Dataset(
        {"elevation": (("lat", "lon"), rng.uniform(0, 1000, (24, 32)).astype(np.float32))},
        coords={"lat": lat, "lon": lon},
    ).to_netcdf(d / "static.nc")
    splits = make_splits(dates, dates, N_LAG, 0.1, 45, 1)
    splits["g5nr"]["JJA"].to_csv(d / "g5nr.csv", index=False)
    splits["merra2"]["JJA"].to_csv(d / "merra2.csv", index=False)
    cpu = torch.device("cpu")
    small_unet_stage.train(
        d / "merra2.nc",
        d / "merra2.csv",
        StageSettings.from_section(SMALL, 1),
        N_LAG,
        TILE,
        STRIDE,
        1,
        TrainingRun(d / "ck.pt", d / "small.pt", cpu, LOG, "run"),
    )
    encoder, norm = small_unet_stage.load_encoder(d / "small.pt")
    transfer_features.extract(
        encoder, norm, d / "g5nr.nc", d / "g5nr.csv", N_LAG, TILE, STRIDE, d / "features.npy", d / "index.csv"
    )
    paths = {k: d / f"{k}.nc" for k in ("g5nr", "merra2_on_g5nr", "static")}
    paths.update(features=d / "features.npy", index=d / "index.csv", small_unet=d / "small.pt")
    for model in sorted(variants.VARIANTS, key=lambda m: variants.VARIANTS[m].residual_of is not None):
        base = variants.VARIANTS[model].residual_of  # trained before the residual variants
        large_model_stage.train(
            model,
            {**paths, **({"base": d / f"{base}.pt"} if base else {})},
            StageSettings.from_section(LARGE, 1),
            TILE,
            1,
            TrainingRun(d / f"ck_{model}.pt", d / f"{model}.pt", cpu, LOG, "run"),
        )
    return d


def test_features_equal_the_encoder_on_each_tiles_history(area):
    encoder, norm = small_unet_stage.load_encoder(area / "small.pt")
    feats, index = transfer_features.load(area / "features.npy", area / "index.csv")
    cube = norm.apply(open_cube(area / "g5nr.nc").values)
    for k in (0, len(index) // 2, len(index) - 1):
        day, r, c = index.loc[k, ["day", "row", "col"]]
        history = torch.from_numpy(cube[day - N_LAG : day, r : r + TILE, c : c + TILE][None].copy())
        expected = encoder(history)[0].numpy()
        np.testing.assert_allclose(feats[k].astype(np.float32), expected, rtol=2e-3, atol=2e-3)
    assert feats.dtype == np.float16 and feats.shape[1:] == (32, 4, 4)


def test_the_ablation_has_no_feature_input(area):
    model, saved = large_model_stage.load(area / "ddpm_notransfer.pt")
    assert model.cond_channels == 5
    assert large_model_stage.load(area / "ddpm.pt")[0].cond_channels == 32 + 5


def test_the_scratch_encoder_has_the_transfer_encoders_shape_and_its_own_trained_weights(area):
    model, saved = large_model_stage.load(area / "ddpm_scratch.pt")
    transfer_encoder, _ = small_unet_stage.load_encoder(area / "small.pt")
    scratch, pretrained = model.history_encoder.state_dict(), transfer_encoder.state_dict()
    assert model.cond_channels == large_model_stage.load(area / "ddpm.pt")[0].cond_channels
    assert {k: v.shape for k, v in scratch.items()} == {k: v.shape for k, v in pretrained.items()}
    assert all(not torch.equal(scratch[k], pretrained[k]) for k in scratch if k.endswith("weight"))
    # trained with the DDPM: its weights moved from the initialisation the seed gives
    torch.manual_seed(1)
    initial = large_model_stage.build(
        variants.VARIANTS["ddpm_scratch"],
        32,
        large_model_stage.model_kwargs(variants.VARIANTS["ddpm_scratch"], StageSettings.from_section(LARGE, 1)),
        saved["history_encoder"],
    ).history_encoder.state_dict()
    assert any(not torch.equal(scratch[k], initial[k]) for k in scratch)
    assert all(p.requires_grad for p in model.history_encoder.parameters())
    # the transfer ddpm has no encoder of its own: its features come from the frozen one
    assert large_model_stage.load(area / "ddpm.pt")[0].history_encoder is None


def test_the_finetuned_encoder_starts_from_the_pretrained_weights_and_stays_near_them(area):
    tuned = large_model_stage.load(area / "ddpm_finetuned.pt")[0].history_encoder.state_dict()
    scratch = large_model_stage.load(area / "ddpm_scratch.pt")[0].history_encoder.state_dict()
    pretrained = small_unet_stage.load_encoder(area / "small.pt")[0].state_dict()
    weights = [k for k in tuned if k.endswith("weight")]
    assert any(not torch.equal(tuned[k], pretrained[k]) for k in weights)  # trained with the model
    moved = sum(float((tuned[k] - pretrained[k]).norm()) for k in weights)
    apart = sum(float((scratch[k] - pretrained[k]).norm()) for k in weights)
    assert moved < 0.2 * apart  # from the pretrained weights, at a tenth of the learning rate (measured 0.08)


def test_a_finetuned_encoder_learns_at_its_share_of_the_learning_rate():
    from downscaling.training.loop import TrainingState, TrainSettings

    variant = variants.VARIANTS["unet_finetuned"]
    model = large_model_stage.build(
        variant,
        32,
        large_model_stage.model_kwargs(variant, StageSettings.from_section(LARGE, 1)),
        dict(in_channels=N_LAG, channels=(8, 16, 32), res_blocks=1, attention=True, groups=4),
    )
    settings = TrainSettings.from_config(LARGE, 1)
    groups = TrainingState.start(model, settings, torch.device("cpu")).optimizer.param_groups
    assert [len(g["params"]) for g in groups] == [len(list(model.parameters()))]  # factor 1: one group
    tuned = TrainingState.start(model, dataclasses.replace(settings, encoder_lr_factor=0.1), torch.device("cpu"))
    rest, encoder = tuned.optimizer.param_groups
    assert encoder["lr"] == pytest.approx(0.1 * rest["lr"]) and rest["lr"] == LARGE["lr"]
    assert {id(p) for p in encoder["params"]} == {id(p) for p in model.history_encoder.parameters()}
    assert len(rest["params"]) + len(encoder["params"]) == len(list(model.parameters()))


def downscale(area, model, mode, positions, batch=None, prefix="", **settings):
    """Fields of `model` (the file {prefix}{model}.pt and its base's alike) on test days."""
    truth, merra2 = open_cube(area / "g5nr.nc"), open_cube(area / "merra2_on_g5nr.nc")
    settings = stitched.InferenceSettings(
        **{"steps": 3, "members": 2, "stride": STRIDE, "halo": 2, "precision": "float32", **settings}
    )
    base = variants.VARIANTS[model].residual_of
    downscaler = stitched.Downscaler(
        area / f"{prefix}{model}.pt",
        area / "small.pt",
        area / "static.nc",
        settings,
        torch.device("cpu"),
        seed=3,
        base_path=base and area / f"{prefix}{base}.pt",
    )
    downscaler.batch = batch or downscaler.batch
    dates = pd.DatetimeIndex(truth["time"].values)
    return list(stitched.downscale_test_days(downscaler, truth.values, merra2.values, dates, positions, mode))


@pytest.mark.parametrize(
    "model",
    ["ddpm", "ddpm_residual", "ddpm_scratch", "ddpm_finetuned", "unet", "unet_scratch", "ddpm_residual_scratch"],
)
def test_strict_and_lenient_agree_on_the_first_day_and_then_differ(area, model):
    positions = np.arange(200, 204)  # consecutive test days
    strict = downscale(area, model, "strict", positions)
    lenient = downscale(area, model, "lenient", positions)
    assert [d for d, _ in strict] == [d for d, _ in lenient]
    np.testing.assert_array_equal(strict[0][1], lenient[0][1])
    for (_, strict_fields), (_, lenient_fields) in zip(strict[1:], lenient[1:]):
        assert np.abs(strict_fields - lenient_fields).max() > 1e-6


def test_a_spread_calibration_adds_centred_fields_that_a_member_draws_alone(area, tmp_path):
    calibration = SpreadCalibration(error=(0.01, 0.0, 0.0, 0.004, 0, 0, 0, 0), spread=(0.0,) * 8, n_days=3, members=3)
    calibration.save(tmp_path / "spread_calibration.json")
    truth, merra2 = open_cube(area / "g5nr.nc"), open_cube(area / "merra2_on_g5nr.nc")
    history, date = truth.values[None, 200 - N_LAG : 200], truth.time.values[200]

    def members(path, which=None):
        downscaler = stitched.Downscaler(
            area / "ddpm_residual.pt",
            area / "small.pt",
            area / "static.nc",
            stitched.InferenceSettings(steps=2, members=3, stride=STRIDE, halo=2, precision="float32"),
            torch.device("cpu"),
            3,
            area / "unet.pt",
            path,
        )
        return downscaler.predict_day(merra2.values[200], date, history, 5, which)

    plain, calibrated = members(None), members(tmp_path / "spread_calibration.json")
    added = calibrated - plain
    assert added.std(axis=0).mean() > 0.05  # the area-mean band alone would give sqrt(0.01 * 3 / 4)
    np.testing.assert_allclose(calibrated.mean(axis=0), plain.mean(axis=0), atol=1e-5)
    alone = members(tmp_path / "spread_calibration.json", [2])[0] - members(None, [2])[0]
    np.testing.assert_array_equal(alone, added[2])
    with pytest.raises(ValueError, match="unet has no ensemble to calibrate"):
        stitched.Downscaler(
            area / "unet.pt",
            area / "small.pt",
            area / "static.nc",
            stitched.InferenceSettings(stride=STRIDE, halo=2),
            torch.device("cpu"),
            3,
            spread_calibration_path=tmp_path / "spread_calibration.json",
        )


def test_the_training_summary_names_the_validation_days_held_out(area):
    index = pd.read_csv(area / "index.csv", parse_dates=["date"])
    summary = large_model_stage.train(
        "unet",
        {
            **{k: area / f"{k}.nc" for k in ("g5nr", "merra2_on_g5nr", "static")},
            "features": area / "features.npy",
            "index": area / "index.csv",
        },
        StageSettings.from_section(dict(LARGE, max_epochs=1, tiles_per_epoch=32), 1),
        TILE,
        1,
        TrainingRun(area / "ck_again.pt", area / "unet_again.pt", torch.device("cpu"), LOG, "again"),
    )
    days = pd.DatetimeIndex(summary["validation_days"])
    assert (
        len(days) == round(0.2 * index.day.nunique()) and days.isin(index.date).all() and days.is_monotonic_increasing
    )


@pytest.mark.parametrize("model", ["ddpm", "ddpm_residual"])
def test_downscaling_is_reproducible(area, model):
    a = downscale(area, model, "strict", np.array([200, 201]))
    b = downscale(area, model, "strict", np.array([200, 201]))
    for (_, x), (_, y) in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("model", ["ddpm", "ddpm_residual", "ddpm_scratch"])
def test_the_encoder_at_every_step_gives_the_fields_of_the_encoder_once_per_tile(area, model):
    # the authors' way (benchmarked against the default) differs in cost, not in result
    once = downscale(area, model, "strict", np.array([200, 201]))
    every = downscale(area, model, "strict", np.array([200, 201]), encoder_every_step=True)
    for (_, x), (_, y) in zip(once, every):
        np.testing.assert_allclose(x, y, atol=1e-4)


@pytest.mark.parametrize("mode", ["strict", "lenient"])
@pytest.mark.parametrize("encoder_every_step", [False, True])
@pytest.mark.parametrize("model", ["ddpm", "ddpm_residual"])
def test_fields_do_not_depend_on_the_batch_size(area, mode, encoder_every_step, model):
    # 2 members x 6 tiles in batches of 5: windows cut across members, and in lenient mode
    # read the rows of the condition (or history) shared by both members across the wrap
    whole = downscale(area, model, mode, np.array([200, 201]), encoder_every_step=encoder_every_step)
    batched = downscale(area, model, mode, np.array([200, 201]), batch=5, encoder_every_step=encoder_every_step)
    for (_, x), (_, y) in zip(whole, batched):
        np.testing.assert_allclose(x, y, atol=1e-5)
        assert np.abs(x[0] - x[1]).max() > 1e-3  # the members differ: each has its own rows of noise


@pytest.mark.parametrize("mode", ["strict", "lenient"])
@pytest.mark.parametrize("model", ["ddpm", "ddpm_residual", "ddpm_scratch"])
def test_conditions_built_per_batch_give_the_fields_of_held_conditions(area, mode, model):
    # a budget too small to hold the day's conditions: each batch builds its own from the features
    held = downscale(area, model, mode, np.array([200, 201]))
    per_batch = downscale(area, model, mode, np.array([200, 201]), batch=5, memory_budget_mb=0)
    for (_, x), (_, y) in zip(held, per_batch):
        np.testing.assert_allclose(x, y, atol=1e-5)


def test_members_are_sampled_in_groups_that_fit_the_memory_budget(area, monkeypatch):
    # strict mode at the paper's scale: the members' own transfer features do not fit at once
    positions = np.array([200, 201, 202])
    together = downscale(area, "ddpm_residual", "strict", positions, members=5)
    groups = []
    predict_members = stitched.Downscaler._predict_members

    def recorded(self, merra2_log, date, history_log, day_seed, members):
        groups.append((members, len(history_log)))
        return predict_members(self, merra2_log, date, history_log, day_seed, members)

    monkeypatch.setattr(stitched.Downscaler, "_predict_members", recorded)
    monkeypatch.setattr(stitched.Downscaler, "member_bytes", lambda self, own_history: 2**19 if own_history else 2**10)
    grouped = downscale(area, "ddpm_residual", "strict", positions, members=5, memory_budget_mb=1)
    assert groups == [([0, 1], 2), ([2, 3], 2), ([4], 1)] * len(positions)  # each with its own histories
    for (_, x), (_, y) in zip(together, grouped):
        np.testing.assert_allclose(x, y, atol=1e-5)  # other batches: float32 rounding only


@pytest.mark.parametrize(
    "model, base, feature_channels",
    [
        ("ddpm_residual", "unet", 32),
        ("ddpm_residual_scratch", "unet_scratch", 32),  # each reads the history with its own encoder
        ("ddpm_residual_finetuned", "unet_finetuned", 32),
        ("ddpm_residual_notransfer", "unet_notransfer", 0),
    ],
)
def test_the_residual_model_adds_sampled_residuals_to_its_base_mean(area, model, base, feature_channels):
    unet = downscale(area, base, "lenient", np.array([200, 201]))
    residual = downscale(area, model, "lenient", np.array([200, 201]), members=4)
    network, saved = large_model_stage.load(area / f"{model}.pt")
    assert saved["residual_scale"] > 0 and network.cond_channels == feature_channels + 5 + 1
    for (_, mean), (_, members) in zip(unet, residual):
        spread = members.std(axis=0).mean()
        assert spread > 1e-3  # members differ
        # centred on the unet's field: the members' mean is closer to it than a member is
        assert np.abs(members.mean(0) - mean[0]).mean() < np.abs(members[0] - mean[0]).mean()


def test_rows_of_reads_shared_rows_cyclically():
    shared = torch.arange(6)
    assert stitched.rows_of(shared, 2, 5).tolist() == [2, 3, 4]
    assert stitched.rows_of(shared, 4, 9).tolist() == [4, 5, 0, 1, 2]
    assert stitched.rows_of(shared, 7, 12).tolist() == [1, 2, 3, 4, 5]
    assert stitched.rows_of(shared, 2, 5)._base is shared  # a view when the window does not wrap


def test_outputs_are_cf_netcdf_with_provenance(area, tmp_path):
    days = downscale(area, "ddpm", "lenient", np.array([200, 202]))
    lat, lon = open_cube(area / "g5nr.nc")["lat"].values, open_cube(area / "g5nr.nc")["lon"].values
    path = tmp_path / "out.nc"
    with DailyWriter(path, lat, lon, 2, {"model": "ddpm", "checkpoint_sha256_model": "abc"}) as out:
        for date, members in days:
            out.write(date, members)
    ds = xr.open_dataset(path)
    assert list(ds["time"].dt.strftime("%Y-%m-%d").values) == [f"{d:%Y-%m-%d}" for d, _ in days]
    for name in ("aod_member", "aod_mean", "log10_aod_spread"):
        assert ds[name].attrs["units"] == "1" and ds[name].attrs["long_name"]
        assert "_FillValue" in ds[name].encoding
    assert ds["lat"].attrs["units"] == "degrees_north" and ds["lon"].attrs["units"] == "degrees_east"
    assert ds.attrs["provenance_checkpoint_sha256_model"] == "abc" and ds.attrs["Conventions"] == "CF-1.8, ACDD-1.3"
    np.testing.assert_allclose(np.log10(ds["aod_mean"].values), np.log10(ds["aod_member"].values).mean(1), atol=1e-5)
    # CF: time first, a realization axis, a standard name, the wavelength and daily bounds
    assert ds["aod_member"].dims == ("time", "member", "lat", "lon")
    assert ds["member"].attrs["standard_name"] == "realization"
    assert ds["aod_mean"].attrs["standard_name"] == "atmosphere_optical_thickness_due_to_dust_ambient_aerosol_particles"
    assert float(ds["wavelength"]) == 550.0 and ds["wavelength"].attrs["units"] == "nm"
    bounds = ds["time_bnds"].values
    assert (bounds[:, 1] - bounds[:, 0] == np.timedelta64(1, "D")).all() and (bounds[:, 0] == ds["time"].values).all()
    assert {"title", "summary", "source", "references", "history"} <= set(ds.attrs)


def test_a_failed_write_leaves_no_file(tmp_path):
    path = tmp_path / "out.nc"
    with pytest.raises(ValueError):
        with DailyWriter(path, np.arange(3.0), np.arange(4.0), 1, {}) as out:
            out.write("2005-01-01", np.zeros((2, 3, 4)))  # wrong member count
    assert not list(tmp_path.iterdir())


def test_long_run_feeds_its_own_predictions_back(area):
    truth, merra2 = open_cube(area / "g5nr.nc"), open_cube(area / "merra2_on_g5nr.nc")
    settings = stitched.InferenceSettings(steps=2, members=1, stride=STRIDE, halo=2)
    downscaler = stitched.Downscaler(
        area / "unet.pt", area / "small.pt", area / "static.nc", settings, torch.device("cpu"), seed=3
    )
    seen = []

    class Recording:
        members, seed, n_lag = 1, 3, N_LAG

        def predict_day(self, merra2_log, date, history, day_seed, members):
            seen.append(history.copy())
            return downscaler.predict_day(merra2_log, date, history, day_seed, members)

    dates = pd.date_range("2006-01-01", periods=3)
    days = list(stitched.long_run(lambda season: Recording(), lambda d: merra2.values[0], truth.values[-N_LAG:], dates))
    assert [d for d, _, _ in days] == list(dates)
    assert all(h.shape == (1, N_LAG, 24, 32) for h in seen)
    np.testing.assert_array_equal(seen[1][0, -1], days[0][1][0])  # day 1's prediction is day 2's last lag
    np.testing.assert_array_equal(seen[2][0, -2], days[0][1][0])
    np.testing.assert_array_equal(days[1][2], seen[2])  # the history yielded is the next day's
    # cut after day 2 and continued from its history: day 3 as in the run that was not cut
    ((_, continued, _),) = stitched.long_run(
        lambda season: Recording(), lambda d: merra2.values[0], days[1][2], dates[2:]
    )
    np.testing.assert_array_equal(continued, days[2][1])


@pytest.mark.parametrize("model", ["ddpm_residual", "ddpm_residual_finetuned"])  # the demo's method: fine-tuned
def test_each_member_of_a_long_run_is_a_chain_of_its_own(area, model):
    # so that SLURM can run the members side by side: member 2 alone is member 2 of the ensemble
    truth, merra2 = open_cube(area / "g5nr.nc"), open_cube(area / "merra2_on_g5nr.nc")
    settings = stitched.InferenceSettings(steps=3, members=3, stride=STRIDE, halo=2)
    base = variants.VARIANTS[model].residual_of
    downscalers = stitched.SeasonalDownscalers(
        {season: (area / f"{model}.pt", area / "small.pt", area / f"{base}.pt", None) for season in ("DJF", "MAM")},
        area / "static.nc",
        {"DJF": settings, "MAM": settings},
        torch.device("cpu"),
        seed=3,
    )
    dates = pd.date_range("2006-02-27", periods=3)  # across a season change
    whole = list(stitched.long_run(downscalers, lambda d: merra2.values[0], truth.values[-N_LAG:], dates))
    alone = list(stitched.long_run(downscalers, lambda d: merra2.values[0], truth.values[-N_LAG:], dates, members=[2]))
    for (_, all_members, history), (_, member, own_history) in zip(whole, alone):
        np.testing.assert_array_equal(member[0], all_members[2])
        np.testing.assert_array_equal(own_history[0], history[2])
    assert np.abs(whole[-1][1][0] - whole[-1][1][2]).max() > 1e-3
    assert set(downscalers.checkpoints) == {
        f"{kind}_{season}" for kind in ("model", "small_unet", "base") for season in ("DJF", "MAM")
    }


def test_transfer_features_are_standardised_with_training_statistics(area):
    model, saved = large_model_stage.load(area / "ddpm.pt")
    feats, index = transfer_features.load(area / "features.npy", area / "index.csv")
    x = np.asarray(feats, dtype=np.float64)  # every row: train and validation days
    assert model.feature_mean.shape == (32,) and model.feature_std.shape == (32,)
    # the statistics come from the training days only, so they are close to, not equal to, all rows'
    np.testing.assert_allclose(model.feature_mean.numpy(), x.mean(axis=(0, 2, 3)), atol=0.1 * x.std())
    assert not torch.allclose(model.feature_std, torch.ones(32))
    assert len(large_model_stage.load(area / "ddpm_notransfer.pt")[0].feature_mean) == 0


def test_another_source_variable_is_named_as_such(tmp_path):
    path = tmp_path / "total.nc"
    source = SourceVariable("TOTEXTTAU", "Total Aerosol Extinction AOT [550 nm]")
    with DailyWriter(path, np.arange(3.0), np.arange(4.0), 1, {"model": "unet"}, source) as out:
        out.write("2005-06-01", np.zeros((1, 3, 4)))
    ds = xr.open_dataset(path)
    assert ds["aod_mean"].attrs["standard_name"] == "atmosphere_optical_thickness_due_to_ambient_aerosol_particles"
    assert ds["aod_mean"].attrs["long_name"].startswith("Total Aerosol Extinction AOT [550 nm]")
    assert "Dust" not in ds.attrs["title"] and "TOTEXTTAU" in ds.attrs["source"]


@pytest.mark.parametrize("model", ["ddpm_residual", "unet"])
def test_bfloat16_inference_stays_close_to_float32_and_is_reproducible(area, model):
    float32 = downscale(area, model, "strict", np.array([200, 201]))
    bf16 = downscale(area, model, "strict", np.array([200, 201]), precision="bfloat16")
    again = downscale(area, model, "strict", np.array([200, 201]), precision="bfloat16")
    for (_, x), (_, y), (_, z) in zip(float32, bf16, again):
        np.testing.assert_array_equal(y, z)
        # the stated tolerance (docs/performance.md): 0.02 log10 AOD at most per pixel
        assert 0 < np.abs(x - y).max() < 0.02


def test_a_run_starts_from_the_g5nr_days_before_it_or_after_the_record_from_its_end():
    dates = pd.date_range("2005-01-01", periods=100)
    cube = np.arange(100, dtype=np.float32)[:, None, None] * np.ones((1, 2, 2), np.float32)
    history, run = stitched.start_of_run(cube, dates, "2005-03-01", "2005-03-05", 40)  # inside the record
    assert history[:, 0, 0].tolist() == list(range(19, 59)) and list(run) == list(
        pd.date_range("2005-03-01", "2005-03-05")
    )
    history, run = stitched.start_of_run(cube, dates, "2005-04-20", "2005-04-25", 40)  # after it: from its end
    assert history[:, 0, 0].tolist() == list(range(60, 100)) and run[0] == dates[-1] + pd.Timedelta(days=1)
    assert run[-1] == pd.Timestamp("2005-04-25")
    with pytest.raises(ValueError, match="2005-01-10 has 9 G5NR days before it .* the history needs 40"):
        stitched.start_of_run(cube, dates, "2005-01-10", "2005-01-20", 40)
    with pytest.raises(ValueError, match="ends before it starts"):
        stitched.start_of_run(cube, dates, "2005-03-10", "2005-03-01", 40)


def test_each_long_run_chunk_continues_from_the_one_before():
    firsts = longrun.chunks("2006-06-17", "2006-08-15", 30)
    assert firsts == ["2006-06-17", "2006-07-17"]
    assert [longrun.previous_chunk("2006-06-17", first, 30) for first in firsts] == [None, "2006-06-17"]
    with pytest.raises(ValueError, match="2006-06-20 is not the first day of a 30-day chunk"):
        longrun.previous_chunk("2006-06-17", "2006-06-20", 30)


@pytest.fixture(scope="module")
def climatology_models(area):
    """unet and its residual model trained with the per-pixel climatology inputs, beside the others."""
    section = dict(LARGE, climatology_inputs=True)
    anomaly = dict(section, predict_anomaly=True)
    for prefix, model, settings, extra in (
        ("clim_", "unet", section, {}),
        ("clim_", "ddpm_residual", section, {"base": area / "clim_unet.pt"}),
        ("anom_", "unet", anomaly, {}),
        ("anom_", "ddpm_residual", section, {"base": area / "anom_unet.pt"}),
        ("anom_", "ddpm_notransfer", anomaly, {}),
    ):
        train_large(area, model, settings, f"{prefix}{model}", **extra)
    return area


def stage_paths(area) -> dict:
    """The inputs of a large model's training in the `area` fixture's folder."""
    paths = {k: area / f"{k}.nc" for k in ("g5nr", "merra2_on_g5nr", "static")}
    paths.update(features=area / "features.npy", index=area / "index.csv", small_unet=area / "small.pt")
    return paths


def train_large(area, model: str, section: dict, name: str, **paths) -> None:
    """Train `model` with the settings `section` into {area}/{name}.pt (`paths`: e.g. its base)."""
    large_model_stage.train(
        model,
        {**stage_paths(area), **paths},
        StageSettings.from_section(section, 1),
        TILE,
        1,
        TrainingRun(area / f"ck_{name}.pt", area / f"{name}.pt", torch.device("cpu"), LOG, "run"),
    )


def test_climatology_inputs_are_the_training_days_per_pixel_moments_saved_with_the_model(climatology_models):
    area = climatology_models
    model, saved = large_model_stage.load(area / "clim_unet.pt")
    assert model.cond_channels == 32 + 5 + 5
    assert large_model_stage.load(area / "clim_ddpm_residual.pt")[0].cond_channels == 32 + 5 + 5 + 1
    norm = {k: large_model_stage.MinMax.from_dict(v) for k, v in saved["normalisation"].items()}
    index = pd.read_csv(area / "index.csv", parse_dates=["date"])
    g5nr, merra2 = open_cube(area / "g5nr.nc"), open_cube(area / "merra2_on_g5nr.nc")
    train = g5nr.time.to_index().isin(index.date.unique())
    assert 0 < train.sum() < len(train)  # test days are not training days: they must not count
    target, coarse = norm["g5nr"].apply(g5nr.values[train]), norm["merra2"].apply(merra2.values[train])
    expected = np.stack([target.mean(0), target.std(0), coarse.mean(0), coarse.std(0)])
    np.testing.assert_allclose(saved["climatology"].numpy(), expected, rtol=1e-5, atol=1e-6)
    # and what a model without them saved has none
    assert "climatology" not in large_model_stage.load(area / "unet.pt")[1]


def test_a_model_with_climatology_inputs_downscales_and_reads_them(climatology_models):
    area, days = climatology_models, np.array([200, 201])
    for model in ("unet", "ddpm_residual"):
        plain = downscale(area, model, "lenient", days)
        with_maps = downscale(area, model, "lenient", days, prefix="clim_")
        assert all(np.isfinite(x).all() and np.abs(x - y).max() > 1e-4 for (_, x), (_, y) in zip(with_maps, plain))
    # the maps enter the condition: other maps, another field
    downscaler = stitched.Downscaler(
        area / "clim_unet.pt",
        area / "small.pt",
        area / "static.nc",
        stitched.InferenceSettings(stride=STRIDE, halo=2),
        torch.device("cpu"),
        3,
    )
    truth, merra2 = open_cube(area / "g5nr.nc"), open_cube(area / "merra2_on_g5nr.nc")
    history = truth.values[None, 200 - N_LAG : 200]
    before = downscaler.predict_day(merra2.values[200], truth.time.values[200], history, 0)
    downscaler.climatology_tiles = downscaler.climatology_tiles + 0.5
    after = downscaler.predict_day(merra2.values[200], truth.time.values[200], history, 0)
    assert np.abs(after - before).max() > 1e-4


def test_a_residual_model_and_its_base_must_agree_on_the_climatology_inputs(climatology_models):
    area = climatology_models
    with pytest.raises(
        ValueError, match="ddpm_residual was trained with per-pixel climatology inputs and its base unet without"
    ):
        stitched.Downscaler(
            area / "clim_ddpm_residual.pt",
            area / "small.pt",
            area / "static.nc",
            stitched.InferenceSettings(stride=STRIDE, halo=2),
            torch.device("cpu"),
            3,
            base_path=area / "unet.pt",
        )


def matched_merra2_field(area, saved, day):
    """The day's MERRA-2 matched to each pixel's G5NR moments, log10, from the cubes and the
    model's saved maps (an independent recomputation of the anomaly models' base)."""
    norm = {k: large_model_stage.MinMax.from_dict(v) for k, v in saved["normalisation"].items()}
    g5nr_mean, g5nr_std, merra2_mean, merra2_std = saved["climatology"].numpy()
    merra2 = norm["merra2"].apply(open_cube(area / "merra2_on_g5nr.nc").values[day])
    return norm["g5nr"].invert(g5nr_mean + (merra2 - merra2_mean) * g5nr_std / np.maximum(merra2_std, 1e-3))


@pytest.mark.parametrize("model", ["unet", "ddpm_notransfer"])
def test_a_model_that_predicts_the_anomaly_adds_its_output_to_the_matched_merra2(climatology_models, model):
    area = climatology_models
    network, saved = large_model_stage.load(area / f"anom_{model}.pt")
    assert saved["predicts_anomaly"] and not network.bounded and saved["residual_scale"] > 0
    fields = downscale(area, model, "lenient", np.array([200, 201]), prefix="anom_")
    assert all(np.isfinite(x).all() for _, x in fields)
    # a network whose output is 0 predicts the matched MERRA-2 itself, whatever its members' noise
    downscaler = stitched.Downscaler(
        area / f"anom_{model}.pt",
        area / "small.pt",
        area / "static.nc",
        stitched.InferenceSettings(steps=2, members=2, stride=STRIDE, halo=2),
        torch.device("cpu"),
        3,
    )
    last = [m for m in downscaler.model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        last.weight.zero_(), last.bias.zero_()
    truth = open_cube(area / "g5nr.nc")
    members = downscaler.predict_day(
        open_cube(area / "merra2_on_g5nr.nc").values[200],
        truth.time.values[200],
        truth.values[None, 200 - N_LAG : 200],
        0,
    )
    for member in members:
        np.testing.assert_allclose(member, matched_merra2_field(area, saved, 200), atol=2e-5)


def test_a_residual_model_on_an_anomaly_base_centres_its_members_on_that_base(climatology_models):
    area, days = climatology_models, np.array([200, 201])
    base = downscale(area, "unet", "lenient", days, prefix="anom_")
    members = downscale(area, "ddpm_residual", "lenient", days, prefix="anom_", members=4)
    for (_, mean), (_, ensemble) in zip(base, members):
        assert ensemble.std(axis=0).mean() > 1e-3
        assert np.abs(ensemble.mean(0) - mean[0]).mean() < np.abs(ensemble[0] - mean[0]).mean()


def test_predict_anomaly_without_climatology_inputs_is_refused_before_training(area):
    with pytest.raises(ValueError, match="unet: predict_anomaly needs climatology_inputs"):
        train_large(area, "unet", dict(LARGE, predict_anomaly=True), "x")
    assert not (area / "x.pt").exists()


@pytest.fixture(scope="module")
def lowpass_models(area):
    """unet_finetuned and its residual model reading the history through a 3-px low-pass."""
    section = dict(LARGE, history_lowpass_px=3)
    train_large(area, "unet_finetuned", section, "lp_unet_finetuned")
    train_large(
        area, "ddpm_residual_finetuned", section, "lp_ddpm_residual_finetuned", base=area / "lp_unet_finetuned.pt"
    )
    return area


@pytest.mark.parametrize("model", ["unet_finetuned", "ddpm_residual_finetuned"])
def test_a_history_lowpass_is_saved_with_the_model_and_applied_to_the_history_it_reads(lowpass_models, model):
    area = lowpass_models
    assert large_model_stage.load(area / f"lp_{model}.pt")[1]["history_lowpass_px"] == 3
    base = variants.VARIANTS[model].residual_of
    downscaler = stitched.Downscaler(
        area / f"lp_{model}.pt",
        area / "small.pt",
        area / "static.nc",
        stitched.InferenceSettings(steps=2, members=2, stride=STRIDE, halo=2, precision="float32"),
        torch.device("cpu"),
        3,
        base_path=base and area / f"lp_{base}.pt",
    )
    truth, merra2 = open_cube(area / "g5nr.nc"), open_cube(area / "merra2_on_g5nr.nc")
    history, date = truth.values[None, 200 - N_LAG : 200].astype(np.float32), truth.time.values[200]
    read = downscaler.predict_day(merra2.values[200], date, history, 0)
    downscaler.history_lowpass = 0  # the same model fed the filtered history: the filter commutes with the scaling
    assert np.abs(downscaler.predict_day(merra2.values[200], date, history, 0) - read).max() > 1e-3
    filtered = downscaler.predict_day(merra2.values[200], date, lowpass_history(history, 3), 0)
    np.testing.assert_allclose(filtered, read, atol=1e-4)


def test_a_residual_model_and_its_base_must_read_the_history_through_one_lowpass(lowpass_models):
    area = lowpass_models
    with pytest.raises(ValueError, match="its base unet_finetuned through 3.0 px"):
        train_large(area, "ddpm_residual_finetuned", LARGE, "x", base=area / "lp_unet_finetuned.pt")
    with pytest.raises(ValueError, match="unet: history_lowpass_px is for models whose encoder reads the history"):
        train_large(area, "unet", dict(LARGE, history_lowpass_px=3), "x")
    assert not (area / "x.pt").exists()


def test_the_history_lowpass_keeps_the_large_scales_and_removes_the_fine_ones():
    y, x = np.mgrid[0:64, 0:64]
    large, fine = np.sin(2 * np.pi * x / 64), 0.5 * (-1.0) ** (x + y)  # a 64-px wave, a 2-px checkerboard
    days = np.stack([large + fine, -large + fine]).astype(np.float32)[None]  # (1, 2, H, W)
    assert lowpass_history(days, 0) is days
    smooth = lowpass_history(days, 3)
    assert smooth.shape == days.shape and smooth.dtype == np.float32
    inner = (slice(16, 48), slice(16, 48))  # away from the edges
    kept = np.exp(-2 * (np.pi * 3 / 64) ** 2)  # a Gaussian's gain at the wave's wavenumber: 0.957
    np.testing.assert_allclose(smooth[0, 0][inner], kept * large[inner], atol=0.01)
    np.testing.assert_allclose(smooth[0, 1][inner], -kept * large[inner], atol=0.01)
