"""R's mlbench tables (Debian's `r-cran-mlbench`), read without R by the `rdata` package.

`make data` unpacks the package's .rda files to /usr/local/share/mlbench (1 MB) instead of
installing it: the package depends on R itself (90 packages, 171 MB on this project's Debian).
"""

from __future__ import annotations

import warnings
from pathlib import Path

from pretrainkit.data.tabular.sources import Frames, TabularSource
from pretrainkit.errors import BadValueError, MissingFileError

# where `make data` unpacks the files, and where installing r-cran-mlbench puts them
ROOTS = ("/usr/local/share/mlbench/data", "/usr/lib/R/site-library/mlbench/data")
# each table's class column (the package's documentation)
LABELS = {
    "BreastCancer": "Class",
    "DNA": "Class",
    "Glass": "Type",
    "HouseVotes84": "Class",
    "Ionosphere": "Class",
    "LetterRecognition": "lettr",
    "PimaIndiansDiabetes": "diabetes",
    "PimaIndiansDiabetes2": "diabetes",
    "Satellite": "classes",
    "Shuttle": "Class",
    "Sonar": "Class",
    "Soybean": "Class",
    "Vehicle": "Class",
    "Vowel": "Class",
    "Zoo": "type",
}
DROP = {"BreastCancer": ["Id"]}  # identifiers, not features
FIX = "run `make data` (unpacks Debian's r-cran-mlbench), or set dataset.source.root=<its data dir>"


def find_root(root: str | None) -> Path:
    """`root`, or the first of `ROOTS` that exists."""
    for candidate in [root] if root else ROOTS:
        path = Path(candidate).expanduser()
        if path.is_dir():
            return path
    raise MissingFileError(f"mlbench's tables not found in {root or ' or '.join(ROOTS)}; {FIX}.")


class MLBench(TabularSource):
    """A classification table of R's mlbench package (UCI data), e.g. `LetterRecognition`:
    20,000 rows x 16 numeric features, 26 classes; `Shuttle`: 58,000 x 9, 7 classes;
    `Satellite`: 6,435 x 36, 6 classes; `Soybean` and `HouseVotes84`: categorical, with
    missing values. No table has an official test split: a fixed stratified `test_fraction`
    (`split_seed`) is held out.

    Args:
        table: the table's name (the .rda file's stem).
        root: the folder of .rda files; None looks in `ROOTS`.
    """

    missing_hint = FIX  # what the config checks suggest when `root` does not exist

    def __init__(
        self,
        table: str = "LetterRecognition",
        root: str | None = None,
        label: str | None = None,
        categorical: list[str] | None = None,
        numeric: list[str] | None = None,
        drop: list[str] | None = None,
        test_fraction: float = 0.2,
        split_seed: int = 0,
    ) -> None:
        if label is None and table not in LABELS:
            raise BadValueError(
                f"dataset.source.table={table}: its class column is not known; set "
                f"dataset.source.label=<column>, or use one of {', '.join(LABELS)}."
            )
        super().__init__(
            label or LABELS[table],
            categorical,
            numeric,
            DROP.get(table, []) if drop is None else drop,
            test_fraction,
            split_seed,
        )
        self.table, self.root = table, root

    @property
    def where(self) -> str:
        return f"mlbench's {self.table}"

    def frames(self) -> Frames:
        path = find_root(self.root) / f"{self.table}.rda"
        if not path.is_file():
            tables = sorted(p.stem for p in path.parent.glob("*.rda"))
            raise MissingFileError(
                f"{path} not found; dataset.source.table is one of: {', '.join(tables)}."
            )
        try:
            import rdata
        except ImportError as err:
            raise MissingFileError(
                "reading mlbench's tables needs the rdata package: pip install 'pretrainkit[tabular]'"
            ) from err
        with warnings.catch_warnings():  # "Unknown encoding. Assumed ASCII." (they are ASCII)
            warnings.simplefilter("ignore", UserWarning)
            try:
                tables = rdata.read_rda(str(path))
            except Exception as err:  # rdata raises several kinds on a damaged file
                raise BadValueError(f"cannot read {path} ({err}); {FIX}.") from err
        frame = tables.get(self.table, next(iter(tables.values())))
        return Frames(frame.reset_index(drop=True))
