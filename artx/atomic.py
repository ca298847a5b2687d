"""Atomic file writes: write to a temporary file in the target folder, then rename.

``os.replace`` is atomic on POSIX and Windows when source and target are on the same file
system, so a reader (or a resumed run after a kill) sees either the old file or the complete
new one, never a half-written file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on normal exit it is renamed onto ``path``.

    If the body raises, the temporary file is removed and ``path`` is left untouched.

    :param path: Final destination of the file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Atomically write ``obj`` as indented, key-sorted JSON (stable across runs)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def torch_save(obj: Any, path: str | os.PathLike) -> None:
    """Atomically ``torch.save`` an object made only of tensors, numbers, strings, lists and dicts.

    Such objects load back with ``torch.load(path, weights_only=True)``.
    """
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
