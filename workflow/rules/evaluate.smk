rule evaluate:
    input:
        unpack(store_files),
        split=split_file,
        labelled=round_file("labelled.parquet"),
        classifier=round_file("classifier.pt"),
    output:
        round_file("metrics.json"),
    log:
        f"{R}/logs/{vw.ROUND}/evaluate.log",
    group:
        lambda w: (
            None
            if vw.REGISTRY[config["methods"][w.method]["kind"]].steps
            else f"round-{w.dataset}-{w.method}-seed{w.seed}-round{w.round}"
        )
    conda:
        ENV
    threads: 1
    resources:
        gpu=1,
    params:
        recipe=lambda w: vw.cfg.training_recipe(config, w.dataset, w.method),
        evaluate_on=lambda w: config["datasets"][w.dataset]["evaluate_on"],
    script:
        STEP


rule collect_rounds:
    input:
        vw.round_targets(config, "metrics.json"),
    output:
        table=f"{R}/tables/rounds.parquet",
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
        STEP


# Every round's metrics are listed too: a deleted run then counts as missing and is
# recomputed (Snakemake keeps a table whose inputs were deleted after it was made).
rule all_rounds:
    input:
        f"{R}/tables/rounds.parquet",
        vw.round_targets(config, "metrics.json"),
