# One active-learning round of one run, as files:
#   train_classifier -> [extract_features] -> [train_vae] -> [score] -> select
# Round r's train_classifier labels round r-1's selection (the oracle: labelled.parquet),
# trains the classifier on the labelled set and evaluates it (metrics.json), in one job.


rule train_classifier:
    input:
        unpack(classifier_inputs),
    output:
        labelled=round_pattern("labelled.parquet"),
        classifier=round_pattern("classifier.pt"),
        metrics=round_pattern("metrics.json"),
    log:
        f"{R}/logs/{layout.ROUND}/train_classifier.log",
    group:
        "round-{dataset}-{method}-seed{seed}-round{round}"
    conda:
        ENV
    threads: 1
    resources:
        gpu=lambda w: vc.gpus(config, "train_classifier", w.dataset, w.method),
    params:
        recipe=lambda w: vw.cfg.training_recipe(config, w.dataset, w.method),
        evaluate_on=lambda w: config["datasets"][w.dataset]["evaluate_on"],
    script:
        "../scripts/train_classifier.py"


rule extract_features:
    input:
        unpack(method_inputs("extract_features")),
    output:
        round_pattern("features.pt"),
    log:
        f"{R}/logs/{layout.ROUND}/extract_features.log",
    wildcard_constraints:
        method=vw.method_regex(config, "extract_features"),
    group:
        "round-{dataset}-{method}-seed{seed}-round{round}"
    conda:
        ENV
    threads: 1
    resources:
        gpu=lambda w: vc.gpus(config, "extract_features", w.dataset, w.method),
    params:
        recipe=lambda w: vw.cfg.training_recipe(config, w.dataset, w.method),
        method=lambda w: vw.method_params(config, w.method),
    script:
        "../scripts/extract_features.py"


rule train_vae:
    input:
        unpack(method_inputs("train_vae")),
    output:
        round_pattern("vae.pt"),
    log:
        f"{R}/logs/{layout.ROUND}/train_vae.log",
    wildcard_constraints:
        method=vw.method_regex(config, "train_vae"),
    group:
        "round-{dataset}-{method}-seed{seed}-round{round}"
    conda:
        ENV
    threads: 1
    resources:
        gpu=lambda w: vc.gpus(config, "train_vae", w.dataset, w.method),
    params:
        recipe=lambda w: vw.cfg.training_recipe(config, w.dataset, w.method),
        method=lambda w: vw.method_params(config, w.method),
    script:
        "../scripts/train_vae.py"


rule score:
    input:
        unpack(method_inputs("score")),
    output:
        scores=round_pattern("scores.parquet"),
        diagnostics=round_pattern("score_diagnostics.json"),
    log:
        f"{R}/logs/{layout.ROUND}/score.log",
    wildcard_constraints:
        method=vw.method_regex(config, "score"),
    group:
        "round-{dataset}-{method}-seed{seed}-round{round}"
    conda:
        ENV
    threads: 1
    resources:
        gpu=lambda w: vc.gpus(config, "score", w.dataset, w.method),
    params:
        recipe=lambda w: vw.cfg.training_recipe(config, w.dataset, w.method),
        method=lambda w: vw.method_params(config, w.method),
        budget=lambda w: config["datasets"][w.dataset]["budget"],
    script:
        "../scripts/score.py"


rule select:
    input:
        unpack(method_inputs("select")),
    output:
        round_pattern("selection.parquet"),
    log:
        f"{R}/logs/{layout.ROUND}/select.log",
    group:
        "round-{dataset}-{method}-seed{seed}-round{round}"
    conda:
        ENV
    threads: 1
    resources:
        gpu=lambda w: vc.gpus(config, "select", w.dataset, w.method),
    params:
        recipe=lambda w: vw.cfg.training_recipe(config, w.dataset, w.method),
        method=lambda w: vw.method_params(config, w.method),
        budget=lambda w: config["datasets"][w.dataset]["budget"],
    script:
        "../scripts/select.py"
