import numpy as np
import pandas as pd
import pytest

from downscaling.data.splits import SEASONS, has_history, make_splits, predicted_history, season_of

G5NR = pd.date_range("2005-05-15", "2007-06-16")
MERRA2 = pd.date_range("2000-01-01", "2008-12-31")
SETTINGS = dict(n_lag=40, test_ratio=0.10, buffer_days=45, seed=7)


@pytest.fixture(scope="module")
def splits():
    return make_splits(G5NR, MERRA2, **SETTINGS)


@pytest.mark.parametrize("source", ["g5nr", "merra2"])
def test_no_test_day_trains_and_every_test_day_has_history(splits, source):
    dates = G5NR if source == "g5nr" else MERRA2
    for season in SEASONS:
        df = splits[source][season]
        test = set(df.date[df.split == "test"])
        train = set(df.date[df.split == "train"])
        assert test and not test & train
        ok = dict(zip(dates, has_history(dates, SETTINGS["n_lag"])))
        assert all(ok[d] for d in test)
        assert all(d - pd.Timedelta(days=40) in set(dates) for d in test)


@pytest.mark.parametrize("source", ["g5nr", "merra2"])
def test_test_share_is_ten_percent_of_core_days(splits, source):
    dates = G5NR if source == "g5nr" else MERRA2
    for season in SEASONS:
        df = splits[source][season]
        n_core = int((season_of(dates) == season).sum())
        n_test = int((df.split == "test").sum())
        assert abs(n_test - 0.10 * n_core) <= 1


def test_buffer_days_are_train_only_and_within_45_days(splits):
    for season in SEASONS:
        df = splits["g5nr"][season]
        buffer = df[season_of(df.date) != season]
        assert len(buffer) > 0
        assert (buffer.split == "train").all()
        core_days = df.date[season_of(df.date) == season]
        gaps = [(core_days[core_days > d].min() - d).days for d in buffer.date]
        assert 1 <= min(gaps) and max(gaps) <= 45


def test_no_g5nr_test_day_trains_anything(splits):
    g5nr_test = pd.concat([df.date[df.split == "test"] for df in splits["g5nr"].values()])
    for source in ("g5nr", "merra2"):
        for df in splits[source].values():
            assert not set(df.date[df.split == "train"]) & set(g5nr_test)


def test_g5nr_test_days_are_merra2_test_days(splits):
    for season in SEASONS:
        g, m = splits["g5nr"][season], splits["merra2"][season]
        assert set(g.date[g.split == "test"]) <= set(m.date[m.split == "test"])


def test_same_seed_same_split_other_seed_differs():
    a = make_splits(G5NR, MERRA2, **SETTINGS)["g5nr"]["JJA"]
    b = make_splits(G5NR, MERRA2, **SETTINGS)["g5nr"]["JJA"]
    c = make_splits(G5NR, MERRA2, **{**SETTINGS, "seed": 8})["g5nr"]["JJA"]
    assert a.to_csv() == b.to_csv()
    assert a.to_csv() != c.to_csv()


def test_too_short_record_is_a_clear_error():
    short = pd.date_range("2005-06-01", "2005-07-12")  # 42 days: 2 with history, 4 wanted
    with pytest.raises(ValueError, match="history"):
        make_splits(short, short, **SETTINGS)


def test_season_of():
    days = pd.to_datetime(["2005-12-01", "2006-02-28", "2006-03-01", "2006-11-30"])
    assert list(season_of(days)) == ["DJF", "DJF", "MAM", "SON"]
    assert np.all(has_history(pd.date_range("2005-01-01", periods=3), 1) == [False, True, True])


def runs_of_consecutive_days(days) -> list[int]:
    numbers = np.sort(pd.DatetimeIndex(days).values.astype("datetime64[D]").astype(int))
    breaks = np.flatnonzero(np.diff(numbers) != 1) + 1
    return [len(run) for run in np.split(numbers, breaks)]


def test_blocked_design_keeps_a_gap_around_blocks_of_test_days():
    blocked = make_splits(G5NR, MERRA2, **SETTINGS, test_design="blocked", block_days=10)
    random = make_splits(G5NR, MERRA2, **SETTINGS)
    all_test = pd.DatetimeIndex(pd.concat([df.date[df.split == "test"] for df in blocked["g5nr"].values()]))
    for season in SEASONS:
        g5nr = blocked["g5nr"][season]
        test, train = g5nr.date[g5nr.split == "test"], g5nr.date[g5nr.split == "train"]
        assert len(test) == (random["g5nr"][season].split == "test").sum()  # as many test days
        assert max(runs_of_consecutive_days(test)) == 10 and len(runs_of_consecutive_days(test)) <= 2
        # no training day within n_lag days of any test day of any season, on either axis
        distance = np.abs((train.values[:, None] - all_test.values[None, :]) / np.timedelta64(1, "D"))
        assert distance.min() > SETTINGS["n_lag"]
        merra2 = blocked["merra2"][season]
        assert set(test) <= set(merra2.date[merra2.split == "test"])
        m_train = merra2.date[merra2.split == "train"].values
        assert np.abs((m_train[:, None] - all_test.values[None, :]) / np.timedelta64(1, "D")).min() > SETTINGS["n_lag"]
        assert len(train) > 50
    again = make_splits(G5NR, MERRA2, **SETTINGS, test_design="blocked", block_days=10)
    assert all(again["g5nr"][s].equals(blocked["g5nr"][s]) for s in SEASONS)


def test_a_blocked_design_that_leaves_no_training_day_is_a_clear_error():
    one_year = pd.date_range("2005-05-15", "2006-06-16")
    with pytest.raises(ValueError, match="leaves no training day .* lower splits.gap_days"):
        make_splits(one_year, one_year, **{**SETTINGS, "buffer_days": 0}, test_design="blocked", gap_days=60)


def test_strict_mode_predicts_only_the_earlier_test_days_of_a_history():
    test_dates = pd.to_datetime(["2005-06-10", "2005-06-11", "2005-06-30", "2005-08-15"])
    counts, yesterday = predicted_history(test_dates, n_lag=40)
    assert counts.tolist() == [0, 1, 2, 0]  # 2005-08-15's window (from 07-06) holds no test day
    assert yesterday.tolist() == [False, True, False, False]


def test_a_record_fraction_keeps_a_nested_share_of_the_g5nr_training_days_and_nothing_else(splits):
    shares = {f: make_splits(G5NR, MERRA2, **SETTINGS, record_fraction=f) for f in (0.25, 0.5)}
    for season in SEASONS:
        full = splits["g5nr"][season]
        kept = {f: set(s["g5nr"][season].query("split == 'train'").date) for f, s in shares.items()}
        train = set(full.query("split == 'train'").date)
        assert len(kept[0.25]) == int(np.ceil(0.25 * len(train))) and len(kept[0.5]) == int(np.ceil(0.5 * len(train)))
        assert kept[0.25] < kept[0.5] < train  # nested: a smaller record is part of a larger one
        for share in shares.values():
            table = share["g5nr"][season]
            assert table.date.equals(full.date)  # the same days, only relabelled
            assert table.query("split == 'test'").date.equals(full.query("split == 'test'").date)
            assert set(table.split) == {"train", "test", "unused"}
            pd.testing.assert_frame_equal(share["merra2"][season], splits["merra2"][season])  # the small U-Net's
    # spread over the season, not one end of it: the kept days' median is near the training days'
    days = pd.DatetimeIndex(sorted(kept[0.25]))
    assert abs((days.to_series().median() - pd.Series(sorted(train)).median()).days) < 20
