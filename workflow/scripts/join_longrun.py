"""The long run of one area as one file: its monthly chunks joined in time order."""

import netCDF4

from downscaling.jobs import log_to_file
from downscaling.outputs import DailyWriter, SourceVariable

log = log_to_file(snakemake.log[0])
chunks = snakemake.input.chunks
with netCDF4.Dataset(chunks[0]) as first:
    lat, lon, members = first["lat"][:], first["lon"][:], first.dimensions["member"].size
    provenance = {key[len("provenance_"):]: first.getncattr(key) for key in first.ncattrs() if key.startswith("provenance_")}
    source = SourceVariable(first["aod_mean"].source_variable, first["aod_mean"].source_long_name)
provenance["chunks"] = len(chunks)
with DailyWriter(snakemake.output[0], lat, lon, members, provenance, source) as out:
    for chunk in chunks:
        out.append_file(chunk)
        log.info("joined %s", chunk)
