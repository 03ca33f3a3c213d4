"""RBO (Webber, Moffat and Zobel 2010) for uneven and truncated lists, against the paper's definition evaluated on
concrete continuations of the lists and against its closed forms written out independently."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evalharness.compare.stats import rbo, rbo_bounds, rbo_prefixes

P = 0.9
DEEP = 3000  # p**3000 is far below float precision: the definition's sum to this depth is the infinite one


def by_definition(s: list, t: list, p: float = P) -> float:
    """Eq. 7: (1 - p) * sum_d p**(d-1) * |S:d & T:d| / d, summed to DEEP on lists at least that long."""
    seen_s: set = set()
    seen_t: set = set()
    overlap, total = 0, 0.0
    for d in range(1, DEEP + 1):
        a, b = s[d - 1], t[d - 1]
        overlap += (a == b) or ((a in seen_t) + (b in seen_s))
        seen_s.add(a)
        seen_t.add(b)
        total += p ** (d - 1) * overlap / d
    return (1 - p) * total


def fresh(tag: str, n: int = DEEP) -> list[str]:
    return [f"{tag}{i}" for i in range(n)]


def worst(s: list, t: list) -> tuple[list, list]:
    """Continuations that never overlap again: the lower bound's case."""
    return s + fresh("s-"), t + fresh("t-")


def best(short: list, long_: list) -> tuple[list, list]:
    """Continuations that overlap as fast as they can (eq. 30's case): the short list goes on with the long list's
    unmatched items, the long one with the short one's, then both with the same new items."""
    s_more = [x for x in long_ if x not in short]
    l_more = [x for x in short if x not in long_]
    return short + s_more + fresh("both-"), long_ + l_more + fresh("both-")


def eq32(s: list, ll: list, p: float = P) -> float:
    """RBO_ext for uneven lists, eq. 32, written out from the paper with set overlaps."""
    def x(d: int) -> int:
        return len(set(s[:d]) & set(ll[:d]))
    k, n = len(s), len(ll)
    first = sum(x(d) / d * p ** d for d in range(1, n + 1))
    second = sum(x(k) * (d - k) / (k * d) * p ** d for d in range(k + 1, n + 1))
    return (1 - p) / p * (first + second) + ((x(n) - x(k)) / n + x(k) / k) * p ** n


def random_lists(rng: random.Random) -> tuple[list, list]:
    pool = [f"d{i}" for i in range(14)]
    a = rng.sample(pool, rng.randint(1, 9))
    b = rng.sample(pool, rng.randint(1, 9))
    return (a, b) if len(a) <= len(b) else (b, a)


def test_prefix_bounds_are_the_definition_on_the_extreme_continuations() -> None:
    rng = random.Random(7)
    for _ in range(40):
        short, long_ = random_lists(rng)
        found = rbo_prefixes(short, long_, P)
        assert found.min == pytest.approx(by_definition(*worst(short, long_)), abs=1e-9)
        assert found.max == pytest.approx(by_definition(*best(short, long_)), abs=1e-9)
        assert found.min - 1e-12 <= found.ext <= found.max + 1e-12
        assert found.ext == pytest.approx(eq32(short, long_), abs=1e-12)
        assert rbo_prefixes(long_, short, P) == found  # symmetric


def test_paper_values_for_identical_and_truncated_lists() -> None:
    same = rbo_prefixes(list("abcdefg"), list("abcdefg"), 0.9)
    assert (round(same.min, 3), round(same.res, 3), same.ext) == (0.767, 0.233, pytest.approx(1.0))
    # eq. 11's minimum for k = 7 identical items: (1-p)/p * (sum_d p^d (d - 7)/d - 7 ln(1-p))
    assert same.min == pytest.approx((1 - 0.9) / 0.9 * (sum(0.9 ** d * (d - 7) / d for d in range(1, 8))
                                                        - 7 * math.log(0.1)))


def test_a_list_cut_to_its_top_hit_is_not_a_perfect_overlap() -> None:
    six, one = list("abcdef"), ["a"]
    # As prefixes of longer rankings (eq. 32) the one-item list is assumed to go on agreeing: 1.0, bounds wide apart.
    prefix = rbo_prefixes(six, one, P)
    assert prefix.ext == pytest.approx(1.0) and prefix.min < 0.26 and prefix.res > 0.7
    # As search results asked for 10 hits both lists are complete: they agree on 1 item of the 6 seen, and then end.
    exact = rbo_bounds(six, one, P, depth=10)
    assert exact.res == 0 and exact.min == exact.ext
    agreement = [1 / d for d in range(1, 7)] + [1 / 6] * (DEEP - 6)
    assert exact.ext == pytest.approx((1 - P) * sum(P ** (d - 1) * a for d, a in enumerate(agreement, 1)))
    assert round(exact.ext, 3) == 0.302 and rbo(six, one) == pytest.approx(exact.ext)
    # The six-hit list filled its depth: it may go on, so the residual is open but the estimate stays the same.
    assert rbo_bounds(six, one, P, depth=6).res > 0
    assert rbo(list("abcde"), list("abcde"), depth=10) == pytest.approx(1.0)  # identical complete lists
    assert rbo([], []) == 1.0 and rbo([], ["a"]) == 0.0


@given(st.lists(st.sampled_from("abcdefghij"), max_size=12), st.lists(st.sampled_from("abcdefghij"), max_size=12))
def test_overlaps_without_repeats_are_the_walked_ones(a: list, b: list) -> None:
    from evalharness.compare.stats import _overlaps, walked_overlaps

    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    assert _overlaps(short, long_) == walked_overlaps(short, long_)
    distinct_s, distinct_l = list(dict.fromkeys(short)), list(dict.fromkeys(long_))  # the fast path: no repeats
    if len(distinct_s) <= len(distinct_l):
        assert _overlaps(distinct_s, distinct_l) == walked_overlaps(distinct_s, distinct_l)
