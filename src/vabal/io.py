"""Atomic file output and validated input.

Every file the library writes goes through :func:`atomic_path`: the content is written to a
temporary file in the destination folder, flushed and fsync'ed, then renamed over the
destination. A reader therefore sees either the old complete file or the new complete file,
never a file cut short by a killed job. Readers validate what they load and raise
:class:`~vabal.errors.DataError` naming the file when it is corrupt.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import glob
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from vabal.errors import DataError

#: What a user does about a corrupt output of the workflow (all files read here are outputs).
REDO = "delete it and run the workflow again to recompute it"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file is removed when the block raises, so a failure leaves nothing behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; honour the user's umask
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def link_file(source: str | os.PathLike, path: str | os.PathLike) -> None:
    """Make ``path`` a relative symbolic link to ``source`` (a copy where the file system
    has no links), atomically. The link is a file of its own for Snakemake: its time is when
    it was made, so it is newer than the files it was made from."""
    import shutil

    source, path = Path(source), Path(path)
    if not source.is_file():
        raise DataError(f"{source}: missing; {REDO}")
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    tmp = path.parent / f".{path.name}.{os.getpid()}.link.tmp"
    tmp.unlink(missing_ok=True)
    try:
        try:
            os.symlink(os.path.relpath(source.resolve(), path.parent.resolve()), tmp)
        except OSError:  # no symbolic links here
            shutil.copy(source, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _remove_leftovers(path: Path) -> None:
    """Delete temporary files of ``path`` left by a writer killed with SIGKILL (which runs no
    cleanup). Snakemake never runs two jobs with the same output at once, so a temporary
    file of this destination that exists now belongs to no live writer."""
    for old in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        old.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (a crash right after it keeps the new file)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform or file system without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing or corrupt file raises DataError naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: corrupt JSON ({exc}); {REDO}") from None


def write_parquet(path: str | os.PathLike, frame) -> None:
    """Write a pandas DataFrame to Parquet, atomically, without the index."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def read_parquet(path: str | os.PathLike, columns: list[str] | None = None):
    """Read a Parquet table; a missing, corrupt or incomplete table raises DataError.

    ``columns`` are the columns the caller needs: a table without one of them is rejected
    with a message that names the file and the missing column.
    """
    import pandas as pd
    import pyarrow

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        frame = pd.read_parquet(path)
    except (pyarrow.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{path}: corrupt Parquet file ({exc}); {REDO}") from None
    missing = [c for c in columns or [] if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; has {list(frame.columns)}")
    return frame


TABLES_SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "tables.schema.yaml"
_DTYPE_CHECKS = {
    "int": lambda s: pd_api().is_integer_dtype(s),
    "bool": lambda s: pd_api().is_bool_dtype(s),
    "float": lambda s: pd_api().is_float_dtype(s) or pd_api().is_integer_dtype(s),
    "str": lambda s: pd_api().is_object_dtype(s) or pd_api().is_string_dtype(s),
    "category": lambda s: (
        isinstance(s.dtype, __import__("pandas").CategoricalDtype)
        or pd_api().is_object_dtype(s)
        or pd_api().is_string_dtype(s)
    ),
    "list": lambda s: pd_api().is_object_dtype(s),
}


def pd_api():
    import pandas as pd

    return pd.api.types


def table_schema(name: str) -> dict:
    """The column spec of table ``name`` in workflow/schemas/tables.schema.yaml."""
    return copy.deepcopy(_table_schemas()[name])


@functools.cache
def _table_schemas() -> dict:
    """The schema file, parsed once per process (a round step reads several tables)."""
    import yaml

    return yaml.safe_load(TABLES_SCHEMA.read_text())


def read_table(path: str | os.PathLike, name: str):
    """Read a Parquet table and check it against its schema (columns and their kinds)."""
    spec = table_schema(name)["columns"]
    frame = read_parquet(path, [c for c, info in spec.items() if not info.get("optional")])
    for column, info in spec.items():
        if column not in frame:  # an optional column
            continue
        if len(frame) and not _DTYPE_CHECKS[info["dtype"]](frame[column]):
            raise DataError(
                f"{path}: column {column!r} has dtype {frame[column].dtype}, "
                f"expected {info['dtype']} ({name} table)"
            )
    return frame


def write_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write one array in NumPy's .npy format, atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)


def read_npy(path: str | os.PathLike, mmap: bool = False) -> np.ndarray:
    """Read a .npy array; a missing or corrupt file raises DataError naming it."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: corrupt array file ({exc}); {REDO}") from None


def save_torch(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save`` atomically (checkpoints, feature files)."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_torch(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """``torch.load`` with weights_only; a missing or corrupt file raises DataError."""
    import torch

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged zip/pickle
        raise DataError(
            f"{path}: corrupt checkpoint ({type(exc).__name__}: {_first_line(exc)}); {REDO}"
        ) from None


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (torch's run on for several sentences)."""
    text = str(exc).strip()
    first = text.split("\n", 1)[0]
    return first.split(". ", 1)[0] if len(first) > 120 else first
