"""CF netCDF of downscaled days, written one day at a time (memory flat in the run length).

Variables (physical AOD, units "1"), time first so that CDO and the like read every one:
- ``aod_member`` (time, member, lat, lon): each ensemble member (``member`` is a CF
  ``realization`` axis);
- ``aod_mean`` (time, lat, lon): the ensemble mean taken in log10 space (a geometric mean);
- ``log10_aod_spread`` (time, lat, lon): the members' standard deviation of log10 AOD.
Names, standard names and the wavelength follow the source variable (``DUEXTTAU``, ``TOTEXTTAU``,
…); daily means carry ``time_bnds``. The file appears under its final name only when complete;
a failure leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd

from downscaling.files.netcdf import (
    CONVENTIONS,
    COORDINATE_ATTRS,
    KEYWORDS,
    REFERENCES,
    TIME_ENCODING,
    daily_bounds,
    history_stamp,
    program_name,
    provenance_attrs,
)
from downscaling.jobs import atomic_output

FILL = np.float32(np.nan)  # as every output of the pipeline (see netcdf.write_cf)
TIME_UNITS, CALENDAR = TIME_ENCODING["units"], TIME_ENCODING["calendar"]
#: CF standard names of the MERRA-2 / G5NR aerosol optical thickness diagnostics (550 nm).
STANDARD_NAMES = {
    "TOTEXTTAU": "atmosphere_optical_thickness_due_to_ambient_aerosol_particles",
    "DUEXTTAU": "atmosphere_optical_thickness_due_to_dust_ambient_aerosol_particles",
    "SSEXTTAU": "atmosphere_optical_thickness_due_to_sea_salt_ambient_aerosol_particles",
    "SUEXTTAU": "atmosphere_optical_thickness_due_to_sulfate_ambient_aerosol_particles",
    "BCEXTTAU": "atmosphere_optical_thickness_due_to_black_carbon_ambient_aerosol",
    "OCEXTTAU": "atmosphere_optical_thickness_due_to_particulate_organic_matter_ambient_aerosol_particles",
}
WAVELENGTH_NM = 550.0  # of every *EXTTAU diagnostic


@dataclass(frozen=True)
class SourceVariable:
    """The MERRA-2 / G5NR variable that was downscaled, as the ingested cubes record it."""

    name: str = "DUEXTTAU"
    long_name: str = "Dust Extinction AOT [550 nm]"

    @classmethod
    def of_cube(cls, attrs: dict) -> SourceVariable:
        """From an ingested cube's attributes (``source_variable``, ``source_long_name``)."""
        return cls(str(attrs.get("source_variable", cls.name)), str(attrs.get("source_long_name", cls.long_name)))

    def aod_attrs(self, what: str) -> dict:
        attrs = {
            "units": "1",
            "long_name": f"{self.long_name}, {what}",
            "source_variable": self.name,
            "source_long_name": self.long_name,
            "cell_methods": "time: mean",
            "coverage_content_type": "modelResult",
        }
        if self.name in STANDARD_NAMES:
            attrs.update(standard_name=STANDARD_NAMES[self.name], coordinates="wavelength")
        return attrs


class DailyWriter:
    """Context manager: ``with DailyWriter(path, lat, lon, members, provenance) as w: w.write(date, m)``."""

    def __init__(self, path, lat, lon, members: int, provenance: dict, source: SourceVariable = SourceVariable()):
        self.path = Path(path)
        self._atomic = atomic_output(self.path)
        self.lat, self.lon, self.members, self.provenance = np.asarray(lat), np.asarray(lon), members, provenance
        self.source = source
        self.n_days = 0

    def __enter__(self) -> DailyWriter:
        nc = self.nc = netCDF4.Dataset(self._atomic.__enter__(), "w", format="NETCDF4")
        nc.createDimension("time", None)
        nc.createDimension("member", self.members)
        nc.createDimension("lat", len(self.lat))
        nc.createDimension("lon", len(self.lon))
        nc.createDimension("nv", 2)
        time = nc.createVariable("time", "f8", ("time",))
        time.setncatts({**COORDINATE_ATTRS["time"], "units": TIME_UNITS, "calendar": CALENDAR, "bounds": "time_bnds"})
        nc.createVariable("time_bnds", "f8", ("time", "nv"))  # each daily mean spans its calendar day
        for name, values in (("lat", self.lat), ("lon", self.lon)):
            var = nc.createVariable(name, "f8", (name,))
            var.setncatts(COORDINATE_ATTRS[name])
            var[:] = values
        member = nc.createVariable("member", "i4", ("member",))
        member.setncatts({"standard_name": "realization", "long_name": "ensemble member", "units": "1"})
        member[:] = np.arange(self.members)
        if self.source.name in STANDARD_NAMES:
            wavelength = nc.createVariable("wavelength", "f8", ())
            wavelength.setncatts({"standard_name": "radiation_wavelength", "long_name": "wavelength", "units": "nm"})
            wavelength.assignValue(WAVELENGTH_NM)
        grid = ("time", "lat", "lon")
        chunks = (1, len(self.lat), len(self.lon))
        for name, dims, attrs, chunk in (
            (
                "aod_member",
                ("time", "member", "lat", "lon"),
                self.source.aod_attrs("ensemble member"),
                (1, 1) + chunks[1:],
            ),
            ("aod_mean", grid, self.source.aod_attrs("ensemble mean (geometric: mean of log10)"), chunks),
            (
                "log10_aod_spread",
                grid,
                {
                    "units": "1",
                    "cell_methods": "time: mean",
                    "coverage_content_type": "modelResult",
                    "long_name": f"standard deviation of log10 {self.source.long_name} across members",
                },
                chunks,
            ),
        ):
            var = nc.createVariable(name, "f4", dims, zlib=True, complevel=1, fill_value=FILL, chunksizes=chunk)
            var.setncatts(attrs)
        model = self.provenance.get("model", "")
        nc.setncatts(
            {
                "Conventions": CONVENTIONS,
                "title": f"{self.source.long_name} downscaled from MERRA-2 to the G5NR grid (0.0625 degrees), daily",
                "summary": "Daily means downscaled by transfer-learning diffusion: an ensemble of members, their "
                "geometric mean and their spread in log10 AOD.",
                "source": f"MERRA-2 {self.source.name} downscaled by the model '{model}'"
                if model
                else f"MERRA-2 {self.source.name}",
                "keywords": KEYWORDS,
                "references": REFERENCES,
                "history": f"{history_stamp()}: written by {program_name()}",
                **provenance_attrs(self.provenance),
            }
        )
        return self

    def write(self, date, members_log10: np.ndarray) -> None:
        """Append one day: members (M, H, W) of log10 AOD."""
        members_log10 = np.asarray(members_log10, dtype=np.float32)
        if members_log10.shape != (self.members, len(self.lat), len(self.lon)):
            raise ValueError(
                f"expected members of shape {(self.members, len(self.lat), len(self.lon))}, got {members_log10.shape}"
            )
        time = netCDF4.date2num(pd.Timestamp(date).to_pydatetime(), TIME_UNITS, CALENDAR)
        self._append(time, 10.0**members_log10, 10.0 ** members_log10.mean(axis=0), members_log10.std(axis=0))

    def append_members(self, paths) -> None:
        """Append every day of files this class wrote for the same days, one or more members
        each (the member chains of a long run's chunk), the members side by side in the order
        of `paths`: member values as stored, the mean and spread recomputed over all of them."""
        chunks = [netCDF4.Dataset(path) for path in paths]
        try:
            first = chunks[0]
            for path, chunk in zip(paths, chunks):
                if (
                    chunk["lat"].shape != self.lat.shape
                    or chunk["lon"].shape != self.lon.shape
                    or not np.array_equal(chunk["time"][:], first["time"][:])
                ):
                    raise ValueError(f"{path}: its grid or days differ from those of {paths[0]}")
            if sum(chunk.dimensions["member"].size for chunk in chunks) != self.members:
                raise ValueError(f"{', '.join(map(str, paths))}: not the {self.members} members of {self.path}")
            for i in range(first.dimensions["time"].size):
                members = np.concatenate([np.asarray(chunk["aod_member"][i], dtype=np.float32) for chunk in chunks])
                log10 = np.log10(members)
                self._append(first["time"][i], members, 10.0 ** log10.mean(axis=0), log10.std(axis=0))
        finally:
            for chunk in chunks:
                chunk.close()

    def _append(self, time, members, mean, spread) -> None:
        i = self.n_days
        self.nc["time"][i] = time
        self.nc["time_bnds"][i] = daily_bounds(float(time))
        self.nc["aod_member"][i] = members
        self.nc["aod_mean"][i] = mean
        self.nc["log10_aod_spread"][i] = spread
        self.n_days += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        self.nc.close()
        self._atomic.__exit__(exc_type, exc, tb)  # renamed into place, or removed on an error
