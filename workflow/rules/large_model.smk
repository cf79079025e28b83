rule train_large_model:
    """Stage 2: a large model on G5NR (one of downscaling/variants.py)."""
    input:
        g5nr=paths.area_data("g5nr"),
        merra2_on_g5nr=paths.area_data("merra2_on_g5nr"),
        static=paths.area_data("static"),
        features=rules.extract_features.output.features,
        index=rules.extract_features.output.index,
        base=residual_base,
        small_unet=trained_encoder_start,
    output:
        model=paths.model("{large_model}"),
        summary=paths.training_summary("{large_model}"),
    log:
        "logs/train_large_model/{large_model}/{season}/{area}.log",
    benchmark:
        "logs/benchmarks/train_large_model/{large_model}/{season}/{area}.tsv"
    conda:
        "../envs/downscaling.yaml"
    threads: 1  # small tiles: two 1-thread jobs beat one 2-thread job; raise with --set-threads
    params:
        settings=lambda w: settings("large_model", w.season, w.area, w.large_model),
        tile=config["tiles"]["size"],
        seed=config["seed"],
        # not an output: Snakemake would delete it when a job fails, and resuming needs it;
        # a second design's job resumes from its own
        checkpoint=in_this_tree(paths.checkpoint("{large_model}")),
    script:
        "../scripts/train_large_model.py"
