rule downscale:
    """Stitched daily fields on the season's test days, strict (autoregressive) or lenient."""
    input:
        unpack(downscale_inputs),
    output:
        paths.downscaled(),
    log:
        "logs/downscale/{model}/{season}/{area}/{mode}.log",
    benchmark:
        "logs/benchmarks/downscale/{model}/{season}/{area}/{mode}.tsv"
    conda:
        "../envs/downscaling.yaml"
    threads: 1  # small tiles: two 1-thread jobs beat one 2-thread job; raise with --set-threads
    params:
        inference=model_inference,
        seed=config["seed"],
    script:
        "../scripts/downscale.py"


rule spread_calibration:
    """A diffusion model's spread and its ensemble mean's error by spatial scale on its
    validation days (lenient), whose gaps its downscaling fills (inference.calibrate_spread).
    """
    input:
        unpack(spread_calibration_inputs),
    output:
        paths.spread_calibration(),
    log:
        "logs/spread_calibration/{model}/{season}/{area}.log",
    benchmark:
        "logs/benchmarks/spread_calibration/{model}/{season}/{area}.tsv"
    conda:
        "../envs/downscaling.yaml"
    threads: 1  # as downscale
    params:
        inference=model_inference,
        seed=config["seed"],
    script:
        "../scripts/spread_calibration.py"


rule downscale_longrun:
    """One chunk of one member's chain of the fully autoregressive run beyond the G5NR record,
    each date by its season's method model, from the state the member's chunk before left
    (downscaling/inference/longrun.py). The members are independent chains: SLURM runs them side by side.
    """
    input:
        merra2=paths.area_data("merra2"),
        g5nr=paths.area_data("g5nr"),
        static=paths.area_data("static"),
        models=[paths.model(METHOD, season, "{area}") for season in SEASONS],
        bases=[
            paths.model(base, season, "{area}")
            for season in SEASONS
            for base in variants.trained_inputs(METHOD)[1:]
        ],
        small_unets=[paths.model("small_unet", season) for season in SEASONS],
        previous=longrun_previous_state,
        spread_calibrations=lambda w: list(
            spread_calibrations(METHOD, w.area, SEASONS).values()
        ),
    output:
        # both are kept only until the next chunk and the join have read them
        days=temp(paths.longrun_chunk()),
        state=temp(paths.longrun_chunk(suffix=".state.npz")),
    log:
        "logs/downscale_longrun/{area}/{start}_{end}/member{member}/{chunk}.log",
    benchmark:
        "logs/benchmarks/downscale_longrun/{area}/{start}_{end}/member{member}/{chunk}.tsv"
    conda:
        "../envs/downscaling.yaml"
    threads: 1  # small tiles: two 1-thread jobs beat one 2-thread job; raise with --set-threads
    params:
        # each date is downscaled with its own season's settings, overrides included
        inference=lambda w: {
            s: settings("inference", s, w.area, METHOD) for s in SEASONS
        },
        regrid=config["ingest"]["regrid"],
        spread_calibrations=lambda w: spread_calibrations(METHOD, w.area, SEASONS),
        seasons=SEASONS,
        model=METHOD,
        seed=config["seed"],
        chunk_days=config.get("longrun", {}).get("chunk_days"),
    script:
        "../scripts/downscale_longrun.py"


rule join_longrun:
    """The long run of one area as one file: its members side by side, its chunks in time order."""
    input:
        chunks=longrun_chunk_files,
    output:
        paths.longrun(),
    log:
        "logs/join_longrun/{area}/{start}_{end}.log",
    conda:
        "../envs/downscaling.yaml"
    params:
        members=lambda w: longrun_members(w.area),
    script:
        "../scripts/join_longrun.py"
