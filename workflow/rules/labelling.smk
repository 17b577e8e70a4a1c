# One real round on the user's own images (the config's labelling section, vabal next):
# the classifier on the labels known so far, the method on the rest, and which images to
# label next (to_label.csv, to_label.png) in the round's folder. docs/labelling.md.

LABELLING = config.get("labelling")

if LABELLING:

    rule to_label:
        input:
            labels=LABELLING["labels"],
        output:
            directory(LABELLING["out"]),
        log:
            f"{R}/logs/to_label/{Path(LABELLING['out']).name}.log",
        conda:
            ENV
        threads: 1
        params:
            labelling=LABELLING,
            method=lambda w: config["methods"][LABELLING["method"]],
        script:
            "../scripts/step.py"
