rule extract_features:
    """Frozen small-U-Net encoder on the previous n_lag days of G5NR, every large-model training tile."""
    input:
        cube=paths.area_data("g5nr"),
        split=paths.split("g5nr"),
        small_unet=rules.train_small_unet.output.model,
    output:
        features="results/features/{season}/{area}/features.npy",
        index="results/features/{season}/{area}/index.csv",
    log:
        "logs/extract_features/{season}/{area}.log",
    benchmark:
        "logs/benchmarks/extract_features/{season}/{area}.tsv"
    conda:
        "../envs/downscaling.yaml"
    threads: 1  # small tiles: two 1-thread jobs beat one 2-thread job; raise with --set-threads
    params:
        tiles=config["tiles"],
    script:
        "../scripts/extract_features.py"
