"""Writers: labels as qrels, CSV, Quepid ratings CSV, RRE ratings JSON, SRW judgments JSON or JSONL; runs as TREC run, CSV or JSONL.

Label rows come from a human source (the labels table) or a judge (its judgments, newest per pair). Numeric
formats carry the project's gains, so `labels import --map gains` reads them back as the same labels.
A TREC run's score column is `n - rank + 1`, so trec_eval, ranx and ir_measures keep evalharness's order
whatever ties the engine's own scores had (the original scores are in the CSV and JSONL exports).

Query ids are the query set's, in qrels and runs alike, so the two files join: `--queries FILE` on either export,
else the project's query sets, else (labels) the id the imported file gave, else a slug of the text. TREC readers
split lines on whitespace, so an id with whitespace is refused with a line (CSV and JSONL keep it).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select

from evalharness.errors import EvalHarnessError
from evalharness.store.db import StoredQuery
from evalharness.store.labels import iter_labels
from evalharness.store.tables import judgments_t
from evalharness.textnorm import normalize_query, slugify


@dataclass(frozen=True)
class ExportRow:
    """One label with where it came from (judge fields empty for people's labels)."""

    query_id: str
    query: str
    doc_id: str
    label: str
    gain: int
    rationale: str
    source: str
    judge_id: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    created_at: str = ""
    confidence: float | None = None  # the judge's probability for its label, when it gives one

    @property
    def model(self) -> str:
        """The model part of a judge id ('openai:gpt-4o-mini:text:...' -> 'gpt-4o-mini')."""
        provider, _, rest = self.judge_id.partition(":")
        return "" if not self.judge_id or provider == "offline" else rest.partition(":")[0]


def human_rows(store: Any, source: str, gains: Mapping[str, int], query_ids: Mapping[str, str]) -> list[ExportRow]:
    """A human source's labels; query ids from `query_ids` (by normalized text), else the id imported with the label,
    else a slug."""
    return [ExportRow(query_ids.get(s.query_key) or s.query_id or slugify(s.query), s.query, s.doc_id, s.label, gains.get(s.label, 0), s.note,
                      source, created_at=s.updated_at) for s in iter_labels(store, source)]


def judge_rows(store: Any, spec: str, judge_id: str, gains: Mapping[str, int], query_ids: Mapping[str, str]) -> list[ExportRow]:
    """A judge's judgments, the newest per (query, doc)."""
    c = judgments_t.c
    newest: dict[tuple[str, str], Any] = {}
    with store.engine.connect() as conn:
        for r in conn.execute(select(judgments_t).where(c.judge_id == judge_id).order_by(c.created_at)):
            newest[(normalize_query(r.query), r.doc_id)] = r
    return [ExportRow(query_ids.get(key[0]) or slugify(r.query), r.query, r.doc_id, r.label, gains.get(r.label, 0), r.rationale,
                      spec, r.judge_id, r.input_tokens, r.output_tokens, r.cost_usd, r.created_at, r.confidence)
            for key, r in sorted(newest.items())]


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _by_query(rows: Sequence[ExportRow]) -> dict[str, list[ExportRow]]:
    out: dict[str, list[ExportRow]] = {}
    for r in rows:
        out.setdefault(r.query, []).append(r)
    return out


def trec_field(value: str, what: str, fmt: str) -> str:
    """An id as a TREC field, or one line refusing it: TREC readers split on whitespace, so it must have none."""
    if not value or any(ch.isspace() for ch in value):
        raise EvalHarnessError(f"{what} {value!r} is empty or has whitespace, which every TREC {fmt} reader splits on; "
                               "export --format csv or jsonl (they keep it), or give it an id without spaces")
    return value


def to_qrels(rows: Sequence[ExportRow]) -> str:
    return "".join(f"{trec_field(r.query_id, 'query id', 'qrels')} 0 "
                   f"{trec_field(r.doc_id, f'doc id (query {r.query_id})', 'qrels')} {r.gain}\n" for r in rows)


def to_csv(rows: Sequence[ExportRow]) -> str:
    return csv_text(("query_id", "query", "doc_id", "label", "gain", "note"), ((r.query_id, r.query, r.doc_id, r.label, r.gain, r.rationale)
                                                                          for r in rows))


def to_quepid(rows: Sequence[ExportRow]) -> str:
    return csv_text(("query", "docid", "rating"), ((r.query, r.doc_id, r.gain) for r in rows))


def to_rre(rows: Sequence[ExportRow], index: str = "evalharness", id_field: str = "id") -> str:
    topics = [{"description": query, "query_groups": [{
        "name": query, "queries": [{"template": "query.json", "placeholders": {"$query": query}}],
        "relevant_documents": {r.doc_id: {"gain": r.gain} for r in group}}]} for query, group in _by_query(rows).items()]
    return json.dumps({"index": index, "id_field": id_field, "topics": topics}, ensure_ascii=False, indent=1) + "\n"


def to_srw(rows: Sequence[ExportRow], name: str) -> str:
    ratings = [{"query": query, "ratings": [{"docId": r.doc_id, "rating": str(r.gain)} for r in group]}
               for query, group in _by_query(rows).items()]
    return json.dumps({"name": name, "type": "IMPORT_JUDGMENT", "judgmentRatings": ratings}, ensure_ascii=False, indent=1) + "\n"


def to_jsonl(rows: Sequence[ExportRow]) -> str:
    return "".join(json.dumps({**asdict(r), "model": r.model}, ensure_ascii=False) + "\n" for r in rows)


LABEL_WRITERS: dict[str, Callable[[Sequence[ExportRow], str], str]] = {
    "qrels": lambda rows, _: to_qrels(rows), "csv": lambda rows, _: to_csv(rows), "quepid": lambda rows, _: to_quepid(rows),
    "rre": lambda rows, _: to_rre(rows), "srw": to_srw, "jsonl": lambda rows, _: to_jsonl(rows),
}


def run_trec(queries: Sequence[StoredQuery], tag: str) -> str:
    lines = []
    tag = trec_field(tag, "run tag", "run")
    for q in queries:
        n = len(q.hits)
        qid = trec_field(q.id, "query id", "run") if q.hits else q.id
        lines += [f"{qid} Q0 {trec_field(h.doc_id, f'doc id (query {qid})', 'run')} {h.rank} {n - h.rank + 1} {tag}\n"
                  for h in q.hits]
    return "".join(lines)


def run_csv(queries: Sequence[StoredQuery], tag: str) -> str:
    return csv_text(("query_id", "query", "doc_id", "rank", "score", "title"),
                ((q.id, q.text, h.doc_id, h.rank, h.score, h.title) for q in queries for h in q.hits))


def run_jsonl(queries: Sequence[StoredQuery], tag: str) -> str:
    return "".join(json.dumps({"run": tag, "query_id": q.id, "query": q.text, "hits": [h.to_json() for h in q.hits]},
                              ensure_ascii=False) + "\n" for q in queries)


RUN_WRITERS: dict[str, Callable[[Sequence[StoredQuery], str], str]] = {"trec": run_trec, "csv": run_csv, "jsonl": run_jsonl}


def comparison_csv(c: Any) -> str:
    """Per-query metric values of every compared run (`compare --csv`): one row per query, one column per run and metric."""
    cols = [(side, m) for side in c.sides for m in c.metric_names]
    return csv_text(("query_id", "query", "segment", "count", *(f"{side.name}:{m}" for side, m in cols)),
                    ((q.id, q.text, q.segment, q.count, *(float(side.values[m][i]) for side, m in cols))
                     for i, q in enumerate(c.queries)))
