"""The offline image-quality scorer: scikit-image measurements turned into a score 1-5, aspects and a rationale.

Each check compares one measurement with two bounds (a weak and a poor side) and takes points off 5; the
score is the rounded remainder, at least 1. The aspects are those of the guided list a shopper cares about
(Adevinta's study): sharp, well lit, whole product visible, centred, well framed, not skewed, true colour,
attractive setting. The bounds were set on the demo catalog's recorded degradations (bench/image_quality.py
prints the ROC AUC per kind); skew is read from how much of the edge energy is horizontal or vertical, so a
round product photographed straight can look slightly skewed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from evalharness.images.scorers import ImageScore

if TYPE_CHECKING:  # scikit-image and scipy load only when an image is actually scored (scores are cached)
    from evalharness.images.features import ImageFeatures

ASPECTS = ("sharp", "well lit", "whole product visible", "centred", "well framed", "not skewed", "true colour",
           "attractive setting")
SCORER_VERSION = "1"


@dataclass(frozen=True)
class Check:
    """One rule: `value(features)` against bounds; `low` = True when small values are bad."""

    aspect: str
    what: str
    value: Callable[[ImageFeatures], float]
    weak: float
    poor: float
    low: bool
    weak_penalty: float
    poor_penalty: float
    fmt: str = "{:.3f}"


CHECKS: tuple[Check, ...] = (
    Check("sharp", "blurry (Laplacian variance {v})", lambda f: f.laplacian_var, 0.0015, 0.0002, True, 1.0, 3.0, "{:.5f}"),
    Check("sharp", "grainy (noise sigma {v})", lambda f: f.noise_sigma, 0.02, 0.05, False, 1.0, 2.5),
    Check("sharp", "low resolution ({v} px on the short side)", lambda f: min(f.width, f.height), 200, 120, True, 0.5, 2.0, "{:.0f}"),
    Check("well lit", "too dark (mean brightness {v})", lambda f: f.brightness, 0.35, 0.25, True, 1.0, 2.5, "{:.2f}"),
    Check("well lit", "washed out ({v} of the pixels clipped white)", lambda f: f.clipped_bright, 0.35, 0.6, False, 1.0, 2.0, "{:.0%}"),
    Check("well lit", "flat, low contrast (tonal range {v})", lambda f: f.dynamic_range, 0.35, 0.2, True, 1.0, 1.5, "{:.2f}"),
    Check("whole product visible", "cut off at the frame's edge (edge contact {v})", lambda f: f.cut_off, 0.02, 0.1, False, 1.0, 2.0, "{:.2f}"),
    Check("centred", "off centre (centroid offset {v})", lambda f: f.off_centre, 0.17, 0.25, False, 0.75, 1.5, "{:.2f}"),
    Check("well framed", "the product fills only {v} of the frame", lambda f: f.fill, 0.1, 0.04, True, 1.0, 2.5, "{:.1%}"),
    Check("well framed", "the product is only {v} px across", lambda f: f.product_side_px, 64, 40, True, 0.5, 1.0, "{:.0f}"),
    Check("well framed", "framed too tight ({v} of the frame)", lambda f: f.fill, 0.85, 0.95, False, 0.5, 1.0, "{:.0%}"),
    Check("not skewed", "tilted (only {v} of the edges level or upright)", lambda f: f.axis_aligned, 0.18, 0.12, True, 1.5, 2.0, "{:.0%}"),
    Check("true colour", "colour cast (background chroma {v})", lambda f: f.colour_cast, 12.0, 25.0, False, 0.5, 1.0, "{:.0f}"),
    Check("attractive setting", "busy background (spread {v})", lambda f: f.background_busy, 0.08, 0.15, False, 0.5, 1.0, "{:.2f}"),
)


def _penalty(check: Check, v: float) -> float:
    worse = (lambda bound: v < bound) if check.low else (lambda bound: v > bound)
    if worse(check.poor):
        return check.poor_penalty
    if worse(check.weak):
        return check.weak_penalty
    return 0.0


def score_features(f: ImageFeatures) -> ImageScore:
    """Score one image's measurements."""
    problems: list[tuple[str, str, float]] = []
    for check in CHECKS:
        v = float(check.value(f))
        penalty = _penalty(check, v)
        if penalty:
            problems.append((check.aspect, check.what.format(v=check.fmt.format(v)), penalty))
    quality = max(1.0, 5.0 - sum(p for _, _, p in problems))
    score = int(quality + 0.5)
    if problems:
        aspects = list(dict.fromkeys(a for a, _, _ in problems))
        worst = sorted(problems, key=lambda p: -p[2])
        rationale = "; ".join(w for _, w, _ in worst) + "."
    else:
        aspects = list(ASPECTS)
        rationale = (f"No problem found: sharp, well exposed (brightness {f.brightness:.2f}), the whole product visible, "
                     f"centred, filling {f.fill:.0%} of the frame, level.")
    return ImageScore(score=score, aspects=aspects, rationale=rationale[0].upper() + rationale[1:],
                      reasoning="; ".join(f"{a}: -{p:g} ({w})" for a, w, p in problems) or "every check passed",
                      details={"quality": round(quality, 3), "features": f.to_json()})


class OfflineImageScorer:
    """Classical no-reference measures (scikit-image); free, deterministic, no network. The prompt does not apply."""

    scorer_id = f"offline:iqa-v{SCORER_VERSION}"
    paid = False
    max_concurrency = 1  # CPU-bound: the scoring loop runs it in a worker thread

    async def score(self, data: bytes) -> ImageScore:
        from evalharness.images.features import measure

        return score_features(measure(data))

    def should_retry(self, exc: BaseException) -> bool:
        return False

    async def aclose(self) -> None:
        """Nothing to release."""


def make_offline_scorer(provider: str, model: str, prompt: str, config: object) -> OfflineImageScorer:
    """`offline` takes no model: one scorer for every spelling."""
    return OfflineImageScorer()
