"""The offline image-quality scorer: scikit-image measurements turned into a score 1-5, aspects and a rationale.

Each check compares one measurement with two bounds (a weak and a poor side) and takes points off 5; the
score is the rounded remainder, at least 1. The checks cover the aspects a shopper cares about (Adevinta's
study): sharp, well lit, whole product visible, centred, well framed, not skewed, true colour, attractive setting.
A score's `aspects` name what was found, never the positive side of a failed check: "blurry, too dark", not
"sharp, well lit"; an image with no finding has none. The bounds were set on the demo catalog's recorded degradations (bench/image_quality.py
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
# What a check finds, by the aspect it fails: the names a score's `aspects` list (offline and LLM scorers alike).
FINDINGS: dict[str, tuple[str, ...]] = {
    "sharp": ("blurry", "grainy", "low resolution"),
    "well lit": ("too dark", "washed out", "low contrast"),
    "whole product visible": ("cut off",),
    "centred": ("off centre",),
    "well framed": ("too small in the frame", "framed too tight"),
    "not skewed": ("tilted",),
    "true colour": ("colour cast",),
    "attractive setting": ("busy background",),
}
FINDING_NAMES = tuple(f for found in FINDINGS.values() for f in found)
SCORER_VERSION = "2"  # 2: aspects name the findings


@dataclass(frozen=True)
class Check:
    """One rule: `value(features)` against bounds; `low` = True when small values are bad."""

    finding: str  # one of FINDING_NAMES
    what: str
    value: Callable[[ImageFeatures], float]
    weak: float
    poor: float
    low: bool
    weak_penalty: float
    poor_penalty: float
    fmt: str = "{:.3f}"


CHECKS: tuple[Check, ...] = (
    Check("blurry", "blurry (Laplacian variance {v})", lambda f: f.laplacian_var, 0.0015, 0.0002, True, 1.0, 3.0, "{:.5f}"),
    Check("grainy", "grainy (noise sigma {v})", lambda f: f.noise_sigma, 0.02, 0.05, False, 1.0, 2.5),
    Check("low resolution", "low resolution ({v} px on the short side)", lambda f: min(f.width, f.height), 200, 120, True, 0.5, 2.0, "{:.0f}"),
    Check("too dark", "too dark (mean brightness {v})", lambda f: f.brightness, 0.35, 0.25, True, 1.0, 2.5, "{:.2f}"),
    Check("washed out", "washed out ({v} of the pixels clipped white)", lambda f: f.clipped_bright, 0.35, 0.6, False, 1.0, 2.0, "{:.0%}"),
    Check("low contrast", "flat, low contrast (tonal range {v})", lambda f: f.dynamic_range, 0.35, 0.2, True, 1.0, 1.5, "{:.2f}"),
    Check("cut off", "cut off at the frame's edge (edge contact {v})", lambda f: f.cut_off, 0.02, 0.1, False, 1.0, 2.0, "{:.2f}"),
    Check("off centre", "off centre (centroid offset {v})", lambda f: f.off_centre, 0.17, 0.25, False, 0.75, 1.5, "{:.2f}"),
    Check("too small in the frame", "the product fills only {v} of the frame", lambda f: f.fill, 0.1, 0.04, True, 1.0, 2.5, "{:.1%}"),
    Check("too small in the frame", "the product is only {v} px across", lambda f: f.product_side_px, 64, 40, True, 0.5, 1.0, "{:.0f}"),
    Check("framed too tight", "framed too tight ({v} of the frame)", lambda f: f.fill, 0.85, 0.95, False, 0.5, 1.0, "{:.0%}"),
    Check("tilted", "tilted (only {v} of the edges level or upright)", lambda f: f.axis_aligned, 0.18, 0.12, True, 1.5, 2.0, "{:.0%}"),
    Check("colour cast", "colour cast (background chroma {v})", lambda f: f.colour_cast, 12.0, 25.0, False, 0.5, 1.0, "{:.0f}"),
    Check("busy background", "busy background (spread {v})", lambda f: f.background_busy, 0.08, 0.15, False, 0.5, 1.0, "{:.2f}"),
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
            problems.append((check.finding, check.what.format(v=check.fmt.format(v)), penalty))
    quality = max(1.0, 5.0 - sum(p for _, _, p in problems))
    score = int(quality + 0.5)
    if problems:
        worst = sorted(problems, key=lambda p: -p[2])
        aspects = list(dict.fromkeys(a for a, _, _ in worst))  # the findings, the costliest first
        rationale = "; ".join(w for _, w, _ in worst) + "."
    else:
        aspects = []  # nothing found
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
