"""JSON that every reader takes: NaN and infinities become null (Python would write `NaN`,
which strict parsers, jq and JavaScript reject)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any


def finite(value: Any) -> Any:
    """`value` with every non-finite float replaced by None, tuples as lists, dataclasses as
    dicts, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return finite(dataclasses.asdict(value))
    return value
