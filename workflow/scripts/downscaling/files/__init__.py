"""The files the pipeline writes and reads: CF netCDF writing (netcdf), what the ingested cubes and
downscaled files hold (contracts) and the daily writer of downscaled days (outputs)."""
