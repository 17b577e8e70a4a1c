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
        round0_log("train_classifier"),
    conda:
        ENV
    threads: 1
    resources:
        gpu=vc.gpu_resource(config, "train_classifier"),
    params:
        recipe=lambda w: vw.round0_recipe(config, w.dataset, w.recipe),
        evaluate_on=lambda w: config["datasets"][w.dataset]["evaluate_on"],
    script:
        "../scripts/step.py"


rule extract_round0_features:
    input:
        unpack(store_files),
        split=split_file,
        labelled=round0_pattern("labelled.parquet"),
        classifier=round0_pattern("classifier.pt"),
    output:
        round0_pattern("features.pt"),
    log:
        round0_log("extract_features"),
    conda:
        ENV
    threads: 1
    resources:
        gpu=vc.gpu_resource(config, "extract_features"),
    params:
        recipe=lambda w: vw.round0_recipe(config, w.dataset, w.recipe),
    script:
        "../scripts/step.py"


rule share_round0:
    input:
        **{f.split(".")[0]: shared_round0(f) for f in layout.ROUND0_FILES},
    output:
        **{f.split(".")[0]: round_pattern(f, round=0) for f in layout.ROUND0_FILES},
    log:
        round_log("share_round0", round=0),
    conda:
        ENV
    script:
        "../scripts/step.py"


rule share_round0_features:
    input:
        features=shared_round0("features.pt"),
    output:
        features=round_pattern("features.pt", round=0),
    log:
        round_log("share_round0_features", round=0),
    wildcard_constraints:
        method=vw.method_regex(config, "extract_features"),
    conda:
        ENV
    script:
        "../scripts/step.py"


rule train_classifier:
    input:
        unpack(classifier_inputs),
    output:
        labelled=round_pattern("labelled.parquet"),
        classifier=round_pattern("classifier.pt"),
        metrics=round_pattern("metrics.json"),
    log:
        round_log("train_classifier"),
    wildcard_constraints:
        round=r"[1-9]\d*",
    group:
        "round-{dataset}-{method}-seed{seed}-round{round}"
    conda:
        ENV
    threads: 1
    resources:
        gpu=vc.gpu_resource(config, "train_classifier"),
    params:
        recipe=lambda w: vw.cfg.training_recipe(config, w.dataset, w.method),
        evaluate_on=lambda w: config["datasets"][w.dataset]["evaluate_on"],
    script:
        "../scripts/step.py"


# The method's steps of a round, one rule each, matching the configured methods that run it
# (the methods' registry, vabal.methods; every method selects): its outputs in the round's
# folder, whether it reads the budget, and its rounds (round 0's features are shared).
METHOD_STEPS = {
    "extract_features": ({"features": "features.pt"}, False, r"[1-9]\d*"),
    "train_vae": ({"vae": "vae.pt"}, False, r"\d+"),
    "score": (
        {"scores": "scores.parquet", "diagnostics": "score_diagnostics.json"},
        True,
        r"\d+",
    ),
    "select": ({"selection": "selection.parquet"}, True, r"\d+"),
}

for _step, (_files, _budget, _rounds) in METHOD_STEPS.items():

    rule:
        name:
            _step
        input:
            unpack(method_inputs(_step)),
        output:
            **{k: round_pattern(f) for k, f in _files.items()},
        log:
            round_log(_step),
        wildcard_constraints:
            method=vw.method_regex(config, _step),
            round=_rounds,
        group:
            "round-{dataset}-{method}-seed{seed}-round{round}"
        conda:
            ENV
        threads: 1
        resources:
            gpu=vc.gpu_resource(config, _step),
        params:
            **(
                {"budget": lambda w: config["datasets"][w.dataset]["budget"]}
                if _budget
                else {}
            ),
            recipe=lambda w: vw.cfg.training_recipe(config, w.dataset, w.method),
            method=lambda w: vw.method_params(config, w.method),
        script:
            "../scripts/step.py"
