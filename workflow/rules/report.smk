rule coastline:
    """The land mask of an area's maps (their coastline), cut once from the global 1-km mask."""
    output:
        coastline=paths.area_data("coastline"),
    log:
        "logs/coastline/{area}.log",
    conda:
        "../envs/downscaling.yaml"
    params:
        box=lambda w: config["areas"][w.area],
        # the domain overview shows MERRA-2 cells up to one cell beyond the ingest margin
        pad_deg=config["ingest"]["margin_deg"] + 1.0,
    script:
        "../scripts/coastline.py"


rule sample_map:
    """Maps of one sample test day (lowest, median or highest area-mean AOD, or a percentile)."""
    input:
        coastline=paths.area_data("coastline"),
        g5nr=paths.area_data("g5nr"),
        merra2_on_g5nr=paths.area_data("merra2_on_g5nr"),
        split=paths.split("g5nr"),
        ensemble=paths.downscaled(METHOD, mode="strict"),
        twin=(
            paths.downscaled(METHOD_TWIN, mode="strict")
            if METHOD_TWIN in MODELS
            else []
        ),
    output:
        figure=report(
            "results/evaluation/maps/{season}/{area}/{day}.png",
            caption="../report/sample_map.rst",
            category="Maps",
            subcategory="{season}",
            labels={
                "season": "{season}",
                "area": "{area}",
                "model": ", ".join(m for m in (METHOD, METHOD_TWIN) if m in MODELS),
                "figure": "{day} AOD day",
            },
        ),
    log:
        "logs/sample_map/{season}/{area}/{day}.log",
    wildcard_constraints:
        day="min|median|max|p[0-9]{1,3}",
    conda:
        "../envs/downscaling.yaml"
    params:
        log_floor=config["ingest"]["log_floor"],
        model=METHOD,
        twin=METHOD_TWIN,
    script:
        "../scripts/sample_map.py"


rule longrun_maps:
    """The long run as an animated GIF beside MERRA-2, and its area-mean daily series."""
    input:
        coastline=paths.area_data("coastline"),
        longrun=lambda w: LONGRUN_FILES[w.area],
        merra2=paths.area_data("merra2"),
    output:
        gif="results/evaluation/longrun/{area}/animation.gif",
        page=report(
            "results/evaluation/longrun/{area}/animation.html",
            caption="../report/longrun_animation.rst",
            category="Long run",
            subcategory="{area}",
            labels={
                "season": "all",
                "area": "{area}",
                "model": METHOD,
                "figure": "animation",
            },
        ),
        table="results/evaluation/longrun/{area}/series.csv",
        series=report(
            "results/evaluation/longrun/{area}/series.png",
            caption="../report/longrun_series.rst",
            category="Long run",
            subcategory="{area}",
            labels={
                "season": "all",
                "area": "{area}",
                "model": METHOD,
                "figure": "area-mean series",
            },
        ),
    log:
        "logs/longrun_maps/{area}.log",
    wildcard_constraints:
        area="|".join(LONGRUN_FILES),
    conda:
        "../envs/downscaling.yaml"
    params:
        log_floor=config["ingest"]["log_floor"],
    script:
        "../scripts/longrun_maps.py"


rule domain_overview:
    """One map per area: the study box, the inference tile grid and the elevation field."""
    input:
        coastline=paths.area_data("coastline"),
        merra2=paths.area_data("merra2"),
        static=paths.area_data("static"),
    output:
        figure=report(
            "results/evaluation/domain/{area}.png",
            caption="../report/domain.rst",
            category="Maps",
            subcategory="domains",
            labels={
                "season": "all",
                "area": "{area}",
                "model": "all",
                "figure": "domain and tiles",
            },
        ),
    log:
        "logs/domain_overview/{area}.log",
    conda:
        "../envs/downscaling.yaml"
    params:
        box=lambda w: config["areas"][w.area],
        tile=config["tiles"]["size"],
        stride=config["inference"]["stride"],
        halo=config["inference"]["halo"],
    script:
        "../scripts/domain_overview.py"
