"""The per-command content-hash memo and the spelled-out cache key give exactly what the canonical JSON gives."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from evalharness.models import Hit, canonical_json, sha256_hex
from evalharness.store.keys import KEY_VERSION, content_hash, content_hasher, judgment_cache_key
from evalharness.store.ranked import _json_scalar, hit_json_writer
from evalharness.textnorm import normalize_query

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(-3, 3, allow_nan=False), st.sampled_from(["", "red", "1"]))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=2))
HITS = st.builds(Hit, doc_id=st.sampled_from(["a", "b"]), rank=st.integers(1, 5), score=st.floats(0, 2),
                 title=st.sampled_from(["", "Red mug", "red mug"]), brand=st.sampled_from(["", "Acme"]),
                 price=st.one_of(st.none(), st.sampled_from([1, 1.0, 2.5, True])), image_url=st.sampled_from(["", "x.jpg"]),
                 attributes=st.dictionaries(st.sampled_from(["size", "material", "product_type"]), VALUES, max_size=3))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(HITS, st.sampled_from(["", "img1"])), min_size=1, max_size=12))
def test_memo_equals_content_hash(hits: list[tuple[Hit, str]]) -> None:
    hasher = content_hasher()  # one memo across the whole list, as in one run
    for hit, image in hits + hits:
        assert hasher(hit, image) == content_hash(hit, image)


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=400, deadline=None)
@given(TEXT, TEXT, TEXT, TEXT)
def test_cache_key_equals_canonical_json(query: str, content: str, guideline: str, judge: str) -> None:
    expected = sha256_hex(canonical_json({"v": KEY_VERSION, "query": normalize_query(query), "content": content,
                                          "guideline": guideline, "judge": judge}))
    assert judgment_cache_key(query, content, guideline, judge) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(HITS, min_size=1, max_size=12))
def test_hit_json_writer_equals_json_dumps(hits: list[Hit]) -> None:
    dumps = hit_json_writer()
    for hit in hits + hits:
        assert dumps(hit) == json.dumps(hit.to_json())


@given(st.one_of(st.text(), st.integers(), st.floats(), st.booleans(), st.none()))
def test_json_scalar_equals_json_dumps(value: object) -> None:
    assert _json_scalar(value) == json.dumps(value)
