"""Classical no-reference image measurements with scikit-image: what the offline scorer reads.

Every measurement works on the image downscaled once to at most WORK_SIDE pixels (the original size is
kept for the resolution check); the product's geometry on a smaller copy (GEOMETRY_SIDE). The product is
segmented from the background (the median colour of the image border) after a contrast stretch, so a dark
photo still yields its product mask.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy import ndimage as ndi
from skimage import color, filters, morphology, restoration

from evalharness.images.loading import ImageUnavailable

WORK_SIDE = 384      # sharpness, noise, exposure and skew
GEOMETRY_SIDE = 128  # the product mask: fill, cut-off, centring, background
BORDER = 2
AXIS_TOLERANCE_DEG = 4.0


@dataclass(frozen=True)
class ImageFeatures:
    """Measurements of one image, each on a 0-1 intensity scale unless named otherwise."""

    width: int                 # original pixels
    height: int
    laplacian_var: float       # sharpness: variance of the Laplacian of the grey image
    noise_sigma: float         # wavelet estimate of Gaussian noise (skimage.restoration.estimate_sigma)
    brightness: float          # mean grey level
    clipped_dark: float        # share of pixels below 0.02
    clipped_bright: float      # share of pixels above 0.98
    dynamic_range: float       # 99th - 1st percentile of grey levels
    contrast: float            # RMS contrast (standard deviation of grey levels)
    fill: float                # share of the frame the product covers
    product_side_px: int       # shorter side of the product's bounding box, in working pixels
    cut_off: float             # sum over the four edges of the share of edge pixels the product touches
    edges_cut: int             # how many edges the product touches
    off_centre: float          # distance of the product's centroid from the centre, 0 (centred) - 1 (corner)
    axis_aligned: float        # share of strong-edge energy within 4 degrees of horizontal or vertical
    colour_cast: float         # chroma (CIELAB a*, b*) of the background colour
    background_busy: float     # grey-level spread of the background, after smoothing

    def to_json(self) -> dict[str, float | int]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def decode(data: bytes) -> Image.Image:
    """Decode image bytes (RGB); an unreadable image raises ImageUnavailable."""
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageUnavailable(f"not a readable image ({type(exc).__name__})") from None
    return img.convert("RGB")


def _product_mask(rgb: np.ndarray) -> np.ndarray:
    """Pixels that differ from the border's median colour after smoothing and a contrast stretch; closed, holes
    filled (a pale product inside its outline), specks removed."""
    smooth = filters.gaussian(rgb, sigma=1, channel_axis=-1)
    lo, hi = np.percentile(smooth, [1, 99])
    norm = np.clip((smooth - lo) / max(hi - lo, 1e-3), 0, 1)
    border = np.concatenate([norm[:BORDER].reshape(-1, 3), norm[-BORDER:].reshape(-1, 3),
                             norm[:, :BORDER].reshape(-1, 3), norm[:, -BORDER:].reshape(-1, 3)])
    background = np.median(border, axis=0)
    mask = np.abs(norm - background).max(axis=-1) > 0.12
    mask = morphology.closing(np.pad(mask, 3, mode="edge"), morphology.disk(2))[3:-3, 3:-3]  # padded: edges stay
    mask = ndi.binary_fill_holes(mask)
    return morphology.remove_small_objects(mask, max_size=max(8, mask.size // 4000))


def _axis_aligned(gray: np.ndarray) -> float:
    g = filters.gaussian(gray, sigma=1)
    gx, gy = filters.sobel_v(g), filters.sobel_h(g)
    mag = np.hypot(gx, gy)
    if not mag.any():
        return 1.0
    strong = mag > np.percentile(mag, 95)
    angles = np.degrees(np.arctan2(gy[strong], gx[strong])) % 90
    weights = mag[strong]
    near = np.minimum(angles, 90 - angles) < AXIS_TOLERANCE_DEG
    return float((weights * near).sum() / weights.sum())


def measure(data: bytes) -> ImageFeatures:
    """All measurements of one image's bytes."""
    img = decode(data)
    width, height = img.size
    img.thumbnail((WORK_SIDE, WORK_SIDE))
    rgb = np.asarray(img, dtype=np.float64) / 255.0
    gray = color.rgb2gray(rgb)
    w = gray.shape[1]
    p1, p99 = np.percentile(gray, [1, 99])
    small = img.copy()
    small.thumbnail((GEOMETRY_SIDE, GEOMETRY_SIDE))
    srgb = np.asarray(small, dtype=np.float64) / 255.0
    sh, sw = srgb.shape[:2]
    mask = _product_mask(srgb)
    outside = ~ndi.binary_dilation(mask, iterations=2) if mask.any() else np.ones_like(mask)
    if not outside.any():
        outside = np.ones_like(mask)
    if mask.any():
        ys, xs = np.nonzero(mask)
        side = int(min(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) * w / sw)
        off = float(np.hypot(ys.mean() / sh - 0.5, xs.mean() / sw - 0.5) / np.hypot(0.5, 0.5))
        edges = [mask[:BORDER].mean(), mask[-BORDER:].mean(), mask[:, :BORDER].mean(), mask[:, -BORDER:].mean()]
    else:
        side, off, edges = 0, 0.0, [0.0] * 4
    lab = color.rgb2lab(np.median(srgb[outside], axis=0).reshape(1, 1, 3))[0, 0]
    bg_gray = filters.gaussian(color.rgb2gray(srgb), sigma=1)[outside]
    return ImageFeatures(
        width=width, height=height,
        laplacian_var=float(filters.laplace(gray).var()),
        noise_sigma=float(restoration.estimate_sigma(gray)),
        brightness=float(gray.mean()),
        clipped_dark=float((gray < 0.02).mean()),
        clipped_bright=float((gray > 0.98).mean()),
        dynamic_range=float(p99 - p1),
        contrast=float(gray.std()),
        fill=float(mask.mean()),
        product_side_px=side,
        cut_off=float(sum(edges)),
        edges_cut=int(sum(e > 0.02 for e in edges)),
        off_centre=off,
        axis_aligned=_axis_aligned(gray),
        colour_cast=float(np.hypot(lab[1], lab[2])),
        background_busy=float(bg_gray.std()),
    )
