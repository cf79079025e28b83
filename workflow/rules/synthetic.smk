if config["synthetic"]["enabled"]:

    checkpoint synthetic_data:
        """Embedded demo: synthetic MERRA-2 granules, G5NR files and elevation in the real conventions.

        A checkpoint: the ingest rules glob the files it wrote once it has run (see raw_inputs).
        """
        output:
            manifest=f"{config['synthetic']['outdir']}/manifest.json",
            # the truth after the G5NR record, for the long run's skill only (not an input glob)
            verification=VERIFICATION,
        log:
            "logs/synthetic_data.log",
        benchmark:
            "logs/benchmarks/synthetic_data.tsv"
        conda:
            "../envs/downscaling.yaml"
        threads: 1  # one day after the other; the matrix products are small
        params:
            world={
                "synthetic": config["synthetic"],
                "areas": config["areas"],
                "seed": config["seed"],
                "inputs": config["inputs"],
            },
        script:
            "../scripts/synthetic_data.py"
