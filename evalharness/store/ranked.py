"""The compact form of one stored query's ranked list: doc ids, content hashes, ranks, scores and image URLs in one
JSON value.

Written with the query's row (`run_queries.ranked`), so reading a run's lists costs one row per query, not one per hit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from evalharness.models import HIDDEN_ATTRIBUTES, Hit


def ranked_json(hits: Sequence[Hit], content_hashes: Sequence[str]) -> str:
    """The list as JSON: [[doc ids], [content hashes], [ranks], [scores], [image URLs]], and a sixth list when a hit has
    attributes the judge never sees (HIDDEN_ATTRIBUTES, left out of the content hash): those attributes, per hit.

    The image URL is kept because the content hash leaves it out (the judge hashes image bytes, not where they live),
    so (doc id, content hash, image URL, hidden attributes) names one stored product exactly: two equal lists store
    equal hit rows (what lets a rerun share an earlier run's rows, `Store.save_results`)."""
    lists: list[Any] = [[h.doc_id for h in hits], list(content_hashes), [h.rank for h in hits], [h.score for h in hits],
                        [h.image_url for h in hits]]
    hidden = [{k: h.attributes[k] for k in HIDDEN_ATTRIBUTES if k in h.attributes} for h in hits]
    if any(hidden):
        lists.append(hidden)
    return json.dumps(lists, separators=(",", ":"))


def parse_ranked(value: Any, strings: dict[str, str] | None = None) -> list[list[Any]]:
    """[doc ids, content hashes, ranks, scores, image URLs] from a stored value (text on SQLite, decoded on PostgreSQL).

    Doc ids, hashes and URLs are de-duplicated through `strings` (one copy of each, shared by the lists read with the
    same dict; cheaper than sys.intern): a product recurs across a run's lists, and a large comparison would otherwise
    hold one copy of each string per place."""
    doc_ids, hashes, ranks, scores, urls = (json.loads(value) if isinstance(value, str) else value)[:5]
    one = (strings if strings is not None else {}).setdefault
    return [list(map(one, doc_ids, doc_ids)), list(map(one, hashes, hashes)), ranks, scores, list(map(one, urls, urls))]


_TAIL_FIELDS = tuple(n for n in Hit.__dataclass_fields__ if n not in ("doc_id", "rank", "score", "attributes"))


def hit_json_writer() -> Callable[[Hit], str]:
    """`json.dumps(hit.to_json())` for one command's hits, the part after rank and score written once per distinct
    product (a product listed for many queries differs only in rank and score). Keyed on the field values and their
    types; a hit with a list among its attributes is written in full."""
    memo: dict[tuple[Any, ...], str] = {}
    values_of = attrgetter(*_TAIL_FIELDS)
    if tuple(Hit.__dataclass_fields__)[:3] != ("doc_id", "rank", "score"):  # pragma: no cover - the layout it relies on
        return lambda hit: json.dumps(hit.to_json())

    def dumps(hit: Hit) -> str:
        values, attributes = values_of(hit), hit.attributes
        key = (hit.doc_id, values, tuple(map(type, values)), tuple(attributes.items()), tuple(map(type, attributes.values())))
        try:
            tail = memo.get(key)
        except TypeError:  # an unhashable (list) value
            return json.dumps(hit.to_json())
        if tail is None:
            data = hit.to_json()
            for name in ("doc_id", "rank", "score"):
                del data[name]
            tail = memo[key] = json.dumps(data)[1:]
        return f'{{"doc_id": {_json_scalar(hit.doc_id)}, "rank": {_json_scalar(hit.rank)}, "score": {_json_scalar(hit.score)}, {tail}'
    return dumps


def _json_scalar(value: Any) -> str:
    """`json.dumps(value)` of a str, int or finite float by the encoder's own C functions (no encoder per call)."""
    kind = type(value)
    if kind is str:
        return _ascii_quoted(value)  # type: ignore[no-any-return]
    if kind is int or (kind is float and math.isfinite(value)):
        return repr(value)
    return json.dumps(value)


_ascii_quoted = json.encoder.encode_basestring_ascii
