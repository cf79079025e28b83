"""Scores of one downscaled file against G5NR on the season's test days (log10 AOD)."""

from downscaling.evaluation import scoring
from downscaling.files import contracts
from downscaling.jobs import log_to_file

log = log_to_file(snakemake.log[0])
overall, per_day = scoring.evaluate_downscaled(
    snakemake.input.downscaled,
    snakemake.input.g5nr,
    snakemake.input.split,
    seed=snakemake.params.seed,
    log_floor=snakemake.params.log_floor,
    stride=snakemake.params.stride,
    definitions=snakemake.params.definitions,
)
if snakemake.wildcards.mode == "strict":  # how much of the history strict mode predicted
    overall.update(scoring.strict_history(snakemake.input.split, snakemake.params.n_lag))
log.info("%s", {k: v for k, v in overall.items() if k != "rank_histogram"})
contracts.write_json(overall, snakemake.output.metrics)
per_day.to_csv(snakemake.output.per_day, index=False, date_format="%Y-%m-%d")
