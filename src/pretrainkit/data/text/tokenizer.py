"""Tokenizers: trained here with HF `tokenizers`, or loaded from a directory or run.

Trained tokenizers are wrapped as `transformers` fast tokenizers, so `save_pretrained` and
`AutoTokenizer.from_pretrained(dir)` work on them like on any Hub checkpoint's tokenizer.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers.trainers import BpeTrainer, WordPieceTrainer
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from pretrainkit.data.digest import digest
from pretrainkit.errors import BadValueError, MissingFileError

KINDS = ("wordpiece", "bpe")
# Fixed order, so the ids are the same in every tokenizer trained here: [PAD]=0 ... [MASK]=4.
WORDPIECE_SPECIALS = {
    "pad_token": "[PAD]",
    "unk_token": "[UNK]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
}
# GPT-2's convention: <|endoftext|>=0 ends documents (and stands in for bos/unk); <|pad|>=1.
BPE_SPECIALS = {
    "bos_token": "<|endoftext|>",
    "eos_token": "<|endoftext|>",
    "unk_token": "<|endoftext|>",
    "pad_token": "<|pad|>",
}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")

# A list (or other re-iterable), a function returning a fresh iterator, or a one-shot iterator.
Documents = Iterable[str] | Callable[[], Iterable[str]]


def _unique(tokens: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(tokens))


@contextmanager
def _rereadable(documents: Documents) -> Iterator[Callable[[], Iterator[str]]]:
    """A function giving a fresh pass over `documents`; a one-shot iterator (a generator) is
    spooled to a temporary file first, so a corpus larger than memory can be read twice."""
    if callable(documents):
        yield lambda: iter(documents())  # type: ignore[operator]
        return
    if iter(documents) is not documents:
        yield lambda: iter(documents)
        return
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        for doc in documents:
            spool.write(json.dumps(doc) + "\n")

        def reread() -> Iterator[str]:
            spool.seek(0)
            return (json.loads(line) for line in spool)

        yield reread


def _continuation_chars(docs: Iterable[str], tokenizer: Tokenizer) -> list[str]:
    """Every normalized character that can follow another inside a word, sorted."""
    raw: set[str] = set()
    for doc in docs:
        raw.update(doc)
    normalize = tokenizer.normalizer.normalize_str  # type: ignore[union-attr]
    split = tokenizer.pre_tokenizer.pre_tokenize_str  # type: ignore[union-attr]
    # BertNormalizer works character by character, so normalizing the set is enough. A char
    # continues words unless the pipeline splits it off (spaces, punctuation, CJK characters).
    chars = {c for r in raw for c in normalize(r)}
    return sorted(c for c in chars if [w for w, _ in split(normalize("a" + c))] == ["a" + c])


def _train_wordpiece(
    docs: Callable[[], Iterator[str]], vocab_size: int, min_frequency: int, lowercase: bool
) -> Tokenizer:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    specials = _unique(WORDPIECE_SPECIALS.values())
    # The trainer gives "##x" pieces ids in hash-map order, and ties between equally frequent
    # merges are broken by id, so two runs would learn different vocabularies. Reserving every
    # "##x" up front (as trainer "special tokens", demoted below) fixes their ids.
    continuation = ["##" + c for c in _continuation_chars(docs(), tok)]
    trainer = WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=specials + continuation,
        continuing_subword_prefix="##",
        show_progress=False,
    )
    tok.train_from_iterator(docs(), trainer=trainer)
    state = json.loads(tok.to_str())
    state["added_tokens"] = [t for t in state["added_tokens"] if t["content"] in specials]
    tok = Tokenizer.from_str(json.dumps(state))
    # "[CLS] text [SEP]" for a single text, as BERT's classifier expects.
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[(t, tok.token_to_id(t)) for t in ("[CLS]", "[SEP]")],
    )
    return tok


def _train_bpe(
    docs: Iterator[str], vocab_size: int, min_frequency: int, lowercase: bool
) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    if lowercase:
        tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=_unique(BPE_SPECIALS.values()),
        # all 256 bytes: any text encodes without an unknown token
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(docs, trainer=trainer)
    return tok


def train_tokenizer(
    documents: Documents,
    kind: str = "wordpiece",
    vocab_size: int = 8000,
    min_frequency: int = 2,
    lowercase: bool = True,
) -> PreTrainedTokenizerFast:
    """Train a tokenizer on `documents`, deterministically (same documents, same tokenizer.json).

    Args:
        documents: the corpus, streamed: a list, a function returning a fresh iterator (e.g.
            `source.documents`), or an iterator. WordPiece reads it twice (its characters,
            then the vocabulary); an iterator is then spooled to a temporary file.
        kind: "wordpiece" (BERT-style, for MLM: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, single
            texts encode as [CLS] ... [SEP]) or "bpe" (GPT-2-style byte-level BPE, for CLM:
            <|endoftext|>=0 <|pad|>=1, no special tokens added to texts).
        vocab_size: at most this many tokens, specials included.
        min_frequency: a merge must occur at least this often.
        lowercase: lowercase (and, for WordPiece, strip accents) before tokenizing.
    """
    if kind not in KINDS:
        raise BadValueError(f"tokenizer kind={kind!r}: expected {' | '.join(KINDS)}.")
    if vocab_size < 1:
        raise BadValueError(f"vocab_size={vocab_size} must be >= 1.")
    if kind == "bpe":
        stream: Iterable[str] = documents() if callable(documents) else documents
        tok = _train_bpe(iter(stream), vocab_size, min_frequency, lowercase)
        return PreTrainedTokenizerFast(tokenizer_object=tok, **BPE_SPECIALS)
    with _rereadable(documents) as docs:
        tok = _train_wordpiece(docs, vocab_size, min_frequency, lowercase)
    return PreTrainedTokenizerFast(tokenizer_object=tok, **WORDPIECE_SPECIALS)


def _from_tokenizer_json(path: Path) -> PreTrainedTokenizerFast:
    """A bare tokenizer.json: its special tokens are recognised by the names used here."""
    tok = Tokenizer.from_file(str(path))
    roles = WORDPIECE_SPECIALS if tok.token_to_id("[CLS]") is not None else BPE_SPECIALS
    present = {role: t for role, t in roles.items() if tok.token_to_id(t) is not None}
    return PreTrainedTokenizerFast(tokenizer_object=tok, **present)


def _auto(folder: Path) -> PreTrainedTokenizerFast:
    tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    if not isinstance(tok, PreTrainedTokenizerFast):
        raise TypeError(f"{folder} holds a {type(tok).__name__}, not a fast (Rust) tokenizer.")
    return tok


def load_tokenizer(path: str | os.PathLike) -> PreTrainedTokenizerFast:
    """Load a tokenizer from a directory holding tokenizer.json / tokenizer_config.json (made
    by `save_pretrained`, or a local Hub checkpoint), a tokenizer.json file, or a pretrain run
    directory holding `tokenizer/` (or a file in it, such as its backbone.safetensors)."""
    p = Path(path).expanduser()
    if p.is_file() and p.suffix == ".json":
        if p.name == "tokenizer.json" and (p.parent / "tokenizer_config.json").is_file():
            return _auto(p.parent)
        return _from_tokenizer_json(p)
    if p.is_file():  # e.g. pretrained=<run>/backbone.safetensors: the run's tokenizer
        p = p.parent
    for folder in (p, p / "tokenizer"):
        if folder.is_dir() and any((folder / f).is_file() for f in TOKENIZER_FILES):
            return _auto(folder)
    raise MissingFileError(
        f"no tokenizer at {p}: looked for {' or '.join(TOKENIZER_FILES)} in it and in "
        f"{p / 'tokenizer'} (a pretrain run's); pass a tokenizer directory, a tokenizer.json "
        "file, or a pretrain run directory."
    )


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, folder: str | os.PathLike) -> Path:
    """`save_pretrained` into `folder`, file by file atomically, tokenizer.json last: readers
    (and other ranks saving the same tokenizer) never see a half-written one."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        tokenizer.save_pretrained(str(tmp))
        folder.mkdir(exist_ok=True)
        for f in sorted(tmp.iterdir(), key=lambda f: f.name == "tokenizer.json"):
            os.replace(f, folder / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def cached_tokenizer(
    documents: Documents,
    key: Any,
    cache_dir: str | os.PathLike,
    kind: str = "wordpiece",
    vocab_size: int = 8000,
    min_frequency: int = 2,
    lowercase: bool = True,
) -> PreTrainedTokenizerFast:
    """The tokenizer trained on `documents` (identified by `key`, e.g. a source fingerprint)
    with these options: trained once into `cache_dir/tokenizer-<hash>/`, loaded afterwards.

    A file lock makes concurrent callers (DDP ranks) wait for the first one's tokenizer.
    """
    options = {
        "kind": kind,
        "vocab_size": vocab_size,
        "min_frequency": min_frequency,
        "lowercase": lowercase,
    }
    folder = Path(cache_dir) / f"tokenizer-{digest(key, options)}"
    if not (folder / "tokenizer.json").is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{folder}.lock"):
            if not (folder / "tokenizer.json").is_file():
                save_tokenizer(train_tokenizer(documents, **options), folder)
    # Always the saved copy, so a first run and a rerun hand out the very same tokenizer.
    return load_tokenizer(folder)


def document_separator_id(tokenizer: PreTrainedTokenizerFast) -> int:
    """The id that ends a document in a packed stream: [SEP] if there is one, else EOS."""
    for token_id in (tokenizer.sep_token_id, tokenizer.eos_token_id):
        if token_id is not None:
            return int(token_id)
    raise BadValueError(
        "the tokenizer has neither a sep_token nor an eos_token to end documents with; use one "
        "trained here (wordpiece | bpe) or set tokenizer.sep_token / eos_token."
    )


def _component_types(node: Any) -> set[str]:
    """Every "type" named in a (nested) tokenizer.json component."""
    if isinstance(node, dict):
        found = {node["type"]} if isinstance(node.get("type"), str) else set()
        return found.union(*(_component_types(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_component_types(v) for v in node))
    return set()


def is_continuation_table(tokenizer: PreTrainedTokenizerFast) -> torch.Tensor:
    """(len(tokenizer),) bool: True for tokens that continue a word, for whole-word masking.

    WordPiece: pieces with the continuing prefix ("##ing"). Byte-level BPE: tokens not starting
    with "Ġ" (a space); SentencePiece-style: not starting with "▁". Special tokens are False.
    Caveat for the BPE styles: a word at the very start of a text, or after a newline, has no
    space marker and so reads as a continuation of what precedes it.
    """
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    model = state["model"]
    if model["type"] == "WordPiece":
        prefix = model.get("continuing_subword_prefix") or "##"
        continues = lambda t: t.startswith(prefix)  # noqa: E731
    elif "ByteLevel" in _component_types(state["pre_tokenizer"]):
        continues = lambda t: not t.startswith("Ġ")  # noqa: E731
    elif "Metaspace" in _component_types(state["pre_tokenizer"]):
        continues = lambda t: not t.startswith("▁")  # noqa: E731
    else:
        raise BadValueError(
            f"whole-word masking needs a WordPiece, byte-level BPE or SentencePiece tokenizer; "
            f"this one is a {model['type']} model without a ByteLevel/Metaspace pre-tokenizer."
        )
    table = torch.zeros(len(tokenizer), dtype=torch.bool)
    special = set(tokenizer.all_special_ids)
    for token, i in tokenizer.get_vocab().items():
        if i < len(table) and i not in special and continues(token):
            table[i] = True
    return table
