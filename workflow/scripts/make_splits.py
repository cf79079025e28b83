"""Write one season's train/test days of one time axis (see downscaling.data.splits)."""

from downscaling.data.splits import make_splits, record_dates, season_problems
from downscaling.jobs import log_to_file

log = log_to_file(snakemake.log[0])
g5nr_dates = record_dates(snakemake.input.g5nr)
merra2_dates = record_dates(snakemake.input.merra2) if snakemake.input.merra2 else g5nr_dates
cfg = snakemake.params.splits
splits = make_splits(
    g5nr_dates,
    merra2_dates,
    n_lag=cfg["n_lag"],
    test_ratio=cfg["test_ratio"],
    buffer_days=cfg["buffer_days"],
    seed=snakemake.params.seed,
    test_design=cfg["test_design"],
    block_days=cfg["block_days"],
    gap_days=cfg.get("gap_days"),
    record_fraction=cfg.get("record_fraction", 1.0),
)
source, season = snakemake.wildcards.source, snakemake.wildcards.season
for problem in season_problems(splits[source], [season], source, cfg["n_lag"]):
    # the config check refuses this at planning when the config knows the records' periods
    raise ValueError(f"seasons: {problem} ({snakemake.input.g5nr[0]})")
table = splits[source][season]
log.info("%s %s: %s", snakemake.wildcards.source, snakemake.wildcards.season, table["split"].value_counts().to_dict())
table.to_csv(snakemake.output[0], index=False, date_format="%Y-%m-%d")
