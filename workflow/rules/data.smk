rule download_source:
    input:
        lambda w: storage(config["sources"][w.source]["path"]),
    output:
        f"{R}/{download.DOWNLOADS}",
    log:
        f"{R}/logs/download_source/{{source}}/{{name}}.log",
    conda:
        ENV
    params:
        source=lambda w: config["sources"][w.source],
    script:
        "../scripts/step.py"


rule prepare_source:
    input:
        unpack(source_download),
    output:
        **{k: f"{STORE}/{f}" for k, f in layout.STORE_FILES.items()},
    log:
        f"{R}/logs/prepare_source/{{source}}.log",
    conda:
        ENV
    params:
        source=lambda w: config["sources"][w.source],
    script:
        "../scripts/step.py"


rule make_split:
    input:
        unpack(store_files),
    output:
        f"{R}/{layout.SPLIT}",
    log:
        f"{R}/logs/make_split/{{dataset}}/seed{{seed}}.log",
    conda:
        ENV
    params:
        dataset=lambda w: vw.dataset_params(config, w.dataset),
    script:
        "../scripts/step.py"
