"""Paths as text, written as pathlib writes them, without building a Path for each one when that changes nothing.

A run resolves a path per distinct image (thousands): parsing each into a Path costs more than the rest of the
hit. A POSIX path with no empty and no `.` part is already written as pathlib writes it; any other path (and every
path on Windows) still goes through pathlib, so the text is always what `str(Path(...))` gives.
"""

from __future__ import annotations

import os
from pathlib import Path

_POSIX = os.sep == "/" and os.altsep is None


def _as_written(text: str) -> bool:
    """Whether `str(Path(text))` is `text` itself: a POSIX path with no empty part (no `//`, no trailing `/`) and no
    `.` part; a leading `/` is kept."""
    if not _POSIX or not text:
        return False
    parts = text.split("/")
    return "." not in parts and "" not in parts[1:]


def path_text(text: str) -> str:
    """`str(Path(text))`."""
    return text if _as_written(text) else str(Path(text))


def under(base: Path, name: str) -> str:
    """`name` as written when it is absolute, else `str(base / name)`: a relative path resolved against `base`."""
    if name[:1] != "/" and _as_written(name):
        root = str(base)
        if root not in (".", "/", "//"):  # `base` is written without a trailing `/` (but for the roots and ".")
            return f"{root}/{name}"
    return name if Path(name).is_absolute() else str(base / name)
