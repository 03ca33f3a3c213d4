"""The human labels table: put_labels is idempotent and atomic, labels_for finds labels by normalized query."""

from pathlib import Path

import pytest

from evalharness.errors import EvalHarnessError
from evalharness.store import Store
from evalharness.store.labels import iter_labels, label_sources, labels_for, put_labels


def _store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'c.db'}")


def test_put_labels_counts_new_changed_unchanged(tmp_path: Path) -> None:
    store = _store(tmp_path)
    rows = [{"query": "Red Shoes", "doc_id": "d1", "label": "relevant"},
            {"query": "red  shoes", "doc_id": "d2", "label": "irrelevant", "note": "wrong colour"},
            {"query": "blue hat", "doc_id": "d1", "label": "substitute"}]
    assert put_labels(store, "human:gold", rows) == {"new": 3, "changed": 0, "unchanged": 0}
    assert put_labels(store, "human:gold", rows) == {"new": 0, "changed": 0, "unchanged": 3}
    rows[0] = {**rows[0], "label": "substitute"}
    assert put_labels(store, "human:gold", rows) == {"new": 0, "changed": 1, "unchanged": 2}
    found = labels_for(store, "human:gold", ["RED shoes", "unknown query"])
    assert found == {("red shoes", "d1"): "substitute", ("red shoes", "d2"): "irrelevant"}
    assert labels_for(store, "human:other", ["red shoes"]) == {}
    assert label_sources(store) == {"human:gold": 3}
    stored = list(iter_labels(store, "human:gold"))
    assert [(s.query_key, s.doc_id, s.label) for s in stored][0] == ("blue hat", "d1", "substitute")
    assert next(s for s in stored if s.doc_id == "d2").note == "wrong colour"


def test_conflicting_duplicates_store_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path)
    put_labels(store, "human:gold", [{"query": "q", "doc_id": "a", "label": "relevant"}])
    bad = [{"query": "q", "doc_id": "b", "label": "relevant"}, {"query": "Q", "doc_id": "b", "label": "irrelevant"}]
    with pytest.raises(EvalHarnessError, match="labelled twice"):
        put_labels(store, "human:gold", bad)
    assert labels_for(store, "human:gold", ["q"]) == {("q", "a"): "relevant"}


def test_source_must_be_human(tmp_path: Path) -> None:
    store = _store(tmp_path)
    for source in ("offline", "human:", "human:a,b"):
        with pytest.raises(EvalHarnessError, match="human:NAME"):
            put_labels(store, source, [{"query": "q", "doc_id": "a", "label": "relevant"}])


def test_labels_on_postgres(postgres_url: str) -> None:
    store = Store(postgres_url)
    rows = [{"query": "lamp", "doc_id": f"d{i}", "label": "relevant"} for i in range(5)]
    first = put_labels(store, "human:pg-test", rows)
    assert first["new"] + first["unchanged"] == 5
    assert put_labels(store, "human:pg-test", rows) == {"new": 0, "changed": 0, "unchanged": 5}
    assert len(labels_for(store, "human:pg-test", ["LAMP"])) == 5
