"""Pick the query set: min-count, top N, or head/torso/tail strata sampled by frequency or uniformly."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from evalharness.errors import EvalHarnessError

SEGMENTS = ("head", "torso", "tail")


@dataclass(frozen=True)
class Ranked:
    """A normalized query with its total count and the surface form to show."""

    norm: str
    text: str
    count: int
    segment: str = ""


def parse_strata(spec: str) -> dict[str, int]:
    """'head:20,torso:30,tail:50' -> {'head': 20, 'torso': 30, 'tail': 50}."""
    out: dict[str, int] = {}
    for part in spec.split(","):
        m = re.fullmatch(r"\s*(head|torso|tail)\s*:\s*(\d+)\s*", part)
        if not m:
            raise EvalHarnessError(f"--strata '{spec}' is not of the form head:N,torso:N,tail:N")
        out[m.group(1)] = int(m.group(2))
    return out


def parse_cuts(spec: str) -> tuple[float, float]:
    """'0.5,0.8': head carries the first 50 % of traffic, torso up to 80 %, tail the rest."""
    try:
        head, torso = (float(x) for x in spec.split(","))
    except ValueError:
        raise EvalHarnessError(f"--cuts '{spec}' must be two numbers like 0.5,0.8") from None
    if not 0 < head < torso < 1:
        raise EvalHarnessError(f"--cuts '{spec}' must satisfy 0 < head < torso < 1")
    return head, torso


def rank_and_segment(items: list[tuple[str, str, int]], cuts: tuple[float, float]) -> list[Ranked]:
    """Sort by count (desc, then text) and label head/torso/tail by cumulative traffic share."""
    items = sorted(items, key=lambda x: (-x[2], x[0]))
    total = sum(c for _, _, c in items) or 1
    out, cum = [], 0
    for norm, text, c in items:
        share = cum / total
        seg = "head" if share < cuts[0] else "torso" if share < cuts[1] else "tail"
        out.append(Ranked(norm, text, c, seg))
        cum += c
    return out


def sample_strata(ranked: list[Ranked], wanted: dict[str, int], how: str, seed: int) -> tuple[list[Ranked], dict[str, int]]:
    """Sample the requested number per segment (frequency-weighted or uniform, without replacement).

    Returns the sample (ordered by count) and, per segment, how many were short of the request."""
    rng = np.random.default_rng(seed)
    chosen: list[Ranked] = []
    short: dict[str, int] = {}
    for seg in SEGMENTS:
        n = wanted.get(seg, 0)
        pool = [r for r in ranked if r.segment == seg]
        if n <= 0:
            continue
        if n >= len(pool):
            chosen += pool
            if n > len(pool):
                short[seg] = n - len(pool)
            continue
        weights = np.array([r.count for r in pool], dtype=float) if how == "frequency" else np.ones(len(pool))
        idx = rng.choice(len(pool), size=n, replace=False, p=weights / weights.sum())
        chosen += [pool[i] for i in sorted(idx)]
    chosen.sort(key=lambda r: (-r.count, r.norm))
    return chosen, short
