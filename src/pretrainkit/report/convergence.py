"""Whether a fine-tune was still improving when its epoch budget ran out."""

from __future__ import annotations

import statistics
from typing import Any

MIN_WINDOW = 3  # epochs: fewer makes one noisy epoch decide
RISE = 0.01  # one accuracy point (accuracies are fractions in [0, 1])


def still_improving(history: dict[str, list[Any]] | None) -> bool | None:
    """Whether validation accuracy was still rising over the run's last epochs.

    With E recorded val/acc values (None skipped) and window k = max(3, E // 5), the run is
    flagged when mean(last k) - mean(previous k) > 0.01, i.e. the last k epochs beat the k
    before them by more than one accuracy point, and the last k epochs hold its best val/acc
    (a run that peaked early, dipped and partly recovered has its best epoch, and best.ckpt,
    behind it). A plateau, noisy or not, and a run that early stopping ended on a plateau are
    not flagged.

    Returns:
        True (flagged), False, or None when the run cannot be judged: E < 2k ("too short"),
        or no history.
    """
    accs = [a for a in (history or {}).get("val/acc", []) if a is not None]
    k = max(MIN_WINDOW, len(accs) // 5)
    if len(accs) < 2 * k:
        return None
    rising = statistics.fmean(accs[-k:]) - statistics.fmean(accs[-2 * k : -k]) > RISE
    return rising and max(accs[-k:]) > max(accs[:-k])


def converged(history: dict[str, list[Any]] | None) -> bool | None:
    """The negation of `still_improving` (None stays None: too short to judge)."""
    flagged = still_improving(history)
    return None if flagged is None else not flagged
