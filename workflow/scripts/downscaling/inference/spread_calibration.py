"""Spread calibration by spatial scale: the variance an ensemble lacks at scales wider than its
tiles, measured on days held out of training and added back as centred Gaussian fields.

Why: a tile model samples its residual tile by tile, so uncertainty about scales wider than a
tile (an offset over the whole area, patches of hundreds of km) comes out as independent
tile-sized blobs. On the demo the members' spread holds 4-38 % of the ensemble mean's squared
error at wavelengths beyond 4 tiles and about twice that error at 1-2 tiles (docs/evaluation.md;
`spread_skill_by_scale` in the metrics). `SpreadCalibration.fit` measures both by scale band
(`spatial.band_power`) on the model's validation days; `perturbations` gives each member a
zero-mean Gaussian field with the variance the spread lacks in each band, centred over the
members, so that the ensemble mean, and with it every deterministic score, does not change.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from downscaling.evaluation.spatial import BAND_NAMES, band_of_coefficients, error_and_spread_by_band

#: Members sampled on the validation days. What the calibration adds, error - spread per band,
#: does not depend on the ensemble size M: the ensemble mean's squared error is the conditional
#: mean's plus var / M, the corrected spread var (M + 1) / M, so their difference is the
#: conditional mean's error minus var. Four members estimate it at half the cost of eight.
FIT_MEMBERS = 4

#: Second entry of a member's seed sequence: its perturbation's stream, apart from the
#: diffusion noise's (stitched.member_seed).
PERTURBATION_STREAM = 1


@dataclass(frozen=True)
class SpreadCalibration:
    """By scale band (BAND_NAMES): the mean-square error of the ensemble mean and the
    members' corrected variance (spatial.error_and_spread_by_band) on n_days held-out days of
    an ensemble of `members`."""

    error: tuple[float, ...]
    spread: tuple[float, ...]
    n_days: int
    members: int

    @classmethod
    def fit(cls, members: np.ndarray, truth: np.ndarray) -> SpreadCalibration:
        """From members (M, T, H, W) and the truth (T, H, W) of held-out days, log10."""
        error, spread = error_and_spread_by_band(members, truth)
        return cls(tuple(map(float, error)), tuple(map(float, spread)), truth.shape[0], members.shape[0])

    @property
    def added(self) -> np.ndarray:
        """The variance to add in each band: what the spread lacks (0 where it has enough)."""
        return np.maximum(np.asarray(self.error) - np.asarray(self.spread), 0.0)

    def perturbations(self, shape: tuple[int, int], member_seeds, members=None) -> np.ndarray:
        """Fields (len(members), H, W) to add to the chosen members (default: all) of an
        ensemble whose members have the seeds `member_seeds` (one per member of the whole
        ensemble): each member's field is drawn from its own seed, so a member gets the same
        field run alone or with the others, and the fields are centred over the whole
        ensemble. A centred field of variance s2 raises the corrected spread by s2 (M + 1) / M
        and leaves the mean; s2 = added * M / (M + 1) closes the gap. An ensemble of one is
        its own mean: nothing is added."""
        n_members = len(member_seeds)
        members = list(range(n_members)) if members is None else list(members)
        height, width = shape
        bands = band_of_coefficients(height, width)
        counts = np.bincount(bands.ravel(), minlength=len(BAND_NAMES))
        variance = self.added * n_members / (n_members + 1)
        # white noise has E|FFT|^2 = H W per coefficient; this gain gives band b its variance
        gain = np.sqrt(variance * height * width / np.maximum(counts, 1))[bands]
        fields = np.stack(
            [np.fft.ifft2(np.fft.fft2(self._noise(seed, shape)) * gain).real for seed in map(int, member_seeds)]
        )
        return (fields - fields.mean(axis=0))[members]

    @staticmethod
    def _noise(member_seed: int, shape) -> np.ndarray:
        return np.random.default_rng([member_seed, PERTURBATION_STREAM]).standard_normal(shape)

    def table(self) -> list[dict]:
        """One row per band: its name, error, spread, their ratio and what is added."""
        return [
            {"band": name, "error": e, "spread": s, "spread_over_error": s / e if e > 0 else None, "added": a}
            for name, e, s, a in zip(BAND_NAMES, self.error, self.spread, self.added)
        ]

    def save(self, path) -> None:
        with open(path, "w") as stream:
            json.dump({**asdict(self), "bands": list(BAND_NAMES), "by_band": self.table()}, stream, indent=2)

    @classmethod
    def load(cls, path) -> SpreadCalibration:
        with open(path) as stream:
            saved = json.load(stream)
        if saved.get("bands") != list(BAND_NAMES):
            raise ValueError(f"{path}: a spread calibration of other scale bands ({saved.get('bands')}); rerun it")
        return cls(tuple(saved["error"]), tuple(saved["spread"]), saved["n_days"], saved["members"])
