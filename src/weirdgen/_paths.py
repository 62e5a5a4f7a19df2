"""Where weirdgen keeps caches that outlive one run (converted models, pretrained toy worlds)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$WEIRDGEN_CACHE_DIR`` (default ``~/.cache/weirdgen``) joined with ``parts``, created."""
    root = Path(os.environ.get("WEIRDGEN_CACHE_DIR") or Path.home() / ".cache" / "weirdgen")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
