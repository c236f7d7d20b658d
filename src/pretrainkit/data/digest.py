"""Short digests that name cached work: equal inputs, equal name; a changed file, a new one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def digest(*parts: Any) -> str:
    """16 hex digits of sha256 over `parts` written as JSON."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def file_stats(paths: Iterable[Path]) -> list[tuple[str, int, int]]:
    """(path, size, mtime) of each file: changes whenever a file is edited, added or removed."""
    return [(str(p), (st := p.stat()).st_size, st.st_mtime_ns) for p in paths]
