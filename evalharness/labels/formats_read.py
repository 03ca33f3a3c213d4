"""Readers for the judgment files other tools write (see FORMATS.md): each yields RawLabel rows.

A row names its query by text or by id (qrels, `query_id` CSVs: the ids are resolved against a query
file later), the document, the raw label value (mapped onto the project's labels later) and where it
came from (`FILE:row N`) so every error can point at the line to fix.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalharness.errors import EvalHarnessError

QUERY_COLS = ("query", "query_text", "keywords", "search_term", "q")
QUERY_ID_COLS = ("query_id", "qid", "topic", "topic_id")
DOC_COLS = ("doc_id", "docid", "product_id", "document_id", "doc", "id")
LABEL_COLS = ("label", "rating", "grade", "relevance", "judgment", "judgement", "esci_label", "gain")
NOTE_COLS = ("rationale", "note", "explanation", "comment")


@dataclass(frozen=True)
class RawLabel:
    """One label as read from a file, before query ids are resolved and values are mapped."""

    query: str | None
    query_id: str | None
    doc_id: str
    value: str
    note: str
    where: str


STDIN = Path("<stdin>")  # what `-` names where a file is read
_stdin: list[str] = []


def input_path(arg: str | Path, resolve: Callable[[Path], Path]) -> Path:
    """The file a command-line argument names: `-` is standard input, anything else resolved as the project does."""
    return STDIN if str(arg) == "-" else resolve(Path(arg))


def read_text(path: Path) -> str:
    """A file's text (UTF-8, BOM dropped), or standard input's for STDIN; one line naming the file when unreadable."""
    if path == STDIN:  # read once: a reader and the format guess both look at it
        if not _stdin:
            _stdin.append(sys.stdin.read())
        return _stdin[0]
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise EvalHarnessError(f"cannot read {path}: {exc.strerror}; pass an existing file") from None
    except UnicodeDecodeError:
        raise EvalHarnessError(f"{path} is not UTF-8 text; save it as UTF-8 and import again") from None


def _json(path: Path) -> Any:
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise EvalHarnessError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); fix the file") from None


def _pick(header: list[str], names: tuple[str, ...]) -> str | None:
    lowered = {h.strip().lower(): h for h in header}
    return next((lowered[n] for n in names if n in lowered), None)


def read_csv(path: Path, column: str | None = None) -> Iterator[RawLabel]:
    """`query,doc_id,label` (or `query_id,...`; Quepid's `query,docid,rating`; Quepid book CSV with one column per rater)."""
    lines = read_text(path).splitlines()
    reader = csv.reader(lines)
    header = next(reader, None)
    if not header:
        raise EvalHarnessError(f"{path}: empty file; a CSV needs a header such as query,doc_id,label")
    qcol, qidcol, dcol = _pick(header, QUERY_COLS), _pick(header, QUERY_ID_COLS), _pick(header, DOC_COLS)
    ncol = _pick(header, NOTE_COLS)
    if column is not None:
        if column not in header:
            raise EvalHarnessError(f"{path}: no column '{column}' (columns: {', '.join(header)}); pass --column with one of them")
        lcol: str | None = column
    else:
        lcol = _pick(header, LABEL_COLS)
        if lcol is None:
            rest = [h for h in header if h not in (qcol, qidcol, dcol, ncol, "source_grade")]
            if len(rest) > 1:
                raise EvalHarnessError(f"{path}: several rating columns ({', '.join(rest)}); pass --column NAME to pick one rater")
            lcol = rest[0] if rest else None
    if (qcol is None and qidcol is None) or dcol is None or lcol is None:
        raise EvalHarnessError(f"{path}: header {','.join(header)} needs a query (or query_id) column, a doc_id column and a "
                               "label column; e.g. query,doc_id,label")
    idx = {h: i for i, h in enumerate(header)}
    for n, row in enumerate(reader, 2):
        if not any(cell.strip() for cell in row):
            continue
        cells = row + [""] * (len(header) - len(row))
        if len(row) == 1 and qcol is not None:
            continue  # Quepid writes a query without ratings as a one-column row
        value = cells[idx[lcol]].strip()
        if not value:
            continue  # an empty cell: this rater did not rate the pair
        yield RawLabel(cells[idx[qcol]] if qcol else None, cells[idx[qidcol]].strip() if qidcol and not qcol else None,
                       cells[idx[dcol]].strip(), value, cells[idx[ncol]] if ncol else "", f"{path}:row {n}")


def read_qrels(path: Path) -> Iterator[RawLabel]:
    """TREC qrels: `qid 0 docid rating` (the second column is ignored)."""
    for n, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 4:
            raise EvalHarnessError(f"{path}:line {n}: a qrels line has 4 fields 'qid 0 docid rating', got {len(parts)}; fix the line")
        yield RawLabel(None, parts[0], parts[2], parts[3], "", f"{path}:line {n}")


def json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for each non-blank line of a JSON-lines file."""
    for n, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalHarnessError(f"{path}:line {n}: not valid JSON ({exc.msg}); fix or remove the line") from None


def read_jsonl(path: Path) -> Iterator[RawLabel]:
    """JSON lines with query (or query_id), doc_id and label; `rationale` is kept as the note."""
    for n, obj in json_lines(path):
        if not isinstance(obj, dict):
            raise EvalHarnessError(f"{path}:line {n}: each line must be a JSON object with query, doc_id and label")
        keys = list(obj)
        qk, qidk, dk, lk, nk = (_pick(keys, c) for c in (QUERY_COLS, QUERY_ID_COLS, DOC_COLS, LABEL_COLS, NOTE_COLS))
        if (qk is None and qidk is None) or dk is None or lk is None:
            raise EvalHarnessError(f"{path}:line {n}: needs query (or query_id), doc_id and label keys; found {', '.join(keys)}")
        yield RawLabel(str(obj[qk]) if qk else None, None if qk else str(obj[qidk]), str(obj[dk]), str(obj[lk]),
                       str(obj.get(nk) or "") if nk else "", f"{path}:line {n}")


def read_quepid(path: Path, rater: str | None = None) -> Iterator[RawLabel]:
    """Quepid: the book JSON (`query_doc_pairs` with `judgements`) or its CSV exports."""
    if path.suffix.lower() != ".json":
        yield from read_csv(path, rater)
        return
    data = _json(path)
    pairs = data.get("query_doc_pairs") if isinstance(data, dict) else None
    if not isinstance(pairs, list):
        raise EvalHarnessError(f"{path}: not a Quepid book (no 'query_doc_pairs' list); export the book as JSON from Quepid")
    for i, pair in enumerate(pairs, 1):
        where = f"{path}:query_doc_pairs[{i}]"
        query = pair.get("query_text") or pair.get("query")
        doc = pair.get("doc_id") or pair.get("docid")
        if not query or doc in (None, ""):
            raise EvalHarnessError(f"{where}: needs query_text and doc_id")
        for j in pair.get("judgements") or pair.get("judgments") or []:
            if j.get("unrateable") or j.get("judge_later") or j.get("rating") in (None, ""):
                continue
            who = str(j.get("user_email") or j.get("user_id") or "")
            if rater is not None and who != rater:
                continue
            yield RawLabel(str(query), None, str(doc), str(j["rating"]), str(j.get("explanation") or ""), where)


def read_rre(path: Path) -> Iterator[RawLabel]:
    """RRE ratings as RRE reads them: `topics` -> `query_groups` -> `queries`, or `query_groups` or a flat `queries`
    list at the top (Quepid's RRE export); `relevant_documents` on a group or a query, as doc -> {"gain"|"rating": N},
    doc -> N, or gain -> [doc ids] (Quepid's form). A query's text is its `$query` placeholder (or the one
    `query_placeholder` names, or its only placeholder); an inline template is expanded with its placeholders."""
    data = _json(path)
    if not isinstance(data, dict):
        raise EvalHarnessError(f"{path}: not an RRE ratings file (a JSON object with 'topics', 'query_groups' or 'queries')")
    placeholder = data.get("query_placeholder")
    if isinstance(data.get("topics"), list):
        groups = [(f"topics[{t}].query_groups[{g}]", group, topic.get("query_placeholder") or placeholder)
                  for t, topic in enumerate(data["topics"], 1) for g, group in enumerate(topic.get("query_groups") or [], 1)]
    elif isinstance(data.get("query_groups"), list):
        groups = [(f"query_groups[{g}]", group, placeholder) for g, group in enumerate(data["query_groups"], 1)]
    elif isinstance(data.get("queries"), list):
        groups = [("", {"queries": data["queries"]}, placeholder)]
    else:
        raise EvalHarnessError(f"{path}: not an RRE ratings file (no 'topics', 'query_groups' or 'queries' list)")
    template = data.get("template")
    for prefix, group, name in groups:
        group_docs = _rre_ratings(group.get("relevant_documents"), f"{path}:{prefix}")
        for qn, q in enumerate(group.get("queries") or [], 1):
            where = f"{path}:{prefix + '.' if prefix else ''}queries[{qn}]"
            if not isinstance(q, dict):
                raise EvalHarnessError(f"{where}: a query is an object with placeholders (and a template)")
            text = _rre_text(q, group.get("query_placeholder") or name, q.get("template") or group.get("template") or template,
                             where)
            for doc, gain in {**group_docs, **_rre_ratings(q.get("relevant_documents"), where)}.items():
                yield RawLabel(text, None, doc, gain, "", where)


def _rre_ratings(docs: Any, where: str) -> dict[str, str]:
    """doc id -> raw gain from a `relevant_documents` object in any of RRE's forms."""
    if docs is None:
        return {}
    if not isinstance(docs, dict):
        raise EvalHarnessError(f"{where}.relevant_documents: expected an object (doc -> {{\"gain\": N}} or gain -> [doc ids])")
    out: dict[str, str] = {}
    for key, value in docs.items():
        if isinstance(value, list):  # gain -> [doc ids]
            out.update((str(doc), str(key)) for doc in value)
        elif isinstance(value, dict):
            gain = value.get("gain", value.get("rating"))
            if gain is None:
                raise EvalHarnessError(f"{where}.relevant_documents[{key!r}]: no 'gain' (or 'rating'); add one")
            out[str(key)] = str(gain)
        else:
            out[str(key)] = str(value)
    return out


def _rre_text(q: dict[str, Any], placeholder: Any, template: Any, where: str) -> str:
    """The query text of an RRE query: the placeholder holding it, or an inline template expanded."""
    values = q.get("placeholders") or {}
    if not isinstance(values, dict):
        raise EvalHarnessError(f"{where}.placeholders: expected an object such as {{\"$query\": \"red shoes\"}}")
    for key in ([placeholder] if placeholder else []) + ["$query"]:
        if str(values.get(key) or "").strip():
            return str(values[key])
    if placeholder:
        raise EvalHarnessError(f"{where}: no placeholder {placeholder!r} (query_placeholder); add it to placeholders")
    if len(values) == 1:
        return str(next(iter(values.values())))
    if isinstance(template, str) and values and not template.strip().endswith(".json"):
        text = template
        for key in sorted(values, key=len, reverse=True):  # $query_type before $query
            text = text.replace(str(key), str(values[key]))
        return text
    if isinstance(q.get("query"), str) and q["query"].strip():
        return q["query"]
    names = ", ".join(values) or "none"
    raise EvalHarnessError(f"{where}: cannot tell the query text (placeholders: {names}; template {template!r} is a file); "
                           "name the query's placeholder $query or set \"query_placeholder\" in the file")


def read_srw(path: Path) -> Iterator[RawLabel]:
    """OpenSearch Search Relevance Workbench judgments: judgmentRatings -> ratings (docId, rating)."""
    data = _json(path)
    ratings = data.get("judgmentRatings") if isinstance(data, dict) else data if isinstance(data, list) else None
    if not isinstance(ratings, list):
        raise EvalHarnessError(f"{path}: not an SRW judgment file (no 'judgmentRatings' list)")
    for i, entry in enumerate(ratings, 1):
        where = f"{path}:judgmentRatings[{i}]"
        query = entry.get("query")
        if not query:
            raise EvalHarnessError(f"{where}: needs 'query'")
        for j, r in enumerate(entry.get("ratings") or [], 1):
            row = f"{where}.ratings[{j}]"
            if not isinstance(r, dict) or r.get("docId") in (None, ""):
                raise EvalHarnessError(f"{row} (rating row {j} of query {query!r}) has no docId; add the document id or remove the row")
            if r.get("rating") in (None, ""):
                raise EvalHarnessError(f"{row} (rating row {j} of query {query!r}) has no rating; add it or remove the row")
            yield RawLabel(str(query), None, str(r["docId"]), str(r["rating"]), "", row)


READERS: dict[str, Callable[..., Iterator[RawLabel]]] = {
    "csv": read_csv, "qrels": read_qrels, "jsonl": read_jsonl, "quepid": read_quepid, "rre": read_rre, "srw": read_srw,
}


def guess_format(path: Path) -> str:
    """The format a file's name suggests (used when --format is not given)."""
    suffix = path.suffix.lower()
    if suffix in (".qrels", ".txt") or path.name.startswith("qrels"):
        return "qrels"
    if suffix == ".jsonl":
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    if suffix == ".json":
        data = _json(path)
        if isinstance(data, dict):
            if "query_doc_pairs" in data:
                return "quepid"
            if "topics" in data or "query_groups" in data or "queries" in data:
                return "rre"
            if "judgmentRatings" in data:
                return "srw"
    if path == STDIN:
        return _sniff(read_text(path))
    raise EvalHarnessError(f"cannot tell the format of {path}; pass --format {'|'.join(READERS)}")


def _sniff(text: str) -> str:
    """The format of standard input, from its content: a JSON object, JSON lines, qrels lines or a CSV header."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            return "jsonl"
        for key, name in (("query_doc_pairs", "quepid"), ("judgmentRatings", "srw"), ("topics", "rre"),
                          ("query_groups", "rre"), ("queries", "rre")):
            if isinstance(data, dict) and key in data:
                return name
        return "jsonl"
    if "," not in first and len(first.split()) == 4:
        return "qrels"
    if "," in first:
        return "csv"
    raise EvalHarnessError(f"cannot tell the format of {STDIN}; pass --format {'|'.join(READERS)}")


def read_labels(path: Path, fmt: str | None, column: str | None = None) -> list[RawLabel]:
    """All rows of a label file in the given (or guessed) format."""
    name = fmt or guess_format(path)
    if name not in READERS:
        raise EvalHarnessError(f"unknown label format '{name}' for {path}; use --format {'|'.join(READERS)}")
    if column is not None and name in ("csv", "quepid"):
        return list(READERS[name](path, column))
    return list(READERS[name](path))
