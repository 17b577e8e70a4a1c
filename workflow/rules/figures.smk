# The paper's figures and tables, one rule each (fig3a ... fig23, table1, table2). What each
# draws comes from the config's figures / tables sections (vabal.plan.targets); each reads its
# runs' rows of the rounds table (rounds.parquet; Fig. 5 its round's selections, classifiers
# and images; the VaB-AL diagnostics its rounds' score diagnostics). No target trains anything.

from vabal.plan import catalogue
from vabal.plan import targets as vt

for _name in catalogue.FIGURES:

    rule:
        name:
            _name
        input:
            unpack(vt.input_function(config, _name)),
        output:
            figure=report(
                vt.outputs(config, _name)["figure"],
                caption=f"../report/{_name}.rst",
                category="Figures",
                subcategory=catalogue.PAPER_TITLES[_name].split(":")[0],
            ),
            data=report(
                vt.outputs(config, _name)["data"],
                caption="../report/figure_data.rst",
                category="Figures",
                subcategory=catalogue.PAPER_TITLES[_name].split(":")[0],
            ),
        log:
            f"{R}/logs/figures/{_name}.log",
        conda:
            ENV
        params:
            spec=vt.spec_function(config, _name),
        script:
            "../scripts/step.py"


for _name in catalogue.TABLES:

    rule:
        name:
            _name
        input:
            unpack(vt.input_function(config, _name)),
        output:
            csv=report(
                vt.outputs(config, _name)["csv"],
                caption=f"../report/{_name}.rst",
                category="Tables",
                subcategory=catalogue.PAPER_TITLES[_name].split(":")[0],
            ),
            md=vt.outputs(config, _name)["md"],
            tex=vt.outputs(config, _name)["tex"],
            html=report(
                vt.outputs(config, _name)["html"],
                caption=f"../report/{_name}.rst",
                category="Tables",
                subcategory=catalogue.PAPER_TITLES[_name].split(":")[0],
            ),
        log:
            f"{R}/logs/tables/{_name}.log",
        conda:
            ENV
        params:
            spec=vt.spec_function(config, _name),
        script:
            "../scripts/step.py"


rule all_figures:
    input:
        vt.requested_files(config, catalogue.FIGURES),


rule all_tables:
    input:
        vt.requested_files(config, catalogue.TABLES),


rule paper:
    input:
        rules.all_figures.input,
        rules.all_tables.input,
        f"{R}/{layout.ROUNDS_TABLE}",
