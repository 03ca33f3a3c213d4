"""One rater's session on one rating sample: what to show next, and the label, skip and undo actions.

Every action is committed before the answer goes back to the page, so the page never holds unsaved work.
Labels go through `put_labels` as `human:<rater>`; each rater writes only their own source, so two raters
at once never touch each other's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from evalharness.errors import EvalHarnessError
from evalharness.models import HIDDEN_ATTRIBUTES
from evalharness.rating.scheme import RatingScheme
from evalharness.store import rating
from evalharness.store.db import Store
from evalharness.store.labels import labels_for, labels_t, put_labels
from evalharness.store.tables import guidelines_t

PRODUCT_FIELDS = ("title", "brand", "color", "category", "price", "description")


class ActionRefused(Exception):
    """An action the page sent that does not fit the rater's state (a stale tab, an unknown label)."""


@dataclass
class RatingSession:
    """The state machine behind the page for one rater."""

    store: Store
    sample: str
    rater: str
    scheme: RatingScheme
    show_judge: bool = False
    _guidelines: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return f"human:{self.rater}"

    def _guideline(self, ghash: str) -> dict[str, Any]:
        if ghash not in self._guidelines:
            with self.store.engine.connect() as conn:
                row = conn.execute(select(guidelines_t.c.text, guidelines_t.c.requirements)
                                   .where(guidelines_t.c.hash == ghash)).first()
            reqs = (row.requirements if row and isinstance(row.requirements, list) else []) if row else []
            self._guidelines[ghash] = {
                "text": row.text if row else "",
                "requirements": [{"attribute": str(r.get("attribute", "")), "value": str(r.get("value", "")),
                                  "importance": str(r.get("importance", ""))} for r in reqs if isinstance(r, dict)]}
        return self._guidelines[ghash]

    def state(self) -> dict[str, Any]:
        """Progress and the pair to show now (None when the rater is done)."""
        prog = rating.progress(self.store, self.sample, self.rater)
        view = None
        if prog.current is not None:
            item = rating.get_item(self.store, self.sample, prog.current)
            if item is not None:
                view = self._view(item)
        return {"rater": self.rater, "sample": self.sample, "total": prog.total, "labelled": prog.labelled,
                "skipped": prog.skipped, "can_undo": prog.can_undo, "pair": view}

    def _view(self, item: rating.RatingItem) -> dict[str, Any]:
        hit = item.hit
        attributes = {str(k): _text(v) for k, v in (hit.get("attributes") or {}).items() if k not in HIDDEN_ATTRIBUTES}
        product = {name: _text(hit.get(name)) for name in PRODUCT_FIELDS}
        product["doc_id"] = item.doc_id
        view = {"item": item.item, "query": item.query, "guideline": self._guideline(item.guideline_hash),
                "product": product, "attributes": attributes, "has_image": image_path(item) is not None}
        if self.show_judge:
            view["judges"] = item.judge_labels
        return view

    def _assigned(self, item: int) -> rating.RatingItem:
        found = rating.get_item(self.store, self.sample, item)
        if found is None or not rating.is_assigned(self.store, self.sample, self.rater, item):
            raise ActionRefused(f"pair {item} is not assigned to {self.rater}")
        return found

    def label(self, item: int, label: str, note: str = "") -> dict[str, Any]:
        """Store the label now, then mark the pair done."""
        if label not in self.scheme.names:
            raise ActionRefused(f"{label!r} is not a label of the {self.scheme.name} scheme")
        found = self._assigned(item)
        previous = labels_for(self.store, self.source, [found.query]).get((found.query_key, found.doc_id))
        put_labels(self.store, self.source, [{"query": found.query, "doc_id": found.doc_id, "label": label,
                                              "note": note.strip()[:2000], "origin": "rate"}])
        rating.mark(self.store, self.sample, self.rater, item, "labelled", previous)
        return self.state()

    def skip(self, item: int) -> dict[str, Any]:
        self._assigned(item)
        rating.mark(self.store, self.sample, self.rater, item, "skipped")
        return self.state()

    def undo(self) -> dict[str, Any]:
        """Take back the newest label or skip: the label is withdrawn from the store (or the label it replaced is put
        back) and the pair is shown again."""
        last = rating.last_action(self.store, self.sample, self.rater)
        if last is None:
            raise ActionRefused("nothing to undo")
        item, state, previous = last
        if state == "labelled":
            found = self._assigned(item)
            if previous:
                put_labels(self.store, self.source, [{"query": found.query, "doc_id": found.doc_id, "label": previous,
                                                      "origin": "rate-undo"}])
            else:
                c = labels_t.c
                with self.store.engine.begin() as conn:
                    conn.execute(delete(labels_t).where(c.source == self.source, c.query_key == found.query_key,
                                                        c.doc_id == found.doc_id))
        rating.reopen(self.store, self.sample, self.rater, item)
        return self.state()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def image_path(item: rating.RatingItem) -> Path | None:
    """The local catalog image of a pair, if it has one (remote images are not fetched: the page stays offline)."""
    ref = str(item.hit.get("image_url") or "").removeprefix("file://")
    if not ref or "://" in ref:
        return None
    path = Path(ref)
    return path if path.is_absolute() and path.is_file() else None


def require_sample(store: Store, name: str) -> rating.RatingSample:
    sample = rating.get_sample(store, name)
    if sample is None:
        raise EvalHarnessError(f"no rating sample named {name!r}; start one with `evalharness rate --as NAME --name {name}`")
    return sample
