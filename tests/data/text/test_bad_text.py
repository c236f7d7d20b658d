"""Bad text gets a clear error at setup, or a counted, logged skip (`on_bad_file`): undecodable
and empty text files, missing datasets."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from helpers import make_cfg
from hydra.utils import instantiate

from pretrainkit.data.text.files import TextFiles
from pretrainkit.data.text.fortunes import Fortunes
from pretrainkit.data.text.hf_disk import HFDiskDataset
from pretrainkit.data.text.readers import TextCheck, check_text_file


def warnings_from(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelname == "WARNING"]


def corpus(root: Path, **files: bytes) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (root / name.replace("__", "/")).parent.mkdir(parents=True, exist_ok=True)
        (root / name.replace("__", "/")).write_bytes(data)
    return root


GOOD = b"a good line\nand another\n"
LATIN1 = "café au lait\nthé\n".encode("latin-1")  # 0xe9 at byte 3 is not UTF-8
UTF16 = "tea for two\n".encode("utf-16")  # its byte-order mark 0xff 0xfe is not UTF-8


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (LATIN1, r"bad.txt \(byte 0xe9 at offset 3: invalid continuation byte\)"),
        (UTF16, r"bad.txt \(byte 0xff at offset 0: invalid start byte\)"),
    ],
)
def test_undecodable_text_under_strict_is_an_error_naming_file_offset_and_fixes(
    tmp_path: Path, data: bytes, message: str
):
    root = corpus(tmp_path, **{"good.txt": GOOD, "bad.txt": data})
    source = TextFiles(str(root), encoding_errors="strict")
    fixes = r"\. Set dataset.source.encoding=<their encoding> .*encoding_errors=replace .*skip"
    with pytest.raises(
        UnicodeDecodeError, match=rf"1 of 2 text files .*not valid utf-8: .*{message}{fixes}"
    ):
        source.documents()  # before the first document, not deep in the token cache


@pytest.mark.parametrize(
    ("kwargs", "documents", "warning"),
    [
        (
            {},
            ["a good line", "and another", "caf\ufffd au lait", "th\ufffd"],
            "replaced undecodable bytes in 1 of 2",
        ),
        (
            {"encoding_errors": "strict", "on_bad_file": "skip"},
            ["a good line", "and another"],
            "skipped 1 of 2",
        ),
        ({"encoding": "latin-1"}, ["a good line", "and another", "café au lait", "thé"], None),
    ],
)
def test_undecodable_text_is_replaced_skipped_or_read_as_its_encoding(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kwargs: dict, documents: list, warning
):
    root = corpus(tmp_path, **{"good.txt": GOOD, "latin1.txt": LATIN1})
    with caplog.at_level(logging.WARNING):
        source = TextFiles(str(root), **kwargs)
        assert list(source.documents()) == documents
        assert list(source.documents()) == documents  # checked and logged once
    lines = warnings_from(caplog, "pretrainkit.data.text.files")
    if warning is None:
        assert lines == []
    else:
        [line] = lines
        assert warning in line and "latin1.txt (byte 0xe9 at offset 3" in line


def test_undecodable_text_fails_before_the_tokenizer_is_trained(tmp_path: Path):
    root = corpus(tmp_path / "corpus", **{"good.txt": GOOD, "bad.txt": LATIN1})
    overrides = ["task=mlm", "dataset=text_files", f"dataset.source.root={root}"]
    overrides += ["dataset.source.encoding_errors=strict", f"data.cache_dir={tmp_path}/cache"]
    dm = instantiate(make_cfg("pretrain", overrides, tmp_path).data)
    with pytest.raises(UnicodeDecodeError, match=r"bad.txt \(byte 0xe9 at offset 3"):
        dm.prepare_data()
    assert not list((tmp_path / "cache").rglob("*.json"))  # no tokenizer was trained


def test_empty_text_files_are_skipped_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    root = corpus(tmp_path, **{"a.txt": b"", "b.txt": b"\n \n\t\n", "c.txt": GOOD, "d.jsonl": b""})
    with caplog.at_level(logging.WARNING):
        assert list(TextFiles(str(root)).documents()) == ["a good line", "and another"]
    [line] = warnings_from(caplog, "pretrainkit.data.text.files")
    assert "skipped 3 empty text files under" in line and "a.txt (empty)" in line


@pytest.mark.parametrize(
    ("files", "kwargs", "message"),
    [
        (
            {"a.txt": b"", "b.txt": b"  \n"},
            {},
            "no non-empty documents in .*all 2 text files are empty",
        ),
        (
            {"a.txt": LATIN1},
            {"encoding_errors": "strict", "on_bad_file": "skip"},
            "all 1 text files are empty or skipped",
        ),
        ({}, {}, "no text files match"),
    ],
)
def test_no_text_at_all_is_a_clear_error(tmp_path: Path, files: dict, kwargs: dict, message: str):
    root = corpus(tmp_path / "corpus", **files)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        TextFiles(str(root), **kwargs).documents()


def test_labeled_text_skips_empty_files_logging_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    files = {f"{c}__{i}.txt": f"{c} text {i}".encode() for c in ("ham", "spam") for i in range(5)}
    root = corpus(tmp_path, **files, **{"ham__empty.txt": b"", "spam__empty.txt": b"\n"})
    with caplog.at_level(logging.WARNING):
        source = TextFiles(str(root))
        train, test = source.labeled("train"), source.labeled("test")
    assert len(train) + len(test) == 10 and source.classes == ["ham", "spam"]
    [line] = warnings_from(caplog, "pretrainkit.data.text.files")
    assert "skipped 2 empty text files" in line


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"on_bad_file": "replace"},
            r"dataset.source.on_bad_file='replace': expected error \| skip",
        ),
        ({"encoding": "utf-9"}, r"dataset.source.encoding='utf-9' is not a text encoding"),
        ({"encoding_errors": "skip"}, r"dataset.source.encoding_errors='skip' is not a codec"),
    ],
)
def test_bad_text_options_are_refused_at_construction(tmp_path: Path, kwargs: dict, message):
    with pytest.raises(ValueError, match=message):
        TextFiles(str(tmp_path), **kwargs)


def test_the_check_finds_the_exact_offset_across_chunks(tmp_path: Path):
    path = tmp_path / "t.txt"
    path.write_bytes("ééé".encode() + b"\xff" + "é".encode())  # é is 2 bytes: 0xff at 6
    for chunk_size in (1, 3, 4, 1 << 20):  # chunks cut the 2-byte characters
        check = check_text_file(path, "utf-8", chunk_size)
        assert (check.offset, check.bad, check.has_text) == (6, b"\xff", True)
    path.write_bytes("é é".encode())
    assert check_text_file(path, "utf-8", chunk_size=1) == TextCheck(has_text=True)


# --- missing datasets -------------------------------------------------------------------------


def test_missing_fortunes_says_how_to_install_it(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"`sudo apt-get install fortunes`, or `make data`"):
        Fortunes(root=str(tmp_path))


def test_missing_hf_dataset_says_how_to_save_one(tmp_path: Path):
    pytest.importorskip("datasets")
    with pytest.raises(FileNotFoundError, match=r"no dataset at .*save_to_disk"):
        HFDiskDataset(str(tmp_path / "nope")).labeled("train")
