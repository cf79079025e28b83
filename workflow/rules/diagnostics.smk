rule wasserstein:
    """Domain diagnostic: 1-D Wasserstein distance MERRA-2 vs G5NR, per day and pooled."""
    input:
        merra2=paths.area_data("merra2"),
        g5nr=paths.area_data("g5nr"),
        merra2_on_g5nr=paths.area_data("merra2_on_g5nr"),
    output:
        json="results/diagnostics/wasserstein/{area}.json",
        figure=report(
            "results/diagnostics/wasserstein/{area}.png",
            caption="../report/wasserstein.rst",
            category="Domain diagnostic",
            labels={"area": "{area}", "figure": "Wasserstein distance"},
        ),
    log:
        "logs/wasserstein/{area}.log",
    benchmark:
        "logs/benchmarks/wasserstein/{area}.tsv"
    conda:
        "../envs/downscaling.yaml"
    params:
        regrid=config["ingest"]["regrid"],
    script:
        "../scripts/wasserstein.py"
