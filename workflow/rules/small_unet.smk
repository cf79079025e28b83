rule train_small_unet:
    """Stage 1: the small U-Net, 40 daily MERRA-2 lags -> next day, on the long record."""
    input:
        cube=paths.area_data("merra2"),
        split=paths.split("merra2"),
    output:
        model=paths.model("small_unet"),
    log:
        "logs/train_small_unet/{season}/{area}.log",
    benchmark:
        "logs/benchmarks/train_small_unet/{season}/{area}.tsv"
    conda:
        "../envs/downscaling.yaml"
    threads: 1  # small tiles: two 1-thread jobs beat one 2-thread job; raise with --set-threads
    params:
        settings=lambda w: settings("small_unet", w.season, w.area),
        n_lag=config["splits"]["n_lag"],
        tiles=config["tiles"],
        seed=config["seed"],
        # not an output: Snakemake would delete it when a job fails, and resuming needs it;
        # a second design's job resumes from its own
        checkpoint=in_this_tree(paths.checkpoint("small_unet")),
    script:
        "../scripts/train_small_unet.py"


rule evaluate_small_unet:
    """One-step-ahead skill of the small U-Net on the season's MERRA-2 test days vs persistence."""
    input:
        cube=paths.area_data("merra2"),
        split=paths.split("merra2"),
        model=rules.train_small_unet.output.model,
    output:
        metrics="results/small_unet/{season}/{area}/metrics.json",
    log:
        "logs/evaluate_small_unet/{season}/{area}.log",
    conda:
        "../envs/downscaling.yaml"
    params:
        stride=config["tiles"]["train_stride"],
    script:
        "../scripts/evaluate_small_unet.py"
