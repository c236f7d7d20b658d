"""TextFiles reads your own text (plain, JSON lines, CSV; class folders or label columns) and
fails clearly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pretrainkit.data.text.files import TextFiles
from pretrainkit.data.text.fortunes import Fortunes


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
