"""A corpus tokenised once into a memory-mapped array of token ids, reused by later runs."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from filelock import FileLock
from transformers import PreTrainedTokenizerFast

from pretrainkit.data.text.sources import TextSource
from pretrainkit.data.text.tokenizer import document_separator_id
from pretrainkit.errors import BadValueError
from pretrainkit.run.io import new_file_mode, write_json

FORMAT_VERSION = 1  # bump when the stream's layout changes: old caches are then not reused


def _batches(documents: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(documents)
    while batch := list(itertools.islice(it, size)):
        yield batch


def cache_key(source: TextSource, tokenizer: PreTrainedTokenizerFast) -> str:
    """sha256 over the corpus fingerprint, the whole tokenizer and the cache format."""
    material = [FORMAT_VERSION, source.fingerprint(), tokenizer.backend_tokenizer.to_str()]
    return hashlib.sha256(json.dumps(material).encode()).hexdigest()


def _build(
    source: TextSource,
    tokenizer: PreTrainedTokenizerFast,
    bin_path: Path,
    dtype: np.dtype,
    batch_docs: int,
) -> dict[str, int]:
    """Tokenise `source` batch by batch into a temporary file, then move it to `bin_path`."""
    sep = document_separator_id(tokenizer)
    n_tokens = n_documents = 0
    fd, tmp = tempfile.mkstemp(dir=bin_path.parent, prefix=f".{bin_path.name}.")
    os.fchmod(fd, new_file_mode())  # a shared cache: the umask's mode, not mkstemp's 0600
    try:
        with os.fdopen(fd, "wb") as f:
            for batch in _batches(source.documents(), batch_docs):
                # Specials spelled out in the text ("[SEP]", "<|endoftext|>") stay text: the only
                # separators in the stream are the ones between documents.
                ids = tokenizer(
                    batch,
                    add_special_tokens=False,
                    split_special_tokens=True,
                    return_attention_mask=False,  # ~15% faster without
                    return_token_type_ids=False,
                )["input_ids"]
                docs = [d + [sep] for d in ids if d]  # a document may normalize to nothing
                flat = np.array(list(itertools.chain.from_iterable(docs)), dtype=dtype)
                flat.tofile(f)
                n_tokens += len(flat)
                n_documents += len(docs)
        if n_tokens == 0:
            raise BadValueError(
                f"the corpus has no tokens: {type(source).__name__} gave no document that "
                "tokenizes to anything; check the source's root and text_field."
            )
        os.replace(tmp, bin_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return {"n_tokens": n_tokens, "n_documents": n_documents, "separator_id": sep}


def token_cache(
    source: TextSource,
    tokenizer: PreTrainedTokenizerFast,
    cache_dir: str | os.PathLike,
    batch_docs: int = 1000,
) -> np.memmap:
    """The token ids of every document of `source`, each followed by one separator id.

    Built once into `cache_dir/tokens-<key>.bin` (uint16 while the vocabulary fits, else uint32)
    with a `tokens-<key>.json` beside it, written last; later calls with the same corpus and
    tokenizer map the file without tokenising. Concurrent callers (DDP ranks) wait on a file
    lock while the first one builds.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    stem = f"tokens-{cache_key(source, tokenizer)[:16]}"
    bin_path, meta_path = cache_dir / f"{stem}.bin", cache_dir / f"{stem}.json"
    dtype = np.dtype(np.uint16 if len(tokenizer) <= np.iinfo(np.uint16).max else np.uint32)
    if not meta_path.is_file():  # the json is written last: present means complete
        with FileLock(str(cache_dir / f"{stem}.lock")):
            if not meta_path.is_file():
                counts = _build(source, tokenizer, bin_path, dtype, batch_docs)
                write_json(
                    meta_path,
                    {
                        "format": FORMAT_VERSION,
                        "dtype": dtype.name,
                        **counts,
                        "source_fingerprint": source.fingerprint(),
                        "vocab_size": len(tokenizer),
                    },
                )
    meta = json.loads(meta_path.read_text())
    return np.memmap(bin_path, dtype=np.dtype(meta["dtype"]), mode="r")
