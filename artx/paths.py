"""Where artx reads data from and writes its cache (environment variables and defaults)."""

from __future__ import annotations

import os
from pathlib import Path

#: Folder in torchvision's layout holding full MNIST / Fashion-MNIST (``<dir>/MNIST/raw/...``).
DATA_DIR_ENV = "ARTX_DATA_DIR"
#: artx's own cache (trained models, checkpoints, downloads).
CACHE_ENV = "ARTX_CACHE_DIR"


def cache_dir() -> Path:
    """artx's cache folder: ``$ARTX_CACHE_DIR``, else ``$XDG_CACHE_HOME/artx``, else ``~/.cache/artx``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "artx"
