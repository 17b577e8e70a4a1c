# VaB-AL: class-imbalance-aware active learning (Choi, Yi et al., CVPR 2021).
#
#   snakemake all --cores 2                       every run, table and figure of the config
#   snakemake paper --cores 2                     the paper's figures and tables (and their runs)
#   snakemake beyond --cores 2                    the leaderboard of the paper's and today's methods
#   snakemake results --cores 2                   paper + beyond (+ their copy in publish:)
#   snakemake fig3a table1 --cores 2              single targets (snakemake --list-rules)
#   snakemake all --cores 2 --configfile configs/quickstart.yaml
#   snakemake all --cores 2 --config only_datasets='[neu]' only_seeds='[0]'
#   snakemake to_label --configfile configs/labelling.yaml   which of your images to label


from snakemake.utils import min_version

min_version("9.0")


# config.yaml is the paper's grid; a --configfile on the command line replaces it.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/rounds.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/beyond.smk"
include: "workflow/rules/labelling.smk"


rule all:
    default_target: True
    input:
        rules.all_rounds.input,
        rules.paper.input,
        rules.beyond.input,
