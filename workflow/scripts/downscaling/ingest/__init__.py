"""Ingest: raw MERRA-2 / G5NR netCDF (one granule: granules; the record as daily log10 cubes: cubes),
the elevation field, regridding and the manifests of raw inputs."""
