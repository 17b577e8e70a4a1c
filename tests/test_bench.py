"""The speed benchmark runs on a CPU at tiny sizes and prints every line (no timing asserted)."""

import json

import pytest

from vabal.cli import load_benchmark

bench = load_benchmark("speed")  # bench/speed.py

pytestmark = pytest.mark.slow


def test_bench_prints_every_measurement(tmp_path, capsys):
    from vabal.cli import main

    out = tmp_path / "bench.json"
    args = ["--size", "tiny", "--device", "cpu", "--json", str(out)]
    assert main(["bench", "speed", *args]) == 0  # the one entry point: bench/speed.py
    printed = capsys.readouterr().out
    rows = json.loads(out.read_text())
    names = {(r["section"], r["name"]) for r in rows}
    for section in bench.SECTIONS:
        assert any(s == section for s, _ in names), f"no line for {section}"
    assert ("train", "plain PyTorch loop (fp32, DataLoader, batch 128)") in names
    assert ("train", "ratio trainer (defaults) / plain PyTorch") in names
    stages = {n for s, n in names if s == "round"}
    for method, steps in {
        "random": ["select"],
        "vabal": ["extract_features", "train_vae", "score", "select"],
        "bald": ["train_classifier", "score", "select"],
        "coreset": ["extract_features", "select"],
        "vaal": ["score", "select"],
    }.items():
        for step in steps:
            assert any(n.startswith(f"{method}: {step}") for n in stages), (method, step)
    assert any(n.startswith("vaal: train_vae") for n in stages)
    for row in rows:
        if row["unit"] in ("s", "img/s", "x"):
            assert row["value"] == row["value"] and row["value"] > 0, row  # finite, positive
        assert f"[{row['section']}] {row['name']}" in printed


def _bench_rows(**seconds):
    names = {
        "random: train_classifier (200 epochs, 3000 labels)": 600.0,
        "random: evaluate": 10.0,
        "vabal: extract_features": 5.0,
        "vabal: train_vae": 47_000 * 20 * 1e-4,
        "vabal: score": 47_000 * 100 * 1e-6,
        "bald: score": 47.0,
        "vaal: score": 4.7,
        "coreset: select": 2.35,
        "random: select": 0.047,
        "vabal: select": 0.47,
    }
    rows = [{"section": "round", "name": n, "value": v, "unit": "s"} for n, v in names.items()]
    return rows + [{"section": "vaal", "name": "train_vae fast path, per epoch", "value": 5.0}]


def test_estimate_scales_measured_steps_to_every_round(tiny_config, capsys):
    from vabal.data.splits import expected_pool_size
    from vabal.plan import config as config_mod
    from vabal.plan import estimate, grid

    tiny_config["methods"]["vabal"] = {"kind": "vabal", "epochs": 3, "mc_samples": 7}
    cfg = config_mod.validate(tiny_config)
    rates = estimate.step_rates(_bench_rows())
    ds = cfg["datasets"]["digits_plus1"]  # budget 20, 3 rounds, digits 8x8, 4 epochs
    px = 64 / 1024 * (8 / 64) ** 2  # the pixels and the width (8) of the benchmark's (64)
    plain = estimate.run_seconds(cfg, "digits_plus1", "random", rates)
    # 600 s / (3000 labels x 200 epochs) per labelled image and epoch, at 32x32
    assert plain["train_classifier"] == pytest.approx(1e-3 * (20 + 40 + 60) * 4 * px)
    assert set(plain) == {"train_classifier", "evaluate", "select"}
    counts = grid.class_counts(cfg, "digits")
    pool = expected_pool_size(counts, 10, ds, "digits_plus1")
    vab = estimate.run_seconds(cfg, "digits_plus1", "vabal", rates)
    # the method's steps run in the two rounds that select (not the last)
    unl = (pool - 20) + (pool - 40)
    assert vab["train_vae"] == pytest.approx(1e-4 * unl * 3)
    assert vab["score"] == pytest.approx(1e-6 * unl * 7)
    assert vab["extract_features"] == pytest.approx(1e-4 * pool * 2 * px)
    # select: per unlabelled sample x budget (47 000 x 500 in the benchmark)
    assert vab["select"] == pytest.approx(0.47 / (47_000 * 500) * unl * 20)
    assert plain["select"] == pytest.approx(0.047 / (47_000 * 500) * unl * 20)
    rows, jobs, round0 = estimate.estimate(cfg, rates)
    # round 0 once (the same recipe: one training, one features job); then train_classifier
    # (with evaluation) in rounds 1 and 2 of each run, VaB-AL's three steps in two rounds
    # but round 0's features
    assert jobs == 2 + 2 + 2 + (3 * 2 - 1) and {r["method"] for r in rows} == {"random", "vabal"}
    assert (round0["trainings"], round0["shared"]) == (2, 1)
    shared0 = estimate.round0_seconds(cfg, "digits_plus1", "vabal", rates)
    assert set(shared0) == {"train_classifier", "evaluate", "extract_features"}
    # VaB-AL's round-0 training and evaluation are Random's (the features are its own)
    saved = shared0["train_classifier"] + shared0["evaluate"]
    assert round0["saved_s"] == pytest.approx(saved)
    total = sum(r["seconds"] for r in rows)
    assert total == pytest.approx(sum(plain.values()) + sum(vab.values()) - round0["saved_s"])


def test_estimate_reads_the_size_the_benchmark_ran(tiny_config):
    """A benchmark's setup line says what its round ran: a CPU benchmark at the config's own
    classifier (width 8, 8x8 images) gives the measured time per training image back."""
    from vabal.plan import config as config_mod
    from vabal.plan import estimate

    tiny_config["methods"]["vabal"] = {"kind": "vabal", "epochs": 3, "mc_samples": 7}
    cfg = config_mod.validate(tiny_config)
    setup = {"section": "setup", "name": "device", "value": "cpu", "size": "cpu", "pool": 1000,
             "labelled": 100, "test": 200, "epochs": 2, "pixels": 64, "width": 8,
             "budget": 50, "params": {"vabal": {"mc_samples": 7, "epochs": 3}}}  # fmt: skip
    rows = [setup] + [
        {"section": "round", "name": "random: train_classifier", "value": 2.0, "unit": "s"},
        {"section": "round", "name": "random: evaluate", "value": 0.2, "unit": "s"},
        {"section": "round", "name": "vabal: extract_features", "value": 1.0, "unit": "s"},
        {"section": "round", "name": "vabal: score", "value": 0.9 * 7, "unit": "s"},
    ]
    rates = estimate.step_rates(rows)
    plain = estimate.run_seconds(cfg, "digits_plus1", "random", rates)
    # 2 s for 100 labels x 2 epochs: 0.01 s per image; 20 + 40 + 60 labels x 4 epochs
    assert plain["train_classifier"] == pytest.approx(0.01 * 120 * 4)
    # VaB-AL's score: 6.3 s for 900 unlabelled samples x 7 MC samples
    assert rates["vabal.score"] == pytest.approx(6.3 / (900 * 7))
    with pytest.raises(SystemExit, match="does not say at what numbers"):
        estimate.step_rates([{"section": "setup", "name": "device", "value": "cpu",
                              "size": "small"}] + rows[1:])  # fmt: skip
    with pytest.raises(SystemExit, match="different sizes"):
        estimate.step_rates(rows + [{**setup, "width": 16}])
    for size in bench.SIZES.values():  # every size's setup line says what estimate reads
        assert set(estimate.BENCH) <= set(bench.setup_numbers(size))


def test_estimate_command_prints_a_total(tmp_path, tiny_config, capsys):
    import json

    import yaml

    from vabal.cli import main
    from vabal.plan import estimate

    (tmp_path / "bench.json").write_text(json.dumps(_bench_rows()))
    tiny_config["results"] = str(tmp_path / "results")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config))
    assert main(["estimate", str(tmp_path / "config.yaml"), str(tmp_path / "bench.json")]) == 0
    out = capsys.readouterr().out
    assert "digits_plus1" in out and "GPU hours" in out and "in 3 GPU jobs" in out
    assert "round 0: 1 trainings shared by 1 runs" in out
    # a benchmark run on a CPU, one thread (bench speed --size cpu): CPU hours, and the wall
    # time on the cores given
    setup = {"section": "setup", "name": "device", "value": "cpu", "threads": 1,
             **{k: v for k, v in estimate.BENCH.items()}}  # fmt: skip
    (tmp_path / "cpu.json").write_text(json.dumps([setup, *_bench_rows()]))
    args = [str(tmp_path / "config.yaml"), str(tmp_path / "cpu.json"), "--cores", "2"]
    assert main(["estimate", *args]) == 0
    out = capsys.readouterr().out
    assert "CPU hours" in out and "in 3 CPU jobs" in out and "on 2 cores" in out


def test_cpu_speed_bench_prints_every_case(tmp_path):
    """bench/cpu_speed.py at its quick size (no torch.compile: a minute per case): a row per
    case, speed-ups against today's step and today's training (no timing asserted); a case
    that crashes is a row with its error."""
    import subprocess
    import sys

    from conftest import REPO

    out = tmp_path / "speed.json"
    cmd = [sys.executable, str(REPO / "bench" / "cpu_speed.py"), "--quick", "--threads", "1"]
    proc = subprocess.run([*cmd, "--json", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())
    steps = [r for r in rows if r["section"] == "step"]
    trainings = [r for r in rows if r["section"] == "training"]
    assert len(trainings) == 3 and trainings[0]["speedup"] == 1.0
    assert steps[0]["name"] == "fp32, NCHW, 1 thread(s), native kernels"
    assert any("avx2 kernels" in r["name"] for r in steps)
    assert not any("torch.compile" in r["name"] for r in steps)  # not at the quick size
    default = [r for r in rows if r["section"] == "default"]
    assert len(default) == 1 and default[0]["value"] in ("bf16", "fp32")
    for row in steps + trainings:
        assert "error" in row or row["images_per_s"] > 0, row
        assert f"[{row['section']}] {row['name']}" in proc.stdout
    pinned = trainings[2]["platform"]
    assert pinned["cpu_kernels"] == "avx2" and pinned["cpu_capability"] == "AVX2"
