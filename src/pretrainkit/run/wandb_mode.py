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
