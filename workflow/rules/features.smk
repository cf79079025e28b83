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


rule transfer_probe:
    """What each history encoder knows (a linear probe of the day's anomaly on its features) and
    the frozen encoder's domain gap, for one season x area."""
    input:
        g5nr=paths.area_data("g5nr"),
        merra2_on_g5nr=paths.area_data("merra2_on_g5nr"),
        merra2=paths.area_data("merra2"),
        g5nr_split=paths.split("g5nr"),
        merra2_split=paths.split("merra2"),
        small_unet=rules.train_small_unet.output.model,
        encoders=[paths.model(model) for model in ENCODER_MODELS],
    output:
        probe="results/evaluation/transfer/{season}/{area}/probe.json",
    log:
        "logs/transfer_probe/{season}/{area}.log",
    conda:
        "../envs/downscaling.yaml"
    params:
        tile=config["tiles"]["size"],
        encoder_models=ENCODER_MODELS,
    script:
        "../scripts/transfer_probe.py"


rule transfer_probes:
    """The transfer probes of every season x area in one table."""
    input:
        expand(rules.transfer_probe.output.probe, season=SEASONS, area=AREAS),
    output:
        report(
            "results/metrics/transfer_probe.csv",
            caption="../report/transfer_probe.rst",
            category="Comparison table",
            subcategory=DESIGN_SUBCATEGORY,
            labels={"figure": "transfer probe and domain gap (CSV download)"},
        ),
    log:
        "logs/transfer_probes.log",
    conda:
        "../envs/downscaling.yaml"
    script:
        "../scripts/transfer_probes.py"
