"""Small file helpers shared by every stage: atomic writes and stable hashing."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def _default_file_mode() -> int:
    # mkstemp creates files 0600; give outputs the mode a plain open() would (0666 minus the umask).
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def csv_text(frame: Any) -> str:
    """A pandas DataFrame as CSV text that any CSV reader reads back row for row.

    Lines end in CRLF (RFC 4180) so that Python's csv writer quotes every field holding a ``\r`` or
    ``\n``: model output can contain a lone carriage return, which unquoted splits a row in two.
    """
    return frame.to_csv(index=False, lineterminator="\r\n")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the form every hash in weirdgen is taken over."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def sha256_hex(data: str | bytes) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()
