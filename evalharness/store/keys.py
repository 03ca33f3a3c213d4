"""Cache keys: sha256 over canonical JSON of exactly the inputs that change an answer."""

from __future__ import annotations

from evalharness.models import HIDDEN_ATTRIBUTES, Hit, canonical_json, sha256_hex
from evalharness.textnorm import normalize_query

KEY_VERSION = 1


def content_hash(hit: Hit, image_sha256: str = "") -> str:
    """Hash of the product fields the judge saw, plus the image bytes' hash when it saw an image."""
    fields = hit.judged_fields()
    fields.pop("image_url", None)  # where the image lives does not matter; its bytes are hashed when the judge sees it
    fields["attributes"] = {k: v for k, v in fields["attributes"].items() if k not in HIDDEN_ATTRIBUTES}
    return sha256_hex(canonical_json({"fields": fields, "image": image_sha256}))


def judgment_cache_key(query_text: str, content: str, guideline_hash: str, judge_id: str) -> str:
    """The judgment cache key (DESIGN.md): normalized query, content hash, guideline hash, judge id."""
    return sha256_hex(canonical_json({
        "v": KEY_VERSION,
        "query": normalize_query(query_text),
        "content": content,
        "guideline": guideline_hash,
        "judge": judge_id,
    }))
