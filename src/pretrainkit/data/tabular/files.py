"""The user's own tables: CSV or Parquet files, read with pandas (Parquet through pyarrow)."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

from pretrainkit.data.tabular.sources import Frames, TabularSource
from pretrainkit.errors import BadValueError, MissingFileError

SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}


def table_files(where: str) -> list[Path]:
    """The table files `where` names: a file, a folder (its .csv/.tsv/.parquet files, sorted,
    recursively) or a glob."""
    path = Path(where).expanduser()
    if any(c in where for c in "*?["):
        found = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
    elif path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES)
    elif path.is_file():
        found = [path]
    else:
        raise MissingFileError(f"{where}: no such file or directory.")
    found = [p for p in found if p.is_file()]
    if not found:
        raise MissingFileError(
            f"{where} holds no table files ({', '.join(SUFFIXES)}); point at a CSV or Parquet file."
        )
    return found


def read_table(path: Path, separator: str | None) -> Any:
    """One file as a data frame; a damaged or empty file is a clear error naming it."""
    import pandas as pd

    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise BadValueError(f"{path}: not a table file; use {', '.join(SUFFIXES)} files.")
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path)
        else:
            sep = separator or ("\t" if kind == "tsv" else ",")
            frame = pd.read_csv(path, sep=sep, na_values=["", "NA", "?", "nan", "NaN"])
    except ImportError as err:
        raise MissingFileError(
            f"reading {path} needs pyarrow: pip install 'pretrainkit[tabular]'"
        ) from err
    except Exception as err:  # pandas and pyarrow raise many kinds on a damaged file
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise BadValueError(f"cannot read {path} as {kind} ({reason}); fix or remove it.") from err
    if len(frame) == 0:
        raise BadValueError(f"{path} has no rows; remove it or add rows.")
    return frame


def read_tables(where: str, separator: str | None) -> Any:
    import pandas as pd

    frames = [read_table(p, separator) for p in table_files(where)]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


class TableFiles(TabularSource):
    """Labeled rows in `path` (a CSV/TSV/Parquet file, a folder of them or a glob), with the
    class in column `label`; the test rows in `test_path` or, without it, a fixed stratified
    `test_fraction` of them; optionally more rows without labels in `unlabeled_path` for
    pretraining (their label column, if any, is ignored).

    CSV cells that are empty, `NA`, `?` or `NaN` are missing values. Column types: see
    `TabularSource`.
    """

    def __init__(
        self,
        path: str,
        label: str = "label",
        test_path: str | None = None,
        unlabeled_path: str | None = None,
        categorical: list[str] | None = None,
        numeric: list[str] | None = None,
        drop: list[str] | None = None,
        separator: str | None = None,
        test_fraction: float = 0.2,
        split_seed: int = 0,
    ) -> None:
        super().__init__(label, categorical, numeric, drop or [], test_fraction, split_seed)
        self.path, self.test_path, self.unlabeled_path = path, test_path, unlabeled_path
        self.separator = separator

    @property
    def where(self) -> str:
        return f"dataset.source.path={self.path}"

    def frames(self) -> Frames:
        train = read_tables(self.path, self.separator)
        test = None if self.test_path is None else read_tables(self.test_path, self.separator)
        unlabeled = None
        if self.unlabeled_path is not None:
            unlabeled = read_tables(self.unlabeled_path, self.separator)
            unlabeled = unlabeled.drop(columns=[self.label], errors="ignore")
        return Frames(train, test, unlabeled)
