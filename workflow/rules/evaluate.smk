rule collect_rounds:
    input:
        vw.round_targets(config, "metrics.json"),
    output:
        table=f"{R}/{layout.ROUNDS_TABLE}",
        sidecar=f"{R}/tables/rounds.provenance.json",
        page=report(
            f"{R}/tables/provenance.html",
            caption="../report/provenance.rst",
            category="Provenance",
        ),
    log:
        f"{R}/logs/collect_rounds.log",
    conda:
        ENV
    script:
        "../scripts/step.py"


# Every round's metrics are listed too: a deleted run then counts as missing and is
# recomputed (Snakemake keeps a table whose inputs were deleted after it was made).
rule all_rounds:
    input:
        f"{R}/{layout.ROUNDS_TABLE}",
        vw.round_targets(config, "metrics.json"),
