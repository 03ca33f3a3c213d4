"""Cache keys: sha256 over canonical JSON of exactly the inputs that change an answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from operator import attrgetter
from typing import Any

from evalharness.models import HIDDEN_ATTRIBUTES, Hit, canonical_json, sha256_hex
from evalharness.textnorm import normalize_query

KEY_VERSION = 1
_normalized = lru_cache(maxsize=16384)(normalize_query)  # a query's text, normalized once for all its hits
_quoted = json.encoder.encode_basestring  # a str as canonical_json writes it (ensure_ascii=False)


def content_hash(hit: Hit, image_sha256: str = "") -> str:
    """Hash of the product fields the judge saw, plus the image bytes' hash when it saw an image."""
    fields = hit.judged_fields()
    fields.pop("image_url", None)  # where the image lives does not matter; its bytes are hashed when the judge sees it
    fields["attributes"] = {k: v for k, v in fields["attributes"].items() if k not in HIDDEN_ATTRIBUTES}
    return sha256_hex(canonical_json({"fields": fields, "image": image_sha256}))


def judgment_cache_key(query_text: str, content: str, guideline_hash: str, judge_id: str) -> str:
    """The judgment cache key (DESIGN.md): normalized query, content hash, guideline hash, judge id."""
    query = _normalized(query_text)
    if str is type(content) is type(guideline_hash) is type(judge_id):  # canonical_json's bytes, spelled out (keys sorted)
        return sha256_hex(f'{{"content":{_quoted(content)},"guideline":{_quoted(guideline_hash)},"judge":{_quoted(judge_id)},'
                          f'"query":{_quoted(query)},"v":{KEY_VERSION}}}')
    return sha256_hex(canonical_json({"v": KEY_VERSION, "query": query, "content": content, "guideline": guideline_hash,
                                      "judge": judge_id}))


def content_hasher() -> Callable[[Hit, str], str]:
    """`content_hash` remembered for one command: a product listed for many queries is hashed once. The memo is keyed
    on the judged field values with their types (1 and 1.0 hash apart, as their JSON differs); a hit with a list or
    dict value among its attributes is hashed directly."""
    memo: dict[tuple[Any, ...], str] = {}
    values_of = attrgetter(*(n for n in Hit.__dataclass_fields__ if n not in ("rank", "score", "attributes", "image_url")))

    def chash(hit: Hit, image_sha256: str = "") -> str:
        values, attributes = values_of(hit), hit.attributes
        key = (image_sha256, values, tuple(map(type, values)), tuple(attributes.items()), tuple(map(type, attributes.values())))
        try:
            found = memo.get(key)
        except TypeError:  # an unhashable (list) value: no memo for this hit
            return content_hash(hit, image_sha256)
        if found is None:
            found = memo[key] = content_hash(hit, image_sha256)
        return found
    return chash
