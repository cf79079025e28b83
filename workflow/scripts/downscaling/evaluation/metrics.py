"""Verification metrics for downscaled fields: deterministic scores and ensemble skill.

All scores are meant for log10 AOD values (as the paper evaluates them) and are NaN-aware:
a pixel counts only where the truth and the prediction (every member, for ensembles) are
finite. Arrays of any shape are accepted; pixels of all days are pooled unless stated.
"""

import numpy as np
import pandas as pd


def _finite_pairs(pred, truth):
    """Flatten `pred` and `truth` (same shape) to 1-D float64 arrays of the pixels finite in both.

    Raises ValueError when the shapes differ or no pixel is finite in both.
    """
    pred = np.asarray(pred, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} does not match truth shape {truth.shape}")
    valid = np.isfinite(pred) & np.isfinite(truth)
    if not valid.any():
        raise ValueError(f"no pixel is finite in both prediction and truth (shape {truth.shape})")
    return pred[valid], truth[valid]


def _pearson_r(p, t):
    """Pearson correlation of two 1-D arrays; NaN when either is constant (r undefined)."""
    p_dev, t_dev = p - p.mean(), t - t.mean()
    denominator = np.sqrt(np.sum(p_dev**2) * np.sum(t_dev**2))
    return float(np.sum(p_dev * t_dev) / denominator) if denominator > 0 else float("nan")


def rmse(pred, truth):
    """Root-mean-square error over the finite pixels, in the units of the inputs."""
    p, t = _finite_pairs(pred, truth)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def mae(pred, truth):
    """Mean absolute error over the finite pixels, in the units of the inputs."""
    p, t = _finite_pairs(pred, truth)
    return float(np.mean(np.abs(p - t)))


def r2(pred, truth):
    """Squared Pearson correlation (the paper's R², not the coefficient of determination).

    NaN when the prediction or the truth is constant.
    """
    return _pearson_r(*_finite_pairs(pred, truth)) ** 2


#: Which definitions of NSE, KGE, PACF and lag curves a table uses: "project" (one set of pixels,
#: finite in both, for every score) or "authors" (as the authors' code computes them).
DEFINITIONS = ("project", "authors")


def nse(pred, truth, definitions="project"):
    """Nash–Sutcliffe efficiency: 1 - sum((p - t)²) / sum((t - mean(t))²). 1 is perfect.

    Sums over the pixels finite in both; with ``definitions="authors"`` the denominator runs
    over every finite truth pixel instead. NaN when the truth is constant.
    """
    p, t = _finite_pairs(pred, truth)
    if definitions == "authors":
        truth = np.asarray(truth, dtype=np.float64)
        t_all = truth[np.isfinite(truth)]
        truth_sum_squares = np.sum((t_all - t_all.mean()) ** 2)
    else:
        truth_sum_squares = np.sum((t - t.mean()) ** 2)
    if truth_sum_squares == 0:
        return float("nan")
    return float(1.0 - np.sum((p - t) ** 2) / truth_sum_squares)


def kge(pred, truth, definitions="project"):
    """Kling–Gupta efficiency (Gupta et al. 2009): 1 - sqrt((r-1)² + (alpha-1)² + (beta-1)²).

    r = Pearson correlation, alpha = std(pred)/std(truth) (population std), beta =
    mean(pred)/mean(truth). 1 is perfect. NaN when the truth is constant or has zero mean
    (note that log10 AOD is mostly negative, so beta compares two negative means). Over the
    pixels finite in both; with ``definitions="authors"``, NaN when any pixel is not finite.
    """
    if definitions == "authors" and not (np.isfinite(pred).all() and np.isfinite(truth).all()):
        return float("nan")
    p, t = _finite_pairs(pred, truth)
    if t.std() == 0 or t.mean() == 0:
        return float("nan")
    r = _pearson_r(p, t)
    alpha = p.std() / t.std()
    beta = p.mean() / t.mean()
    return float(1.0 - np.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + (beta - 1) ** 2))


DETERMINISTIC_METRICS = {"rmse": rmse, "mae": mae, "r2": r2, "nse": nse, "kge": kge}


def all_metrics(pred, truth, definitions="project"):
    """Every deterministic score of `pred` against `truth` (same shape, pooled over all pixels).

    Returns dict with keys rmse, mae, r2, nse, kge (floats) and n_pixels (int, pixels used);
    ``definitions``: see :data:`DEFINITIONS`.
    """
    scores = {name: score(pred, truth) for name, score in DETERMINISTIC_METRICS.items()}
    scores.update(nse=nse(pred, truth, definitions), kge=kge(pred, truth, definitions))
    scores["n_pixels"] = int(_finite_pairs(pred, truth)[0].size)
    return scores


def per_day_metrics(pred, truth, dates, definitions="project"):
    """Scores for each day of a (T, H, W) prediction against its (T, H, W) truth.

    `dates` has length T (anything pandas.to_datetime accepts). Returns a DataFrame with one row
    per day and columns date, rmse, mae, r2, nse, kge, n_pixels. Raises ValueError when the
    lengths disagree or a day has no pixel finite in both (the message names the day).
    """
    pred, truth = np.asarray(pred), np.asarray(truth)
    dates = pd.to_datetime(np.asarray(dates))
    if pred.ndim != 3 or pred.shape != truth.shape or len(dates) != pred.shape[0]:
        raise ValueError(
            f"expected prediction and truth of shape (T, H, W) and T dates; got {pred.shape}, "
            f"{truth.shape} and {len(dates)} dates"
        )
    rows = []
    for date, pred_day, truth_day in zip(dates, pred, truth):
        try:
            rows.append({"date": date, **all_metrics(pred_day, truth_day, definitions)})
        except ValueError as error:
            raise ValueError(f"day {date.date()}: {error}") from error
    return pd.DataFrame(rows)


def _finite_ensemble(members, truth):
    """Members (M, ...) and truth (...) -> (M, N) and (N,) float64 over pixels finite in all.

    Raises ValueError on mismatched shapes or when no pixel is finite everywhere.
    """
    members = np.asarray(members, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if members.ndim < 1 or members.shape[1:] != truth.shape:
        raise ValueError(f"members must have shape (M, *truth.shape); got {members.shape} vs truth {truth.shape}")
    members = members.reshape(members.shape[0], -1)  # (M, N)
    truth = truth.reshape(-1)  # (N,)
    valid = np.isfinite(truth) & np.isfinite(members).all(axis=0)
    if not valid.any():
        raise ValueError("no pixel is finite in the truth and every ensemble member")
    return members[:, valid], truth[valid]


def crps_fair(members, truth):
    """Fair (unbiased) ensemble CRPS, averaged over pixels (Ferro 2014).

    Per pixel: mean_i |X_i - y| - 1/(2 M (M-1)) * sum_{i,j} |X_i - X_j| for members X_1..X_M
    and truth y; for M = 1 the spread term is zero and the score is the MAE. members: (M, ...)
    with the truth's shape after the member axis. Units of the inputs; 0 is perfect.
    """
    members, truth = _finite_ensemble(members, truth)  # (M, N), (N,)
    n_members = members.shape[0]
    skill = np.mean(np.abs(members - truth), axis=0)
    if n_members == 1:
        return float(skill.mean())
    # sum_{i,j} |X_i - X_j| = 2 * sum_k (2k - M + 1) X_(k) over the sorted members (k from 0):
    # O(M log M) per pixel instead of building the (M, M, N) difference array.
    ranks = 2 * np.arange(n_members) - n_members + 1
    pair_sum = 2 * np.einsum("k,kn->n", ranks, np.sort(members, axis=0))
    spread = pair_sum / (2 * n_members * (n_members - 1))
    return float(np.mean(skill - spread))


def spread_skill_ratio(members, truth):
    """Ensemble spread over the RMSE of the ensemble mean; ~1 for a reliable ensemble.

    spread = sqrt(mean over pixels of the member variance with ddof=1) * sqrt((M + 1) / M).
    The factor (M+1)/M accounts for the finite ensemble: for members and truth drawn from the
    same distribution, E[(mean - y)²] = (1 + 1/M) * variance, so the ratio is then 1
    (Fortin et al. 2014). < 1 is under-dispersed, > 1 over-dispersed. Needs M >= 2.
    """
    members, truth = _finite_ensemble(members, truth)
    n_members = members.shape[0]
    if n_members < 2:
        raise ValueError(f"the spread-skill ratio needs at least 2 members, got {n_members}")
    spread = np.sqrt(np.mean(members.var(axis=0, ddof=1)) * (n_members + 1) / n_members)
    skill = np.sqrt(np.mean((members.mean(axis=0) - truth) ** 2))
    return float(spread / skill)


def spread_error_curve(members, truth, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The spread-reliability curve: pixels (of every day) in ``bins`` equal-count bins of their
    ensemble spread, and per bin (the RMS spread, the RMSE of the ensemble mean), the spread
    with the (M + 1) / M correction of the spread-skill ratio. For a reliable ensemble the two
    are equal in every bin: the spread says where the error is large.

    The pixels are binned by the spread of the even-numbered members and the bin's spread is
    that of the odd-numbered ones: binned by the spread it reports, a bin of small spreads would
    hold the pixels whose few members came out close by chance, and even a reliable 8-member
    ensemble would fall below the diagonal at small spreads and above it at large ones (a slope
    of 0.75 in the test's simulation). Needs M >= 4."""
    members, truth = _finite_ensemble(members, truth)
    n_members = members.shape[0]
    if n_members < 4:
        raise ValueError(f"the spread-error curve needs at least 4 members, got {n_members}")
    binned_by = members[0::2].var(axis=0, ddof=1)
    variance = members[1::2].var(axis=0, ddof=1) * (n_members + 1) / n_members
    squared_error = (members.mean(axis=0) - truth) ** 2
    groups = np.array_split(np.argsort(binned_by, kind="stable"), bins)
    spread = np.array([np.sqrt(variance[g].mean()) for g in groups])
    error = np.array([np.sqrt(squared_error[g].mean()) for g in groups])
    return spread, error


def spread_error_slope(members, truth, bins: int = 10) -> float:
    """Least-squares slope of the RMSE of the mean on the spread over the bins of
    :func:`spread_error_curve`: 1 when the spread follows the error; below 1 when the spread
    varies more than the error, 0 when it says nothing about where the error is; above 1 when
    it varies less (too uniform, e.g. the same fine texture around a mean whose errors come in
    large patches)."""
    spread, error = spread_error_curve(members, truth, bins)
    return float(np.polyfit(spread, error, 1)[0])


def rank_histogram(members, truth, rng):
    """Counts of the truth's rank among the M members at each finite pixel: shape (M + 1,).

    Rank = number of members below the truth, plus a uniform random share of the members equal
    to it (ties broken at random with the numpy Generator `rng`, so a tie does not pile up in one
    bin). A flat histogram means a reliable ensemble.
    """
    members, truth = _finite_ensemble(members, truth)
    n_below = np.sum(members < truth, axis=0)
    n_equal = np.sum(members == truth, axis=0)
    ranks = n_below + rng.integers(0, n_equal + 1)
    return np.bincount(ranks, minlength=members.shape[0] + 1)
