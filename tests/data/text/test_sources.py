"""Text sources read real text, keep test texts out of pretraining, and fail clearly."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from pretrainkit.data.text_sources import (
    DEFAULT_CATEGORIES,
    FORTUNES_ROOT,
    Fortunes,
    HFDiskDataset,
    TextFiles,
)


def strfile_count(category: str) -> int:
    """The entry count Debian's strfile wrote into the category's .dat index."""
    header = (Path(FORTUNES_ROOT) / f"{category}.dat").read_bytes()[:8]
    return struct.unpack(">II", header)[1]


def test_fortunes_classes_and_stratified_test_split(fortunes: Fortunes):
    train, test = fortunes.labeled("train"), fortunes.labeled("test")
    assert fortunes.classes == list(DEFAULT_CATEGORIES) and fortunes.num_classes == 8
    counts = np.bincount(train.targets, minlength=8) + np.bincount(test.targets, minlength=8)
    assert counts.tolist() == [strfile_count(c) for c in DEFAULT_CATEGORIES]
    assert counts.tolist() == [1051, 1203, 582, 703, 625, 720, 630, 548]
    assert np.bincount(test.targets).tolist() == [round(0.2 * n) for n in counts]
    assert train.targets.dtype == np.int64 and len(train.texts) == len(train)
    assert np.array_equal(Fortunes().labeled("test").targets, test.targets)  # fixed split
    assert "%" not in {t.strip() for t in train.texts} and all(t == t.strip() for t in train.texts)


def test_fortunes_documents_are_every_category_less_the_test_texts(fortunes: Fortunes):
    docs = list(fortunes.documents())
    test = set(fortunes.labeled("test").texts)
    assert not test & set(docs)  # no test text is pretrained on, not even a duplicate
    # every train text is, but for 2 that are test texts too (cross-category duplicates)
    assert len(set(fortunes.labeled("train").texts) - set(docs)) == 2
    every = [e for name in fortunes.files for e in fortunes.entries(name)]
    assert len(fortunes.files) == 43 and len(every) == sum(map(strfile_count, fortunes.files))
    # all 43 files, shuffled with split_seed so no category forms the stream's validation tail
    assert sorted(docs) == sorted(e for e in every if e not in test) and docs != sorted(docs)
    assert docs == list(fortunes.documents())  # the same order every time
    assert fortunes.entries("cookie")[0] in docs  # categories outside the labels count too


def test_fortunes_errors_say_what_to_do(tmp_path: Path, fortunes: Fortunes):
    with pytest.raises(FileNotFoundError, match="fortunes. package is missing.*make data"):
        Fortunes(root=str(tmp_path))
    with pytest.raises(ValueError, match=r"unknown fortune categories \['jokes'\].*computers"):
        Fortunes(categories=["computers", "jokes"])
    with pytest.raises(ValueError, match="split='val'"):
        fortunes.labeled("val")


def test_fortunes_fingerprint_follows_the_options(fortunes: Fortunes):
    assert fortunes.fingerprint() == Fortunes().fingerprint()
    assert fortunes.fingerprint() != Fortunes(split_seed=1).fingerprint()
    assert fortunes.fingerprint() != Fortunes(categories=["zippy", "work"]).fingerprint()


@pytest.fixture
def corpus(tmp_path: Path, zippy: list[str]) -> Path:
    """The same 4 real fortunes in the fortune format; one has a blank line inside."""
    entries = [zippy[0], zippy[1] + "\n\n" + zippy[2], zippy[3]]
    path = tmp_path / "corpus.txt"
    path.write_text("\n%\n".join(entries) + "\n")
    return path


def test_separators(corpus: Path, zippy: list[str]):
    percent = list(TextFiles(str(corpus), separator="percent").documents())
    assert percent == [zippy[0], zippy[1] + "\n\n" + zippy[2], zippy[3]]
    paragraphs = list(TextFiles(str(corpus), separator="blank_line").documents())
    assert len(paragraphs) == 2 and paragraphs[0].endswith(zippy[1])  # % lines are text here
    lines = list(TextFiles(str(corpus)).documents())
    assert lines == [line.strip() for line in corpus.read_text().splitlines() if line.strip()]
    assert list(TextFiles(str(corpus), separator="file").documents()) == [
        corpus.read_text().strip()
    ]
    with pytest.raises(ValueError, match="separator='para'.*line \\| blank_line"):
        TextFiles(str(corpus), separator="para")


def test_directory_glob_jsonl_and_csv(tmp_path: Path, zippy: list[str]):
    (tmp_path / "a").mkdir()
    (tmp_path / "a/rows.jsonl").write_text(
        "".join(json.dumps({"body": t, "id": i}) + "\n\n" for i, t in enumerate(zippy[:3]))
    )
    with open(tmp_path / "b.csv", "w", newline="") as f:  # fields with newlines are quoted
        f.write(
            "id,body\n"
            + "".join(
                f'{i},"{t.replace(chr(34), 2 * chr(34))}"\n' for i, t in enumerate(zippy[3:6])
            )
        )
    (tmp_path / "notes.md").write_text("not a corpus file")
    docs = list(TextFiles(str(tmp_path), text_field="body").documents())
    assert docs == zippy[:6]  # a/rows.jsonl, then b.csv: sorted paths
    assert list(TextFiles(str(tmp_path / "*.csv"), text_field="body").documents()) == zippy[3:6]
    assert list(TextFiles(str(tmp_path / "**/*.md")).documents()) == ["not a corpus file"]


def test_undecodable_bytes_are_replaced(tmp_path: Path):
    (tmp_path / "latin1.txt").write_bytes("café au lait\nthé\n".encode("latin-1"))
    assert list(TextFiles(str(tmp_path)).documents()) == ["caf\ufffd au lait", "th\ufffd"]
    with pytest.raises(UnicodeDecodeError):
        list(TextFiles(str(tmp_path), encoding_errors="strict").documents())


def test_corpus_errors_name_the_path_and_the_fix(tmp_path: Path, zippy: list[str]):
    with pytest.raises(FileNotFoundError, match=f"no text files match {tmp_path}.*glob"):
        TextFiles(str(tmp_path)).fingerprint()  # on first use: constructing reads nothing
    (tmp_path / "empty.txt").write_text("\n  \n\n")
    with pytest.raises(ValueError, match="no non-empty documents in .*empty.txt"):
        TextFiles(str(tmp_path / "empty.txt")).documents()
    (tmp_path / "rows.jsonl").write_text(json.dumps({"content": zippy[0]}) + "\n")
    with pytest.raises(ValueError, match=r"rows.jsonl:1 has no 'text' field.*text_field"):
        list(TextFiles(str(tmp_path / "rows.jsonl")).documents())
    (tmp_path / "rows.csv").write_text(f"content\n{zippy[0].splitlines()[0]}\n")
    with pytest.raises(ValueError, match=r"rows.csv has no 'text' column.*text_field"):
        list(TextFiles(str(tmp_path / "rows.csv")).documents())
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    with pytest.raises(ValueError, match="bad.jsonl:1 is not valid JSON"):
        list(TextFiles(str(tmp_path / "bad.jsonl")).documents())


def write_class_folders(root: Path, fortunes: Fortunes, per_class: int) -> None:
    """Real fortunes, one file per entry, in root/<category>/."""
    for category in ("work", "science", "politics"):
        (root / category).mkdir(parents=True)
        for i, entry in enumerate(fortunes.entries(category)[:per_class]):
            (root / category / f"{i:03d}.txt").write_text(entry)


def test_class_folders(tmp_path: Path, fortunes: Fortunes):
    write_class_folders(tmp_path / "train", fortunes, 10)
    source = TextFiles(str(tmp_path / "train"), separator="file")
    assert source.classes == ["politics", "science", "work"]  # sorted
    train, test = source.labeled("train"), source.labeled("test")
    assert np.bincount(test.targets).tolist() == [2, 2, 2]  # 20% of each class
    assert np.bincount(train.targets).tolist() == [8, 8, 8]
    assert test.texts[0] in fortunes.entries("politics")
    assert len(list(source.documents())) == 30  # pretraining reads every file, test too
    write_class_folders(tmp_path / "test", fortunes, 3)
    held = TextFiles(str(tmp_path / "train"), separator="file", test_root=str(tmp_path / "test"))
    assert len(held.labeled("train")) == 30 and np.bincount(
        held.labeled("test").targets
    ).tolist() == [3, 3, 3]


def test_label_column_layouts(tmp_path: Path, fortunes: Fortunes):
    texts = {c: fortunes.entries(c)[:6] for c in ("work", "zippy")}
    rows = [{"text": t, "label": c} for c, ts in texts.items() for t in ts]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    source = TextFiles(str(tmp_path / "rows.jsonl"), test_fraction=0.5)
    assert source.classes == ["work", "zippy"]
    test = source.labeled("test")
    assert np.bincount(test.targets).tolist() == [3, 3]
    assert all(t in texts[source.classes[y]] for t, y in zip(test.texts, test.targets, strict=True))
    # integer labels sort as numbers, so label k is class index k
    numbered = [{"text": t, "label": k} for k in (10, 2, 1, 0) for t in texts["work"][:2]]
    (tmp_path / "ints.jsonl").write_text("".join(json.dumps(r) + "\n" for r in numbered))
    ints = TextFiles(str(tmp_path / "ints.jsonl"), test_fraction=0.5)
    assert ints.classes == ["0", "1", "2", "10"]
    assert sorted(ints.labeled("train").targets.tolist()) == [0, 1, 2, 3]


def test_labeled_errors(tmp_path: Path, zippy: list[str]):
    (tmp_path / "plain.txt").write_text("\n".join(zippy[:5]))
    source = TextFiles(str(tmp_path / "plain.txt"))
    assert source.classes == []  # an unlabeled corpus
    with pytest.raises(ValueError, match="has no labels.*<class>.*label_field"):
        source.labeled("train")
    rows = [{"text": t, "label": "zippy"} for t in zippy[:4]] + [{"text": zippy[5], "label": "x"}]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ValueError, match="class 'x' has 1 example.*at least 2 per class"):
        TextFiles(str(tmp_path / "rows.jsonl")).labeled("train")


def test_fingerprint_changes_with_the_files(tmp_path: Path, zippy: list[str]):
    path = tmp_path / "c.txt"
    path.write_text(zippy[0])
    before = TextFiles(str(path)).fingerprint()
    assert TextFiles(str(path)).fingerprint() == before
    assert TextFiles(str(path), separator="file").fingerprint() != before
    path.write_text(zippy[0] + "\n" + zippy[1])
    assert TextFiles(str(path)).fingerprint() != before


@pytest.fixture
def hf_dict(tmp_path: Path, fortunes: Fortunes) -> Path:
    import datasets

    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["work", "zippy"])}
    )
    split = {
        name: datasets.Dataset.from_dict(
            {
                "text": fortunes.entries("work")[lo:hi] + fortunes.entries("zippy")[lo:hi],
                "label": [0] * (hi - lo) + [1] * (hi - lo),
            },
            features=features,
        )
        for name, (lo, hi) in {"train": (0, 20), "test": (20, 25)}.items()
    }
    datasets.DatasetDict(split).save_to_disk(str(tmp_path / "hf"))
    return tmp_path / "hf"


def test_hf_disk_dataset_dict(hf_dict: Path, fortunes: Fortunes):
    source = HFDiskDataset(str(hf_dict))
    assert source.classes == ["work", "zippy"]
    docs = list(source.documents())
    assert docs == fortunes.entries("work")[:20] + fortunes.entries("zippy")[:20]
    test = source.labeled("test")
    assert (
        test.texts[:5] == fortunes.entries("work")[20:25]
        and test.targets.tolist() == [0] * 5 + [1] * 5
    )
    with pytest.raises(ValueError, match="has no column 'body'"):
        HFDiskDataset(str(hf_dict), text_field="body").documents()


def test_hf_disk_single_dataset_holds_out_a_test_split(tmp_path: Path, fortunes: Fortunes):
    import datasets

    texts = fortunes.entries("work")[:10] + fortunes.entries("zippy")[:10]
    labels = ["work"] * 10 + ["zippy"] * 10  # plain strings, not a ClassLabel
    datasets.Dataset.from_dict({"text": texts, "label": labels}).save_to_disk(str(tmp_path / "d"))
    source = HFDiskDataset(str(tmp_path / "d"))
    test = source.labeled("test")
    assert np.bincount(test.targets).tolist() == [2, 2] and len(source.labeled("train")) == 16
    docs = list(source.documents())
    assert len(docs) == 16 and not set(docs) & set(test.texts)


def test_hf_disk_without_datasets_says_pip_install(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    with pytest.raises(ImportError, match="pip install datasets"):
        HFDiskDataset("/nonexistent").documents()
