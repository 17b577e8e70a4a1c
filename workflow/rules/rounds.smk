# One active-learning round of one run, as files:
#   train_classifier -> [extract_features] -> [train_vae] -> [score] -> select
# Round r's train_classifier labels round r-1's selection (the oracle: labelled.parquet),
# trains the classifier on the labelled set and evaluates it (metrics.json), in one job.
# Round 0 labels the same initial set for every method of a dataset and seed: its
# classifier and features are computed once per classifier recipe (train_round0,
# extract_round0_features) and each run's round 0 links to them (share_round0*).


# links, made where Snakemake runs (no cluster job for them)
localrules:
    share_round0,
    share_round0_features,


rule train_round0:
    input:
        unpack(classifier_inputs),
    output:
        labelled=round0_pattern("labelled.parquet"),
        classifier=round0_pattern("classifier.pt"),
        metrics=round0_pattern("metrics.json"),
    log:
        f"{R}/logs/{layout.ROUND0}/train_classifier.log",
    conda:
        ENV
    threads: 1
    resources:
        gpu=lambda w: vc.gpus(config, "train_classifier", w.dataset, None),
    params:
        recipe=lambda w: vw.round0_recipe(config, w.dataset, w.recipe),
        evaluate_on=lambda w: config["datasets"][w.dataset]["evaluate_on"],
    script:
        "../scripts/train_classifier.py"


rule extract_round0_features:
    input:
        unpack(store_files),
        split=split_file,
        labelled=round0_pattern("labelled.parquet"),
        classifier=round0_pattern("classifier.pt"),
    output:
        round0_pattern("features.pt"),
    log:
        f"{R}/logs/{layout.ROUND0}/extract_features.log",
    conda:
        ENV
    threads: 1
    resources:
        gpu=lambda w: vc.gpus(config, "extract_features", w.dataset, None),
    params:
        recipe=lambda w: vw.round0_recipe(config, w.dataset, w.recipe),
    script:
        "../scripts/extract_round0_features.py"


rule share_round0:
    input:
        **{f.split(".")[0]: shared_round0(f) for f in layout.ROUND0_FILES},
    output:
        **{f.split(".")[0]: f"{RUN}/round0/{f}" for f in layout.ROUND0_FILES},
    log:
        f"{R}/logs/{layout.RUN}/round0/share_round0.log",
    conda:
        ENV
    script:
        "../scripts/share_round0.py"


rule share_round0_features:
    input:
        features=shared_round0("features.pt"),
    output:
        features=f"{RUN}/round0/features.pt",
    log:
        f"{R}/logs/{layout.RUN}/round0/share_round0_features.log",
    wildcard_constraints:
        method=vw.method_regex(config, "extract_features"),
    conda:
        ENV
    script:
        "../scripts/share_round0.py"


rule train_classifier:
    input:
        unpack(classifier_inputs),
    output:
        labelled=round_pattern("labelled.parquet"),
        classifier=round_pattern("classifier.pt"),
        metrics=round_pattern("metrics.json"),
    log:
        f"{R}/logs/{layout.ROUND}/train_classifier.log",
    wildcard_constraints:
        round=r"[1-9]\d*",
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
        round=r"[1-9]\d*",
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
