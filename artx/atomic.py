"""Atomic file writes: write to a temporary file in the target folder, then rename.

``os.replace`` is atomic on POSIX and Windows when source and target are on the same file
system, so a reader (or a resumed run after a kill) sees either the old file or the complete
new one, never a half-written file. Files get the mode an ordinary ``open(..., "w")`` would
give them (0666 minus the process umask), not ``mkstemp``'s private 0600.

:func:`torch_bytes` / :func:`torch_load_verified` let a caller store a SHA-256 digest of a
``torch.save`` payload next to it and refuse a payload whose bytes changed (bit rot, a truncated
copy, a tampered file) before unpickling it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class DigestMismatchError(ValueError):
    """A file's bytes do not match the digest stored for it."""


@functools.lru_cache(maxsize=1)
def _file_mode() -> int:
    # os.umask can only be read by setting it; done once, at the first write.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


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
        os.chmod(tmp, _file_mode())
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


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def torch_bytes(obj: Any) -> bytes:
    """The bytes ``torch.save`` writes for ``obj``."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def torch_save_sealed(obj: Any, path: str | os.PathLike) -> str:
    """Atomically save ``obj`` (tensors, numbers, strings, lists, dicts) with a SHA-256 digest of
    its serialised bytes in the same file; return the digest. Read it with :func:`torch_load_sealed`.

    One file, so the payload and its digest are replaced together (no window in which a reader
    sees a new payload with an old digest).
    """
    import torch

    data = torch_bytes(obj)
    digest = sha256(data)
    torch_save({"sealed": 1, "sha256": digest, "payload": torch.frombuffer(bytearray(data), dtype=torch.uint8)}, path)
    return digest


def torch_load_sealed(path: str | os.PathLike, map_location: str = "cpu") -> Any:
    """Load a file written by :func:`torch_save_sealed` after checking its digest
    (``weights_only=True`` for both layers: nothing is unpickled beyond tensors and plain types).

    :raises DigestMismatchError: not a sealed file, or its payload changed after it was written.
    """
    import torch

    outer = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(outer, dict) or outer.get("sealed") != 1 or not isinstance(outer.get("payload"), torch.Tensor):
        raise DigestMismatchError(f"{path} is not a sealed artx file (written by an older artx, or not by artx)")
    data = outer["payload"].numpy().tobytes()
    if sha256(data) != outer.get("sha256"):
        raise DigestMismatchError(f"{path}: content digest mismatch (the file changed after it was written)")
    return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
