"""Domain diagnostic before transfer: how far MERRA-2 is from G5NR, per area.

Both sources are compared as log10 AOD on the G5NR grid, jointly min-max scaled to [0, 1]:
per day over the G5NR period (MERRA-2 put on the G5NR grid that day), and pooled over the
full MERRA-2 record against all G5NR days with 256-bin histograms. The record is streamed in
chunks of days, so the full MERRA-2 record on the G5NR grid is never in memory.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from downscaling.data.datasets import open_cube
from downscaling.evaluation.wasserstein import StreamingHistogram, per_day_wasserstein, pooled_wasserstein, summary
from downscaling.files.contracts import CUBE_VARIABLE
from downscaling.ingest.regrid import regrid


def merra2_chunks_on_grid(merra2_path, lat, lon, method: str, days_per_chunk: int):
    """Yield the MERRA-2 record on the given grid, ``days_per_chunk`` days at a time (T', H, W)."""
    with xr.open_dataset(merra2_path) as ds:
        native = ds[CUBE_VARIABLE]
        for start in range(0, native.sizes["time"], days_per_chunk):
            chunk = native.isel(time=slice(start, start + days_per_chunk)).load()
            yield regrid(chunk, lat, lon, method).values


def domain_gap(merra2_path, g5nr_path, merra2_on_g5nr_path, method="nearest", bins=256, days_per_chunk=64):
    """Wasserstein distances MERRA-2 vs G5NR: (result dict (the JSON contract), figure data)."""
    g5nr = open_cube(g5nr_path)
    overlap = open_cube(merra2_on_g5nr_path)
    lat, lon = g5nr["lat"].values, g5nr["lon"].values

    def chunks():
        return merra2_chunks_on_grid(merra2_path, lat, lon, method, days_per_chunk)

    lo = min(float(np.nanmin(g5nr.values)), *(float(np.nanmin(c)) for c in chunks()))
    hi = max(float(np.nanmax(g5nr.values)), *(float(np.nanmax(c)) for c in chunks()))
    per_day = per_day_wasserstein(overlap.values, g5nr.values, lo, hi)
    merra2_hist = StreamingHistogram(lo, hi, bins)
    for chunk in chunks():
        merra2_hist.add(chunk)
    g5nr_hist = StreamingHistogram(lo, hi, bins).add(g5nr.values)
    result = {
        "per_day": summary(per_day),
        "pooled": pooled_wasserstein(merra2_hist, g5nr_hist),
        "scaling": {"log10_lo": lo, "log10_hi": hi, "bins": bins},
        "merra2_days": int(xr.open_dataset(merra2_path).sizes["time"]),
        "g5nr_days": int(g5nr.sizes["time"]),
        "units": "Wasserstein-1 distance of jointly min-max scaled log10 AOD (1 = joint range)",
    }
    figure_data = {
        "dates": pd.DatetimeIndex(g5nr["time"].values),
        "per_day": per_day,
        "merra2_cdf": merra2_hist.cdf(),
        "g5nr_cdf": g5nr_hist.cdf(),
    }
    return result, figure_data
