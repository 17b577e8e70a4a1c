# Targets beyond the paper (the config's beyond section): the leaderboard ranks every
# configured method, the paper's and today's, by label efficiency, from the rounds table.

from vabal.plan import targets as vt

for _name in vt.BEYOND:

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
                for k, path in vt.outputs(config, _name).items()
                if k in ("html", "figure")
            },
            **{
                k: path
                for k, path in vt.outputs(config, _name).items()
                if k not in ("html", "figure")
            },
        log:
            f"{R}/logs/beyond/{_name}.log",
        conda:
            ENV
        params:
            spec=vt.spec_function(config, _name),
        script:
            f"../scripts/{_name}.py"


rule beyond:
    input:
        vt.requested_files(config, vt.BEYOND),
