rule splits:
    """Train/test days of one season on one time axis (g5nr: large models; merra2: small U-Net)."""
    input:
        # every area shares the sources' time axes: the first area's cubes (in sorted order)
        # carry them, so a target in another area also ingests that one (cheap)
        g5nr=expand(paths.area_data("g5nr"), area=AREAS[0]),
        merra2=lambda w: (
            expand(paths.area_data("merra2"), area=AREAS[0])
            if w.source == "merra2"
            else []
        ),
    output:
        paths.split(),
    log:
        "logs/splits/{source}/{season}.log",
    conda:
        "../envs/downscaling.yaml"
    params:
        splits=config["splits"],
        seed=config["seed"],
    script:
        "../scripts/make_splits.py"
