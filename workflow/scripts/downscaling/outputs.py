"""CF netCDF of downscaled days, written one day at a time (memory flat in the run length).

Variables (physical AOD, units "1"):
- ``aod_member`` (member, time, lat, lon): each ensemble member;
- ``aod_mean`` (time, lat, lon): the ensemble mean taken in log10 space (a geometric mean);
- ``log10_aod_spread`` (time, lat, lon): the members' standard deviation of log10 AOD.
The file appears under its final name only when complete; a failure leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd

from .jobs import atomic_output
from .netcdf import CONVENTIONS, COORDINATE_ATTRS, TIME_ENCODING, provenance_attrs

FILL = np.float32(np.nan)  # as every output of the pipeline (see netcdf.write_cf)
TIME_UNITS, CALENDAR = TIME_ENCODING["units"], TIME_ENCODING["calendar"]
VARIABLE = "Dust Extinction AOT [550 nm]"


class DailyWriter:
    """Context manager: ``with DailyWriter(path, lat, lon, members, provenance) as w: w.write(date, m)``."""

    def __init__(self, path, lat, lon, members: int, provenance: dict):
        self.path = Path(path)
        self._atomic = atomic_output(self.path)
        self.lat, self.lon, self.members, self.provenance = np.asarray(lat), np.asarray(lon), members, provenance
        self.n_days = 0

    def __enter__(self) -> "DailyWriter":
        nc = self.nc = netCDF4.Dataset(self._atomic.__enter__(), "w", format="NETCDF4")
        nc.createDimension("time", None)
        nc.createDimension("member", self.members)
        nc.createDimension("lat", len(self.lat))
        nc.createDimension("lon", len(self.lon))
        time = nc.createVariable("time", "f8", ("time",))
        time.setncatts({**COORDINATE_ATTRS["time"], "units": TIME_UNITS, "calendar": CALENDAR})
        for name, values in (("lat", self.lat), ("lon", self.lon)):
            var = nc.createVariable(name, "f8", (name,))
            var.setncatts(COORDINATE_ATTRS[name])
            var[:] = values
        member = nc.createVariable("member", "i4", ("member",))
        member.long_name = "ensemble member"
        member[:] = np.arange(self.members)
        grid = ("time", "lat", "lon")
        chunks = (1, len(self.lat), len(self.lon))
        for name, dims, long_name, chunk in (
            ("aod_member", ("member",) + grid, f"{VARIABLE}, ensemble member", (1,) + chunks),
            ("aod_mean", grid, f"{VARIABLE}, ensemble mean (geometric: mean of log10)", chunks),
            ("log10_aod_spread", grid, f"standard deviation of log10 {VARIABLE} across members", chunks),
        ):
            var = nc.createVariable(name, "f4", dims, zlib=True, complevel=1, fill_value=FILL, chunksizes=chunk)
            var.setncatts({"units": "1", "long_name": long_name})
        nc.setncatts({"Conventions": CONVENTIONS, **provenance_attrs(self.provenance)})
        return self

    def write(self, date, members_log10: np.ndarray) -> None:
        """Append one day: members (M, H, W) of log10 AOD."""
        members_log10 = np.asarray(members_log10, dtype=np.float32)
        if members_log10.shape != (self.members, len(self.lat), len(self.lon)):
            raise ValueError(f"expected members of shape {(self.members, len(self.lat), len(self.lon))}, "
                             f"got {members_log10.shape}")
        time = netCDF4.date2num(pd.Timestamp(date).to_pydatetime(), TIME_UNITS, CALENDAR)
        self._append(time, 10.0**members_log10, 10.0 ** members_log10.mean(axis=0), members_log10.std(axis=0))

    def append_file(self, path) -> None:
        """Append every day of a file this class wrote (a chunk of a long run), values as stored."""
        with netCDF4.Dataset(path) as chunk:
            if chunk.dimensions["member"].size != self.members or chunk["lat"].shape != self.lat.shape \
                    or chunk["lon"].shape != self.lon.shape:
                raise ValueError(f"{path}: its members or grid differ from those of {self.path}")
            for i in range(chunk.dimensions["time"].size):
                self._append(chunk["time"][i], chunk["aod_member"][:, i], chunk["aod_mean"][i],
                             chunk["log10_aod_spread"][i])

    def _append(self, time, members, mean, spread) -> None:
        i = self.n_days
        self.nc["time"][i] = time
        self.nc["aod_member"][:, i] = members
        self.nc["aod_mean"][i] = mean
        self.nc["log10_aod_spread"][i] = spread
        self.n_days += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        self.nc.close()
        self._atomic.__exit__(exc_type, exc, tb)  # renamed into place, or removed on an error

