"""Calibration and threshold choice checked against independent computations (numpy loops, sklearn's kappa)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from evalharness.agreement.calibration import ConfidentPair, calibration, choose_threshold


def _pairs(seed: int, n: int = 400) -> tuple[list[ConfidentPair], list[ConfidentPair]]:
    rng = random.Random(seed)
    cheap, strong = [], []
    for i in range(n):
        human = rng.randrange(3)
        conf = round(rng.uniform(0.34, 1.0), 3)
        right = rng.random() < conf  # roughly calibrated
        judge = human if right else (human + rng.choice((1, 2))) % 3
        cheap.append(ConfidentPair(i % 40, human, judge, conf if i % 17 else None, 0.001))
        strong.append(ConfidentPair(i % 40, human, human if rng.random() < 0.95 else (human + 1) % 3, None, 0.02))
    return cheap, strong


def test_reliability_table_and_ece_match_a_plain_loop() -> None:
    cheap, _ = _pairs(1)
    c = calibration(cheap, 3, n_bins=10)
    have = [p for p in cheap if p.confidence is not None]
    assert c is not None and c.pairs == len(have) and c.without == len(cheap) - len(have)
    ece, rows = 0.0, []
    for b in range(10):
        lo, hi = b / 10, (b + 1) / 10
        inside = [p for p in have if (lo < p.confidence <= hi) or (b == 0 and p.confidence == 0)]
        if inside:
            acc = np.mean([p.human == p.judge for p in inside])
            conf = np.mean([p.confidence for p in inside])
            rows.append((len(inside), acc, conf))
            ece += len(inside) / len(have) * abs(acc - conf)
    assert [(b["pairs"], b["accuracy"], b["confidence"]) for b in c.bins] == [pytest.approx(r) for r in rows]
    assert c.ece == pytest.approx(ece)
    for point in c.coverage:
        kept = [p for p in have if p.confidence >= point["threshold"]]
        assert point["share"] == pytest.approx(len(kept) / len(have))
        assert point["accuracy"] == pytest.approx(np.mean([p.human == p.judge for p in kept]))
        assert point["kappa_quadratic"] == pytest.approx(cohen_kappa_score([p.human for p in kept], [p.judge for p in kept],
                                                                           weights="quadratic", labels=[0, 1, 2]))


def test_chosen_threshold_is_the_cheapest_that_meets_the_target() -> None:
    cheap, strong = _pairs(2)
    choice = choose_threshold(cheap, strong, 3, "kappa_quadratic", 0.75, n_resamples=300)
    for point in choice.curve:
        up = [c.confidence is None or c.confidence < point["threshold"] for c in cheap]
        labels = [s.judge if e else c.judge for c, s, e in zip(cheap, strong, up)]
        assert point["kappa_quadratic"] == pytest.approx(cohen_kappa_score([c.human for c in cheap], labels, weights="quadratic"))
        assert point["escalated_share"] == pytest.approx(sum(up) / len(up))
        assert point["cost_usd"] == pytest.approx(0.001 * len(cheap) + 0.02 * sum(up))
    meeting = [p for p in choice.curve if p["kappa_quadratic"] >= 0.75]
    assert choice.threshold == min(meeting, key=lambda p: p["escalated_share"])["threshold"]
    assert choice.ci95 is not None and choice.ci95[0] <= choice.value <= choice.ci95[1]
    assert choice.strong_alone_usd == pytest.approx(0.02 * len(strong))
    impossible = choose_threshold(cheap, strong, 3, "kappa_quadratic", 0.999, n_resamples=100)
    assert impossible.threshold is None and impossible.value is None
