"""Reading documents out of text files: plain text cut by a separator, JSON lines, CSV.

Every reader streams: a file is read line by line, never whole (except with `separator="file"`,
where the whole file is the document).
"""

from __future__ import annotations

import codecs
import csv
import glob
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pretrainkit.errors import BadValueError, MissingFileError, UserError

SEPARATORS = ("line", "blank_line", "percent", "file")
SUFFIXES = (".txt", ".jsonl", ".csv")
BAD_FILE_POLICIES = ("error", "skip")

# (text, label name or None): what every reader yields.
Record = tuple[str, "str | None"]


def check_reader_options(
    separator: str, encoding_errors: str, encoding: str = "utf-8", on_bad_file: str = "error"
) -> None:
    if separator not in SEPARATORS:
        raise BadValueError(
            f"dataset.source.separator={separator!r}: expected {' | '.join(SEPARATORS)}."
        )
    try:
        codecs.lookup_error(encoding_errors)
    except LookupError:
        raise BadValueError(
            f"dataset.source.encoding_errors={encoding_errors!r} is not a codec error handler; "
            "use replace, ignore or strict."
        ) from None
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise BadValueError(
            f"dataset.source.encoding={encoding!r} is not a text encoding Python knows; use "
            "e.g. utf-8, latin-1 or cp1252."
        ) from None
    if on_bad_file not in BAD_FILE_POLICIES:
        raise BadValueError(
            f"dataset.source.on_bad_file={on_bad_file!r}: expected {' | '.join(BAD_FILE_POLICIES)}."
        )


class UndecodableTextError(UserError, UnicodeDecodeError):
    """A text file its encoding cannot decode, told in a message that names the file and the fix
    (a UnicodeDecodeError still, for code that catches one)."""

    def __init__(self, message: str, encoding: str, bad: bytes, reason: str) -> None:
        super().__init__(encoding, bad, 0, len(bad), reason)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class TextCheck:
    """What `check_text_file` found in one file."""

    has_text: bool  # any character that is not whitespace
    offset: int | None = None  # of the first byte the encoding cannot decode
    bad: bytes = b""  # the undecodable bytes there
    reason: str = ""  # the codec's word for what is wrong with them

    def describe(self, path: Path) -> str:
        if self.offset is None:
            return f"{path} (empty)"
        return f"{path} (byte 0x{self.bad[:1].hex()} at offset {self.offset}: {self.reason})"


def check_text_file(path: Path, encoding: str, chunk_size: int = 1 << 20) -> TextCheck:
    """Decode `path` strictly, chunk by chunk (never whole): is there any text, and where is
    the first undecodable byte? Decoding runs at GB/s, so a corpus costs about one read."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    has_text, offset = False, 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(chunk_size)
            pending = len(decoder.getstate()[0])  # bytes of a character cut by the last chunk
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as err:
                bad = err.object[err.start : err.end]
                return TextCheck(True, offset - pending + err.start, bad, err.reason)
            has_text = has_text or bool(text.strip())
            if not chunk:
                return TextCheck(has_text)
            offset += len(chunk)


def find_text_files(root: str | Path) -> list[Path]:
    """`root` itself if it is a file; the *.txt, *.jsonl and *.csv files under it (recursively,
    sorted) if it is a directory; else the files its glob pattern matches (sorted)."""
    path = Path(root).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    else:
        files = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
    if not files:
        raise MissingFileError(
            f"no text files match {root}: give a file, a directory holding *.txt, *.jsonl or "
            "*.csv files (searched recursively), or a glob such as 'data/**/*.txt'."
        )
    return files


def split_text(lines: Iterable[str], separator: str) -> Iterator[str]:
    """The documents in `lines` (line ends kept or not), stripped, empty ones dropped.

    "line": every line; "blank_line": paragraphs between empty lines; "percent": entries
    between lines that are exactly `%` (the fortune format); "file": everything at once.
    """
    if separator == "line":
        yield from (doc for line in lines if (doc := line.strip()))
        return
    ends_document = {
        "blank_line": lambda line: not line.strip(),
        "percent": lambda line: line.rstrip("\r\n") == "%",
        "file": lambda line: False,
    }[separator]
    chunk: list[str] = []
    for line in lines:
        if ends_document(line):
            if doc := "".join(chunk).strip():
                yield doc
            chunk = []
        else:
            chunk.append(line if line.endswith("\n") else line + "\n")
    if doc := "".join(chunk).strip():
        yield doc


def _label(value: Any) -> str | None:
    """A label as its class name; None and empty strings mean "no label"."""
    if value is None:
        return None
    name = str(value).strip()
    return name or None


def _jsonl(lines: Iterable[str], path: Path, text_field: str, label_field: str) -> Iterator[Record]:
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise BadValueError(
                f"{path}:{n} is not valid JSON ({err.msg}); a .jsonl file holds one JSON "
                "object per line."
            ) from None
        if not isinstance(row, dict) or text_field not in row:
            keys = sorted(row) if isinstance(row, dict) else type(row).__name__
            raise BadValueError(
                f"{path}:{n} has no {text_field!r} field (it has {keys}); set "
                "dataset.source.text_field=<key>."
            )
        text = row[text_field]
        if doc := ("" if text is None else str(text)).strip():
            yield doc, _label(row.get(label_field))


def _csv(lines: Iterable[str], path: Path, text_field: str, label_field: str) -> Iterator[Record]:
    # Documents can be long; csv's 128 kB field limit is meant for malformed input, not text.
    csv.field_size_limit(max(csv.field_size_limit(), min(sys.maxsize, 2**31 - 1)))
    reader = csv.DictReader(lines)
    if reader.fieldnames is None or text_field not in reader.fieldnames:
        raise BadValueError(
            f"{path} has no {text_field!r} column (its header: {reader.fieldnames}); set "
            "dataset.source.text_field=<column>."
        )
    for row in reader:
        if doc := (row[text_field] or "").strip():
            yield doc, _label(row.get(label_field))


def read_records(
    path: Path,
    separator: str,
    text_field: str,
    label_field: str,
    encoding_errors: str,
    encoding: str = "utf-8",
) -> Iterator[Record]:
    """(text, label) pairs from one file; labels only come from .jsonl/.csv rows."""
    suffix = path.suffix.lower()
    # newline="" lets csv see line breaks inside quoted fields; elsewhere \r\n becomes \n.
    newline = "" if suffix == ".csv" else None
    with open(path, encoding=encoding, errors=encoding_errors, newline=newline) as f:
        if suffix == ".jsonl":
            yield from _jsonl(f, path, text_field, label_field)
        elif suffix == ".csv":
            yield from _csv(f, path, text_field, label_field)
        else:
            yield from ((doc, None) for doc in split_text(f, separator))


def class_order(names: Iterable[str]) -> list[str]:
    """Unique class names, sorted; integer names numerically, so labels 0..K-1 keep their
    index (and "10" follows "9")."""

    def key(name: str) -> tuple[int, int, str]:
        try:
            return 0, int(name), name
        except ValueError:
            return 1, 0, name

    return sorted(set(names), key=key)
