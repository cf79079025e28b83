rule ingest_merra2:
    """MERRA-2 daily log10 AOD of one area on its native grid (area +- margin), whole record."""
    input:
        raw=raw_inputs("merra2"),
    output:
        cube=area_data("merra2"),
    log:
        "logs/ingest/{area}/merra2.log",
    benchmark:
        "benchmarks/ingest/{area}/merra2.tsv"
    conda:
        "../envs/downscaling.yaml"
    params:
        dataset="MERRA-2",
        pattern=config["inputs"]["merra2"],
        variable=config["inputs"]["variable"],
        area=lambda wildcards: config["areas"][wildcards.area],
        margin_deg=config["ingest"]["margin_deg"],
        log_floor=config["ingest"]["log_floor"],
        period=config["periods"].get("merra2"),
    script:
        "../scripts/ingest_cube.py"


rule ingest_g5nr:
    """G5NR daily log10 AOD cropped exactly to the area (bounds inclusive)."""
    input:
        raw=raw_inputs("g5nr"),
    output:
        cube=area_data("g5nr"),
    log:
        "logs/ingest/{area}/g5nr.log",
    benchmark:
        "benchmarks/ingest/{area}/g5nr.tsv"
    conda:
        "../envs/downscaling.yaml"
    params:
        dataset="G5NR",
        pattern=config["inputs"]["g5nr"],
        variable=config["inputs"]["variable"],
        area=lambda wildcards: config["areas"][wildcards.area],
        margin_deg=0.0,  # the G5NR grid of an area is exactly its box
        log_floor=config["ingest"]["log_floor"],
        period=config["periods"].get("g5nr"),
    script:
        "../scripts/ingest_cube.py"


rule regrid_merra2:
    """MERRA-2 on the G5NR grid over the G5NR period (fails if that is not inside the MERRA-2 record)."""
    input:
        merra2=area_data("merra2"),
        g5nr=area_data("g5nr"),
    output:
        cube=area_data("merra2_on_g5nr"),
    log:
        "logs/ingest/{area}/merra2_on_g5nr.log",
    conda:
        "../envs/downscaling.yaml"
    params:
        method=config["ingest"]["regrid"],
    script:
        "../scripts/regrid_merra2.py"


rule ingest_elevation:
    """Surface elevation (m) on the area's G5NR grid."""
    input:
        raw=raw_inputs("elevation"),
        g5nr=area_data("g5nr"),
    output:
        static=area_data("static"),
    log:
        "logs/ingest/{area}/static.log",
    conda:
        "../envs/downscaling.yaml"
    params:
        pattern=config["inputs"]["elevation"],
        variable=config["inputs"]["elevation_variable"],
        method=config["ingest"]["regrid"],
    script:
        "../scripts/ingest_elevation.py"
