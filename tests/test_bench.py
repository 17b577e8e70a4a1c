"""The speed benchmark runs on a CPU at tiny sizes and prints every line (no timing asserted)."""

import json

import pytest

from vabal import bench

pytestmark = pytest.mark.slow


def test_bench_prints_every_measurement(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--size", "tiny", "--device", "cpu", "--json", str(out)]) == 0
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
