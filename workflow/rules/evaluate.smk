ENSEMBLE_MODELS = [m for m in MODELS if variants.has_members(m)]  # the figure's
# every model's strict-mode predictions of a season x area
STRICT_DOWNSCALED = [paths.downscaled(model, mode="strict") for model in MODELS]
# {area: its long run} for the areas the config runs one in
LONGRUN_FILES = {
    area: paths.longrun(area, config["longrun"]["start"], config["longrun"]["end"])
    for area in (config["longrun"]["areas"] if config.get("longrun") else [])
}


rule evaluate:
    """Scores of one downscaled file against G5NR on the season's test days (log10 AOD)."""
    input:
        downscaled=paths.downscaled(),
        g5nr=paths.area_data("g5nr"),
        split=paths.split("g5nr"),
    output:
        metrics=paths.metrics(),
        per_day=paths.per_day(),
    log:
        "logs/evaluate/{model}/{season}/{area}/{mode}.log",
    conda:
        "../envs/downscaling.yaml"
    params:
        seed=config["seed"],
        log_floor=config["ingest"]["log_floor"],
        stride=lambda w: model_inference(w).get("stride"),  # the tiling's seams: none for baselines
        definitions=config["evaluation"]["definitions"],
        n_lag=config["splits"]["n_lag"],
    script:
        "../scripts/evaluate.py"


rule summary:
    """The paper's comparison table: every model x season x area x mode."""
    input:
        metrics=scored_files(paths.metrics),
        per_day=scored_files(paths.per_day),  # for the day-by-day comparisons
        # the second test design's table, put beside this one's
        second_design=(
            paths.summary(results=paths.design_results(SECOND_DESIGN))
            if SECOND_DESIGN
            else []
        ),
        # what the encoders know, a section of the HTML
        probe=rules.transfer_probes.output[0] if ENCODER_MODELS else [],
    output:
        table=report(
            paths.summary(),
            caption="../report/summary_table.rst",
            category="Comparison table",
            subcategory=DESIGN_SUBCATEGORY,
            labels={"figure": "table (CSV download)"},
        ),
        html=report(
            "results/metrics/summary.html",
            caption="../report/summary_table.rst",
            category="Comparison table",
            subcategory=DESIGN_SUBCATEGORY,
            labels={"figure": "table"},
        ),
        figure=report(
            "results/metrics/summary.png",
            caption="../report/summary_figure.rst",
            category="Comparison table",
            subcategory=DESIGN_SUBCATEGORY,
            labels={"figure": "RMSE and R² by model"},
        ),
        ablation=report(
            "results/metrics/transfer_ablation.csv",
            caption="../report/transfer_ablation.rst",
            category="Comparison table",
            subcategory=DESIGN_SUBCATEGORY,
            labels={"figure": "transfer ablation (CSV download)"},
        ),
        designs=report(
            "results/metrics/designs.csv",
            caption="../report/designs.rst",
            category="Comparison table",
            subcategory=DESIGN_SUBCATEGORY,
            labels={"figure": "test designs side by side (CSV download)"},
        ),
    log:
        "logs/summary.log",
    conda:
        "../envs/downscaling.yaml"
    params:
        splits=config["splits"],
        second_splits=SECOND_CONFIG["splits"] if SECOND_CONFIG else None,
        method=METHOD,
        models=MODELS,
        seed=config["seed"],
    script:
        "../scripts/summary.py"


rule data_efficiency:
    """The transfer ablation on each share of the training days beside the full record's."""
    input:
        unpack(data_efficiency_inputs),
    output:
        table=report(
            "results/metrics/data_efficiency.csv",
            caption="../report/data_efficiency.rst",
            category="Comparison table",
            subcategory=DESIGN_SUBCATEGORY,
            labels={"figure": "data efficiency (CSV download)"},
        ),
        figure=report(
            "results/metrics/data_efficiency.png",
            caption="../report/data_efficiency.rst",
            category="Comparison table",
            subcategory=DESIGN_SUBCATEGORY,
            labels={"figure": "data efficiency"},
        ),
    log:
        "logs/data_efficiency.log",
    conda:
        "../envs/downscaling.yaml"
    params:
        fractions=DATA_EFFICIENCY_SHARES,
        design=config["splits"]["test_design"],
        models=DATA_EFFICIENCY_MODELS,
        seed=config["seed"],
    script:
        "../scripts/data_efficiency.py"


rule ensemble_skill:
    """Rank histograms, spread-skill and CRPS of the ensemble models."""
    input:
        metrics=expand(
            paths.metrics(),
            season=SEASONS,
            area=AREAS,
            mode=MODES,
            model=ENSEMBLE_MODELS,
        ),
    output:
        figure=report(
            "results/metrics/ensemble_skill.png",
            caption="../report/ensemble_skill.rst",
            category="Comparison table",
            labels={"figure": "ensemble reliability"},
        ),
    log:
        "logs/ensemble_skill.log",
    conda:
        "../envs/downscaling.yaml"
    script:
        "../scripts/ensemble_skill.py"


rule training_checks:
    """The diffusion models' x0 estimate by noise level, as their training logged it."""
    input:
        expand(
            paths.training_summary(),
            model=DIFFUSION_MODELS,
            season=SEASONS,
            area=AREAS,
        ),
    output:
        table="results/evaluation/training/x0_by_noise.csv",
        figure=report(
            "results/evaluation/training/x0_by_noise.png",
            caption="../report/x0_by_noise.rst",
            category="Comparison table",
            labels={"figure": "x0 estimate by noise level (training)"},
        ),
    log:
        "logs/training_checks.log",
    conda:
        "../envs/downscaling.yaml"
    script:
        "../scripts/training_checks.py"


rule spectra:
    """Radially averaged power spectra of G5NR and every model (strict) on the test days."""
    input:
        g5nr=paths.area_data("g5nr"),
        split=paths.split("g5nr"),
        downscaled=STRICT_DOWNSCALED,
    output:
        table="results/evaluation/spectra/{season}/{area}.csv",
        figure=report(
            "results/evaluation/spectra/{season}/{area}.png",
            caption="../report/spectra.rst",
            category="Spectra",
            subcategory="{season}",
            labels={
                "season": "{season}",
                "area": "{area}",
                "model": "all",
                "figure": "power spectra",
            },
        ),
    log:
        "logs/spectra/{season}/{area}.log",
    conda:
        "../envs/downscaling.yaml"
    params:
        models=MODELS,
        log_floor=config["ingest"]["log_floor"],
    script:
        "../scripts/spectra.py"


rule variograms:
    """Semivariograms of G5NR, MERRA-2 and the strict predictions on the test days."""
    input:
        g5nr=paths.area_data("g5nr"),
        merra2=paths.area_data("merra2"),
        split=paths.split("g5nr"),
        downscaled=STRICT_DOWNSCALED,
    output:
        table="results/evaluation/variograms/{season}/{area}.csv",
        fits="results/evaluation/variograms/{season}/{area}_fits.csv",
        figure=report(
            "results/evaluation/variograms/{season}/{area}.png",
            caption="../report/variograms.rst",
            category="Out-of-data diagnostics",
            subcategory="semivariograms",
            labels={
                "season": "{season}",
                "area": "{area}",
                "model": "all",
                "figure": "semivariograms",
            },
        ),
    log:
        "logs/variograms/{season}/{area}.log",
    conda:
        "../envs/downscaling.yaml"
    params:
        models=MODELS,
        variogram=config["evaluation"]["variogram"],
        seed=config["seed"],
        log_floor=config["ingest"]["log_floor"],
    script:
        "../scripts/variograms.py"


rule temporal_diagnostics:
    """ACF/PACF of the area-mean daily series and lag-k RMSE/R² curves of one area."""
    input:
        g5nr=paths.area_data("g5nr"),
        merra2=paths.area_data("merra2"),
        longrun=lambda w: LONGRUN_FILES.get(w.area, []),
    output:
        acf_table="results/evaluation/temporal/{area}/acf_pacf.csv",
        lag_table="results/evaluation/temporal/{area}/lag_curves.csv",
        acf_figure=report(
            "results/evaluation/temporal/{area}/acf_pacf.png",
            caption="../report/acf_pacf.rst",
            category="Out-of-data diagnostics",
            subcategory="ACF and PACF",
            labels={
                "season": "all",
                "area": "{area}",
                "model": f"{METHOD} (long run)",
                "figure": "ACF and PACF",
            },
        ),
        lag_figure=report(
            "results/evaluation/temporal/{area}/lag_curves.png",
            caption="../report/lag_curves.rst",
            category="Out-of-data diagnostics",
            subcategory="lag-k persistence",
            labels={
                "season": "all",
                "area": "{area}",
                "model": f"{METHOD} (long run)",
                "figure": "lag-k RMSE and R²",
            },
        ),
    log:
        "logs/temporal_diagnostics/{area}.log",
    conda:
        "../envs/downscaling.yaml"
    params:
        acf_lags=config["evaluation"]["acf_lags"],
        lag_max=config["evaluation"]["lag_max"],
        log_floor=config["ingest"]["log_floor"],
        definitions=config["evaluation"]["definitions"],
    script:
        "../scripts/temporal_diagnostics.py"


rule longrun_skill:
    """Free-running skill of the long run against the synthetic world's known truth, by days
    since the last true G5NR day (the embedded demo only: real data has no such truth).
    """
    input:
        longrun=lambda w: LONGRUN_FILES[w.area],
        truth=VERIFICATION,
        g5nr=paths.area_data("g5nr"),
        merra2=paths.area_data("merra2"),
        # what the statistical references learn from: each season's G5NR training days
        merra2_on_g5nr=paths.area_data("merra2_on_g5nr"),
        splits=expand(paths.split("g5nr"), season=SEASONS),
    output:
        table="results/evaluation/longrun/{area}/skill.csv",
        drift="results/evaluation/longrun/{area}/drift.csv",
        figure=report(
            "results/evaluation/longrun/{area}/skill.png",
            caption="../report/longrun_skill.rst",
            category="Long run",
            subcategory="{area}",
            labels={"area": "{area}", "figure": "skill against the known truth"},
        ),
    log:
        "logs/longrun_skill/{area}.log",
    conda:
        "../envs/downscaling.yaml"
    params:
        log_floor=config["ingest"]["log_floor"],
        regrid=config["ingest"]["regrid"],
        seasons=SEASONS,
        seed=config["seed"],
    script:
        "../scripts/longrun_skill.py"


rule longrun_variograms:
    """Semivariograms of an area's long run against MERRA-2 on the same days."""
    input:
        longrun=lambda w: LONGRUN_FILES[w.area],
        merra2=paths.area_data("merra2"),
    output:
        table="results/evaluation/longrun/{area}/variograms.csv",
        fits="results/evaluation/longrun/{area}/variogram_fits.csv",
        figure=report(
            "results/evaluation/longrun/{area}/variograms.png",
            caption="../report/longrun_variograms.rst",
            category="Long run",
            subcategory="{area}",
            labels={
                "season": "all",
                "area": "{area}",
                "model": METHOD,
                "figure": "semivariograms",
            },
        ),
    log:
        "logs/longrun_variograms/{area}.log",
    wildcard_constraints:
        area="|".join(LONGRUN_FILES),
    conda:
        "../envs/downscaling.yaml"
    params:
        variogram=config["evaluation"]["variogram"],
        seed=config["seed"],
        log_floor=config["ingest"]["log_floor"],
    script:
        "../scripts/longrun_variograms.py"
