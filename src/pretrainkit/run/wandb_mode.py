"""Which W&B mode a run or a report logs in: online when logged in, else offline. Imports
neither wandb nor Lightning, so pk-report can ask without paying for either."""

from __future__ import annotations

import netrc
import os
from urllib.parse import urlparse

from pretrainkit.errors import BadValueError


def wandb_logged_in() -> bool:
    """Whether W&B credentials exist (API key in the environment or in ~/.netrc)."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host or "") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def private_wandb_service() -> None:
    """Forget a W&B service inherited from the launching process (WANDB_SERVICE, which W&B sets
    in a Python process that uses it, and its children inherit): a run starts its own. Sharing
    the parent's, a run killed here stays open there, "in use", and its resume cannot log on
    into it until the parent exits."""
    os.environ.pop("WANDB_SERVICE", None)


def wandb_mode(mode: str | None = None) -> str:
    """The W&B mode to use: `mode` if given, else $WANDB_MODE, else online iff logged in."""
    mode = mode or os.environ.get("WANDB_MODE")
    if mode in ("dryrun", "offline"):
        return "offline"
    if mode in ("online", "disabled", "shared"):
        return mode
    if mode:
        raise BadValueError(
            f"logger.wandb.mode={mode!r}: use online, offline, disabled or null (auto)."
        )
    return "online" if wandb_logged_in() else "offline"
