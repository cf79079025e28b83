rule splits:
    """Train/test days of one season on one time axis (g5nr: large models; merra2: small U-Net)."""
    input:
        g5nr=expand(area_data("g5nr"), area=AREAS),
        merra2=lambda w: (
            expand(area_data("merra2"), area=AREAS) if w.source == "merra2" else []
        ),
    output:
        "results/splits/{source}/{season}.csv",
    params:
        splits=config["splits"],
        seed=config["seed"],
    log:
        "logs/splits/{source}/{season}.log",
    script:
        "../scripts/make_splits.py"
