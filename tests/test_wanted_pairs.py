"""Property test: `add_pairs` keeps, per guideline and doc, what the lists name — one content hash as a str, several as
a set, None when a list's hashes are not the judge's — and `listed` answers as a set of every listed hash would."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from evalharness.store.runread import Wanted, add_pairs, listed

docs = st.sampled_from(["d1", "d2", "d3", "d4"])
hashes = st.sampled_from(["h1", "h2", "h3"])
lists = st.lists(st.tuples(st.sampled_from(["g1", "g2"]), st.lists(st.tuples(docs, hashes), max_size=6), st.booleans()),
                 max_size=5)


@given(lists)
def test_add_pairs_lists_what_a_set_of_hashes_would(given_lists: list) -> None:
    wanted: Wanted = {}
    reference: dict[tuple[str, str], set[str] | None] = {}
    for g, places, usable in given_lists:
        add_pairs(wanted, g, [d for d, _ in places], [h for _, h in places] if usable else None)
        for d, h in places:
            known = reference.get((g, d), set())
            reference[(g, d)] = None if not usable or known is None else known | {h}
        wanted.setdefault(g, {})
    assert {(g, d) for g, found in wanted.items() for d in found} == set(reference)
    for (g, d), expected in reference.items():
        for h in ("h1", "h2", "h3", "h4"):
            assert listed(wanted[g][d], h) == (expected is None or h in expected), (g, d, h, wanted[g][d])
