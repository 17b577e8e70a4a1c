rule prepare_source:
    output:
        images=f"{STORE}/images.npy",
        samples=f"{STORE}/samples.parquet",
        meta=f"{STORE}/meta.json",
    log:
        f"{R}/logs/prepare_source/{{source}}.log",
    conda:
        ENV
    params:
        source=lambda w: config["sources"][w.source],
    script:
        STEP


rule make_split:
    input:
        unpack(store_files),
    output:
        f"{R}/splits/{{dataset}}/seed{{seed}}.parquet",
    log:
        f"{R}/logs/make_split/{{dataset}}/seed{{seed}}.log",
    conda:
        ENV
    params:
        dataset=lambda w: vw.dataset_params(config, w.dataset),
    script:
        STEP
