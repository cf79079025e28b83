from downscaling.ingest.cubes import PLAUSIBILITY_KEYS

# What a raw value may be (downscaling.ingest.cubes.Plausibility): checked in every file at ingest.
PLAUSIBILITY = {key: config["ingest"][key] for key in PLAUSIBILITY_KEYS}


rule ingest_merra2:
    """MERRA-2 daily log10 AOD of one area on its native grid (area +- margin), one part of the
    record (a calendar year; the whole record when its period is not known)."""
    input:
        raw=raw_inputs("merra2"),
    output:
        cube=temp("results/data/{area}/parts/merra2/{part}.nc"),
    log:
        "logs/ingest/{area}/merra2/{part}.log",
    benchmark:
        "logs/benchmarks/ingest/{area}/merra2/{part}.tsv"
    conda:
        "../envs/downscaling.yaml"
    params:
        dataset="MERRA-2",
        pattern=config["inputs"]["merra2"],
        variable=config["inputs"]["variable"],
        area=lambda wildcards: config["areas"][wildcards.area],
        margin_deg=config["ingest"]["margin_deg"],
        log_floor=config["ingest"]["log_floor"],
        period=lambda wildcards: ingest_parts("merra2")[wildcards.part],
        plausibility=PLAUSIBILITY,
    script:
        "../scripts/ingest_cube.py"


rule ingest_g5nr:
    """G5NR daily log10 AOD cropped exactly to the area (bounds inclusive), one part of the
    record (a calendar year; the whole record when its period is not known)."""
    input:
        raw=raw_inputs("g5nr"),
    output:
        cube=temp("results/data/{area}/parts/g5nr/{part}.nc"),
    log:
        "logs/ingest/{area}/g5nr/{part}.log",
    benchmark:
        "logs/benchmarks/ingest/{area}/g5nr/{part}.tsv"
    conda:
        "../envs/downscaling.yaml"
    params:
        dataset="G5NR",
        pattern=config["inputs"]["g5nr"],
        variable=config["inputs"]["variable"],
        area=lambda wildcards: config["areas"][wildcards.area],
        margin_deg=0.0,  # the G5NR grid of an area is exactly its box
        log_floor=config["ingest"]["log_floor"],
        period=lambda wildcards: ingest_parts("g5nr")[wildcards.part],
        plausibility=PLAUSIBILITY,
    script:
        "../scripts/ingest_cube.py"


rule join_ingested:
    """One area's cube of a source (merra2 or g5nr) from its parts, ingested side by side."""
    input:
        parts=lambda wildcards: expand(
            "results/data/{{area}}/parts/{{source}}/{part}.nc",
            part=ingest_parts(wildcards.source),
        ),
    output:
        cube=paths.area_data("{source}"),
    log:
        "logs/ingest/{area}/{source}.log",
    wildcard_constraints:
        source="merra2|g5nr",
    conda:
        "../envs/downscaling.yaml"
    script:
        "../scripts/join_ingested.py"


rule regrid_merra2:
    """MERRA-2 on the G5NR grid over the G5NR period (fails if that is not inside the MERRA-2 record)."""
    input:
        merra2=paths.area_data("merra2"),
        g5nr=paths.area_data("g5nr"),
    output:
        cube=paths.area_data("merra2_on_g5nr"),
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
        g5nr=paths.area_data("g5nr"),
    output:
        static=paths.area_data("static"),
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
