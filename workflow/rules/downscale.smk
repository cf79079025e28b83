rule downscale:
    """Stitched daily fields on the season's test days, strict (autoregressive) or lenient."""
    input:
        unpack(downscale_inputs),
    output:
        "results/downscaled/{model}/{season}/{area}/{mode}.nc",
    params:
        inference=lambda w: settings("inference", w.season, w.area, w.model),
        seed=config["seed"],
    threads: 1  # small tiles: two 1-thread jobs beat one 2-thread job; raise with --set-threads
    resources:
        runtime=120,
        mem_mb=8000,
    log:
        "logs/downscale/{model}/{season}/{area}/{mode}.log",
    benchmark:
        "benchmarks/downscale/{model}/{season}/{area}/{mode}.tsv"
    conda:
        "../envs/downscaling.yaml"
    script:
        "../scripts/downscale.py"


rule downscale_longrun:
    """Fully autoregressive daily downscaling beyond the G5NR record, each date by its season's method model."""
    input:
        merra2=area_data("merra2"),
        g5nr=area_data("g5nr"),
        static=area_data("static"),
        models=[large_model(METHOD, season, "{area}") for season in SEASONS],
        bases=[
            large_model(base, season, "{area}")
            for season in SEASONS
            for base in variants.trained_inputs(METHOD)[1:]
        ],
        small_unets=expand(
            "results/models/small_unet/{season}/{{area}}/model.pt", season=SEASONS
        ),
    output:
        "results/longrun/{area}/{start}_{end}.nc",
    params:
        inference=settings("inference", model=METHOD),
        regrid=config["ingest"]["regrid"],
        seasons=SEASONS,
        model=METHOD,
        seed=config["seed"],
    threads: 1  # small tiles: two 1-thread jobs beat one 2-thread job; raise with --set-threads
    resources:
        runtime=720,
        mem_mb=8000,
    log:
        "logs/downscale_longrun/{area}/{start}_{end}.log",
    benchmark:
        "benchmarks/downscale_longrun/{area}/{start}_{end}.tsv"
    conda:
        "../envs/downscaling.yaml"
    script:
        "../scripts/downscale_longrun.py"
