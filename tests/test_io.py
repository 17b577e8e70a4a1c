"""Atomic writes and validated reads."""

import os

import pandas as pd
import pytest

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
