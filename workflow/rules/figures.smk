rule accuracy_curve:
    input:
        f"{R}/tables/rounds.parquet",
    output:
        figure=report(
            f"{R}/figures/{{figure}}.png",
            caption="../report/accuracy_curve.rst",
            category="Learning curves",
        ),
        data=f"{R}/figures/{{figure}}.csv",
    log:
        f"{R}/logs/figures/{{figure}}.log",
    conda:
        ENV
    params:
        figure=lambda w: config["figures"][w.figure],
    script:
        STEP


rule all_figures:
    input:
        expand(f"{R}/figures/{{figure}}.png", figure=vw.figure_names(config)),
