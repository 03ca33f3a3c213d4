"""pair_pool: the labels of exactly the compared pairs, the newest judgment of a doc winning, read in one pass."""

from pathlib import Path

import pytest
from sqlalchemy import insert

from evalharness.store import Store, runread
from evalharness.store.runread import pair_pool
from evalharness.store.tables import judgments_t

JUDGE = "offline:rules:text:esr3"


def _row(key: str, g: str, doc: str, chash: str, label: str, created: str, verdicts: list | None = None,
         judge: str = JUDGE) -> dict:
    return {"cache_key": key, "judge_id": judge, "query": "q", "doc_id": doc, "content_hash": chash, "guideline_hash": g,
            "label": label, "rationale": f"why {key}", "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0,
            "latency_ms": 0.0, "created_at": created, "details": {"verdicts": verdicts} if verdicts is not None else None}


@pytest.mark.parametrize("chunk", [1, 2, 5000])
def test_newest_counted_judgment_wins_and_others_are_left_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              chunk: int) -> None:
    monkeypatch.setattr(runread, "PAIR_CHUNK", chunk)  # a doc's judgments split across statements, too
    monkeypatch.setattr(runread, "SQLITE_PAIR_CHUNK", chunk)
    store = Store(f"sqlite:///{tmp_path / 'cache.db'}")
    met = [{"attribute": "color", "value": "red", "verdict": "met"}]
    missed = [{"attribute": "color", "value": "red", "verdict": "not_met"}]
    rows = [
        # d1: judged three times in two listed contents; the newest (k3, with no verdicts) gives the label and the
        # newest with verdicts (k2) the verdicts; same time as k2 but a larger key: k3 is newer
        _row("k1", "g1", "d1", "c1", "irrelevant", "2026-01-01", met),
        _row("k3", "g1", "d1", "c2", "relevant", "2026-01-02"),
        _row("k2", "g1", "d1", "c1", "substitute", "2026-01-02", missed),
        # d2: its newest judgment is of content no list holds: the older one counts
        _row("k4", "g1", "d2", "c3", "relevant", "2026-01-01", met),
        _row("k5", "g1", "d2", "zz", "irrelevant", "2026-03-01"),
        # d3 under g2 with any content (None); another judge's and an unlisted doc's judgments never count
        _row("k6", "g2", "d3", "c9", "substitute", "2026-01-01"),
        _row("k7", "g2", "d3", "c9", "irrelevant", "2026-05-01", judge="other:judge:text:esr3"),
        _row("k8", "g2", "d4", "c4", "relevant", "2026-01-01"),
    ]
    with store.engine.begin() as conn:
        conn.execute(insert(judgments_t), rows)
    wanted = {"g1": {"d1": {"c1", "c2"}, "d2": {"c3"}, "d5": {"c5"}}, "g2": {"d3": None}}
    strings: dict[str, str] = {}
    pool = pair_pool(store, JUDGE, wanted, rationales=True, verdicts=True, strings=strings)
    store.close()
    assert pool.labels == {"g1": {"d1": ("relevant", "why k3"), "d2": ("relevant", "why k4")},
                           "g2": {"d3": ("substitute", "why k6")}}
    assert list(pool.labels) == ["g1", "g2"]
    assert pool.covered == {"g1": {"c1", "c2", "c3"}, "g2": {"c9"}}
    assert pool.verdicts == {"g1": {"d1": missed, "d2": met}}
    assert pool.sizes == {"g1": 2, "g2": 1} and pool.size == 3
