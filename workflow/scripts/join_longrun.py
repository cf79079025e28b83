"""The long run of one area as one file: each chunk's member files side by side (the members
are independent chains, one job each), the chunks in time order."""

import netCDF4

from downscaling.files.outputs import DailyWriter, SourceVariable
from downscaling.jobs import log_to_file

log = log_to_file(snakemake.log[0])
files, members = list(snakemake.input.chunks), snakemake.params.members
chunks = [files[i : i + members] for i in range(0, len(files), members)]  # chunk-major, member order
with netCDF4.Dataset(files[0]) as first:
    lat, lon = first["lat"][:], first["lon"][:]
    provenance = {
        key[len("provenance_") :]: first.getncattr(key) for key in first.ncattrs() if key.startswith("provenance_")
    }
    source = SourceVariable(first["aod_mean"].source_variable, first["aod_mean"].source_long_name)
provenance.update(chunks=len(chunks), member=f"0..{members - 1}, one chain each")
with DailyWriter(snakemake.output[0], lat, lon, members, provenance, source) as out:
    for chunk in chunks:
        out.append_members(chunk)
        log.info("joined %s", ", ".join(chunk))
