"""Atomic writes and validated reads."""

import os

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vabal import io
from vabal.errors import DataError


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_whole_file_and_honours_umask(tmp_path):
    target = tmp_path / "a.json"
    io.write_json(target, {"x": 1})
    io.write_json(target, {"x": 2})
    assert io.read_json(target) == {"x": 2}
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_truncated_files_are_reported(tmp_path):
    frame = pd.DataFrame({"sample_id": [1, 2], "label": [0, 1], "round_added": [0, 0]})
    path = tmp_path / "labelled.parquet"
    io.write_parquet(path, frame)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataError, match="labelled.parquet: corrupt Parquet"):
        io.read_table(path, "labelled")
    (tmp_path / "m.json").write_text('{"accuracy": 0.')
    with pytest.raises(DataError, match="m.json: corrupt JSON"):
        io.read_json(tmp_path / "m.json")
    (tmp_path / "c.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match="c.pt: corrupt checkpoint"):
        io.load_torch(tmp_path / "c.pt")


def test_table_schema_checks_columns_and_kinds(tmp_path):
    path = tmp_path / "split.parquet"
    io.write_parquet(path, pd.DataFrame({"sample_id": [0], "label": [1], "role": ["pool"]}))
    with pytest.raises(DataError, match=r"missing column\(s\) \['initial'\]"):
        io.read_table(path, "split")
    io.write_parquet(
        path, pd.DataFrame({"sample_id": ["a"], "label": [1], "role": ["pool"], "initial": [True]})
    )
    with pytest.raises(DataError, match=r"column .sample_id. has dtype \w+, expected int"):
        io.read_table(path, "split")


# ------------------------------------------------------------------ files cut short by a kill
def _written(tmp_path, kind):
    """A real file of each kind the workflow writes, and the reader that opens it."""
    import numpy as np
    import torch

    if kind == "json":
        path = tmp_path / "metrics.json"
        io.write_json(path, {"accuracy": 0.5, "per_class": [0.25, 0.75]})
        return path, lambda: io.read_json(path)
    if kind == "parquet":
        path = tmp_path / "selection.parquet"
        frame = pd.DataFrame({"sample_id": range(50), "label": 1, "rank": range(50)})
        io.write_parquet(path, frame)
        return path, lambda: io.read_table(path, "selection")
    if kind == "npy":
        path = tmp_path / "images.npy"
        io.write_npy(path, np.arange(600, dtype=np.uint8).reshape(6, 10, 10, 1))
        return path, lambda: io.read_npy(path, mmap=True)
    path = tmp_path / "classifier.pt"
    io.save_torch(path, {"state_dict": {"w": torch.arange(40.0)}, "history": [1, 2]})
    return path, lambda: io.load_torch(path)


@pytest.mark.parametrize("kind", ["json", "parquet", "npy", "pt"])
@settings(max_examples=25, deadline=None, derandomize=True)
@given(cut=st.floats(0.0, 1.0, exclude_max=True))
def test_a_file_cut_anywhere_is_never_read_as_valid(kind, cut):
    """Whatever length a killed writer left, the reader raises DataError naming the file."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path, read = _written(Path(tmp), kind)
        read()  # whole: fine
        data = path.read_bytes()
        complete = len(data) - 1 if kind == "json" else len(data)  # JSON: the final newline
        path.write_bytes(data[: int(cut * complete)])
        with pytest.raises(DataError) as err:
            read()
        assert str(path) in str(err.value) and "delete it" in str(err.value)


def test_store_cut_short_names_the_file(tmp_path):
    from vabal.data import store

    store.prepare({"kind": "digits"}, tmp_path)
    for name in ("images.npy", "meta.json", "samples.parquet"):
        saved = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(saved[: len(saved) // 2])
        with pytest.raises(DataError, match=name):
            store.load(tmp_path)
        (tmp_path / name).write_bytes(saved)
    store.load(tmp_path)


def test_leftovers_of_a_killed_writer_are_removed_by_the_next_write(tmp_path):
    target = tmp_path / "a.parquet"
    (tmp_path / ".a.parquet.k1ll3d.tmp").write_bytes(b"half")  # SIGKILL runs no cleanup
    (tmp_path / ".b.parquet.x.tmp").write_bytes(b"another output's")
    io.write_json(target, {"ok": True})
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.parquet.x.tmp", "a.parquet"]


# ------------------------------------------------------------------ every write is atomic
WRITE_METHODS = {"save", "savez", "savefig", "to_parquet", "to_csv", "to_json", "write_text"}
WRITE_METHODS |= {"write_bytes", "dump", "write_table", "imwrite"}


def _writes_outside_atomic_path(tree):
    import ast

    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}

    def atomic(node):
        while node in parents:
            node = parents[node]
            if isinstance(node, ast.FunctionDef) and node.name == "atomic_path":
                return True
            if isinstance(node, ast.With):
                for item in node.items:
                    call = item.context_expr
                    name = getattr(getattr(call, "func", None), "attr", None) or getattr(
                        getattr(call, "func", None), "id", None
                    )
                    if name == "atomic_path":
                        return True
        return False

    bad = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        writes = isinstance(func, ast.Attribute) and func.attr in WRITE_METHODS
        if isinstance(func, ast.Name) and func.id == "open":
            mode = node.args[1] if len(node.args) > 1 else None
            mode = mode or next((k.value for k in node.keywords if k.arg == "mode"), None)
            text = mode.value if isinstance(mode, ast.Constant) else "r"
            writes = bool(set(text) & set("wax+"))
        if writes and not atomic(node):
            bad.append(node.lineno)
    return bad


def test_every_file_the_library_writes_goes_through_atomic_path():
    import ast
    from pathlib import Path

    src = Path(io.__file__).parent
    found = {}
    for path in sorted(src.rglob("*.py")):
        lines = _writes_outside_atomic_path(ast.parse(path.read_text()))
        if lines:
            found[str(path.relative_to(src))] = lines
    assert found == {}, f"writes that bypass vabal.io.atomic_path: {found}"
    # the audit does see a write outside the helper
    assert _writes_outside_atomic_path(ast.parse("np.save(path, a)\nopen(p, 'w')")) == [1, 2]
    assert _writes_outside_atomic_path(ast.parse("with io.atomic_path(p) as t: f.savefig(t)")) == []
