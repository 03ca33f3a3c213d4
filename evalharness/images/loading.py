"""Images a judge sees: read from a local path or fetched once from a URL, checked, downscaled.

Pillow and urllib are imported when an image is decoded or fetched: a text-mode run only hashes image bytes."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from evalharness.models import sha256_hex

if TYPE_CHECKING:
    from evalharness.judges.base import Judge
    from evalharness.project import Project


class ImageUnavailable(Exception):
    """The hit's image could not be read or decoded; the pair is listed as failed."""


def downscale(data: bytes, max_side: int) -> bytes:
    """Decode, verify and downscale image bytes to at most max_side pixels; returns JPEG bytes."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageUnavailable(f"not a readable image ({type(exc).__name__})") from None
    img = img.convert("RGB")
    img.thumbnail((max_side, max_side))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=85)
    return out.getvalue()


class ImageLoader:
    """Loads each image once per run; remote images are cached on disk under .evalharness/images/."""

    def __init__(self, project: "Project", judge: "Judge | None" = None, max_side: int | None = None,
                 timeout_s: float = 15.0) -> None:
        self.cache_dir = project.cache_dir / "images"
        self.max_side = max_side or project.config.judge.image_max_side
        self.timeout_s = timeout_s
        self.load = lru_cache(maxsize=1024)(self._load)

    def raw(self, ref: str) -> bytes:
        """The original bytes of a local path, file:// or http(s) URL (remote ones cached on disk)."""
        if not ref:
            raise ImageUnavailable("the hit has no image")
        if ref.startswith(("http://", "https://")):
            cached = self.cache_dir / sha256_hex(ref)
            if cached.exists():
                return cached.read_bytes()
            import urllib.request

            try:
                with urllib.request.urlopen(ref, timeout=self.timeout_s) as resp:  # noqa: S310 - http(s) only
                    data = resp.read()
            except OSError as exc:
                raise ImageUnavailable(f"cannot fetch image ({type(exc).__name__})") from None
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            cached.write_bytes(data)
            return data
        path = Path(ref.removeprefix("file://"))
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ImageUnavailable(f"cannot read image {path} ({exc.strerror})") from None

    def _load(self, ref: str) -> tuple[bytes, str]:
        """(downscaled JPEG bytes, sha256 of the original bytes)."""
        raw = self.raw(ref)
        return downscale(raw, self.max_side), sha256_hex(raw)
