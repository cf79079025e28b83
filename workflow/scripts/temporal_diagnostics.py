"""ACF/PACF of the area-mean daily series and lag-k RMSE/R² curves of one area."""

from downscaling.evaluation import scoring
from downscaling.jobs import log_to_file
from downscaling.plots import figures

log = log_to_file(snakemake.log[0])
area = snakemake.wildcards.area
acf, lags = scoring.temporal_tables(
    snakemake.input.g5nr,
    snakemake.input.merra2,
    snakemake.input.longrun or None,
    nlags=snakemake.params.acf_lags,
    max_lag=snakemake.params.lag_max,
    log_floor=snakemake.params.log_floor,
    definitions=snakemake.params.definitions,
)
acf.to_csv(snakemake.output.acf_table, index=False, float_format="%.6g")
lags.to_csv(snakemake.output.lag_table, index=False, float_format="%.6g")
figures.save_figure(
    figures.plot_acf_pacf(acf, f"{area}: autocorrelation of the area-mean daily log10 AOD"),
    snakemake.output.acf_figure,
)
figures.save_figure(
    figures.plot_lag_curves(lags, f"{area}: persistence, day t+k against day t (log10 AOD)"),
    snakemake.output.lag_figure,
)
