# Targets beyond the paper (the config's beyond section): the leaderboard ranks every
# configured method, the paper's and today's, by label efficiency, from the rounds table;
# the summary writes a results page's numbers from it; the readings score stored VaB-AL
# rounds again under every reading of Eq. 6. Their work: vabal.run.step.<rule name>.

from vabal.plan import catalogue
from vabal.plan import targets as vt

for _name in catalogue.BEYOND:
    _outputs = vt.outputs(config, _name)
    _shown = vt.report_outputs(_outputs)

    rule:
        name:
            _name
        input:
            unpack(vt.input_function(config, _name)),
        output:
            **{
                k: report(
                    path, caption=f"../report/{_name}.rst", category="Beyond the paper"
                )
                for k, path in _outputs.items()
                if k in _shown
            },
            **{k: path for k, path in _outputs.items() if k not in _shown},
        log:
            f"{R}/logs/beyond/{_name}.log",
        conda:
            ENV
        params:
            spec=vt.spec_function(config, _name),
        script:
            "../scripts/step.py"


rule beyond:
    input:
        vt.requested_files(config, catalogue.BEYOND),


# What a results page cites, copied into the config's publish folder (e.g. docs/results/v2)
if vt.publish_pairs(config):

    localrules:
        publish,

    rule publish:
        input:
            [source for source, _ in vt.publish_pairs(config)],
        output:
            [copy for _, copy in vt.publish_pairs(config)],
        log:
            f"{R}/logs/publish.log",
        conda:
            ENV
        script:
            "../scripts/step.py"


rule results:
    input:
        rules.paper.input,
        rules.beyond.input,
        [copy for _, copy in vt.publish_pairs(config)],
