"""Property tests over arbitrary strings for the code that reads user and catalog text: every input ends (a time
bound per example), and ends either in a result or in the one user-facing error — never a hang or a crash."""

from __future__ import annotations

import json
import re
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import wraps
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalharness.config import DEFAULT_PRIVACY_PATTERNS
from evalharness.errors import EvalHarnessError
from evalharness.guidelines.files import guideline_hash, parse_guideline, render_guideline
from evalharness.guidelines.offline import OfflineGuidelineWriter, Vocabulary, extract_requirements
from evalharness.judges.base import JudgeRequest
from evalharness.judges.offline import OfflineJudge
from evalharness.labels.formats_import import read_query_ids
from evalharness.labels.formats_read import READERS, read_labels
from evalharness.models import IMPORTANCE, Guideline, Hit, Query, Requirement
from evalharness.querylog.aggregate import QueryCounts, is_card_number, is_product_code
from evalharness.querylog.querysets import read_query_set
from evalharness.textnorm import normalize_query, slugify

HANG_S = 20  # an example still running after this is a hang (the deadline below catches what is merely slow)
PROPERTY = settings(deadline=timedelta(seconds=10), max_examples=150, suppress_health_check=[HealthCheck.too_slow])

# text as users and catalogs write it: any code point but lone surrogates, weighted towards words, digits, sizes
words = st.sampled_from(["34", "1/34", "size", "m", "40", "without", "not", "red", "shoes", "dres", "faucet", "brass",
                         "women's", "t-shirt", " ", "\t", "\n", "-", "'", "&", "ﬁ", "İ", "ß", "\u00a0", "\u200b"])
any_text = st.one_of(st.text(st.characters(exclude_categories=("Cs",)), max_size=200),
                     st.lists(words, max_size=60).map(" ".join))


def bounded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Fail (instead of hanging the suite) when one example runs longer than HANG_S."""
    @wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _alarm(HANG_S):
            return fn(*args, **kwargs)
    return run


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def hang(signum: int, frame: Any) -> None:
        raise TimeoutError(f"one example ran longer than {seconds} s: a hang")
    previous = signal.signal(signal.SIGALRM, hang)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


VOCAB = Vocabulary({"34": ("size", "34"), "m": ("size", "m"), "40 eu": ("size", "40 eu"), "faucet": ("product_type", "faucet"),
                    "faucets": ("product_type", "faucet"), "dress": ("product_type", "dress"), "red": ("color", "red"),
                    "brass": ("material", "brass"), "solid brass": ("material", "brass"), "acme": ("brand", "acme"),
                    "t-shirt": ("product_type", "t-shirt"), "women": ("audience", "women")})


@PROPERTY
@given(any_text)
@bounded
def test_normalized_queries_are_stable_and_slugs_safe(text: str) -> None:
    norm = normalize_query(text)
    assert normalize_query(norm) == norm
    assert norm == norm.strip() and "  " not in norm
    slug = slugify(text)
    assert re.fullmatch(r"[a-z0-9-]+-[0-9a-f]{6}", slug) and len(slug) <= 67


@PROPERTY
@given(any_text)
@bounded
def test_the_offline_writer_ends_on_any_query(text: str) -> None:
    reqs = extract_requirements(text, VOCAB)
    assert len({r.attribute for r in reqs}) == len(reqs)
    assert all(r.importance in IMPORTANCE and r.value for r in reqs)
    g = OfflineGuidelineWriter(VOCAB).write(text)
    assert g.requirements == tuple(reqs) and g.text


def test_a_bare_size_number_does_not_loop() -> None:
    """The query that looped forever: a bare number the vocabulary knows only as a size."""
    with _alarm(HANG_S):
        two = Vocabulary({"34": ("size", "34"), "faucet": ("product_type", "faucet")})
        assert [(r.attribute, r.value) for r in extract_requirements("34 faucet", two)] == [("product_type", "faucet")]
        assert extract_requirements("1/34 faucet drain without overflow solid brass", VOCAB)[0].value == "faucet"
        assert ("size", "34") in {(r.attribute, r.value) for r in extract_requirements("faucet size 34", two)}


def test_the_offline_writer_is_linear_in_the_query_length() -> None:
    """A long query costs about its length: the vocabulary's types are indexed once, not scanned per word."""
    big = Vocabulary({f"type{i:05d}x": ("product_type", f"type{i:05d}x") for i in range(20_000)})
    query = " ".join(f"wqrd{i}" for i in range(5_000))
    with _alarm(HANG_S):
        reqs = extract_requirements(query, big)
        assert reqs[0].attribute == "keywords"
        assert big.close_type("type00042") == "type00042x"  # one edit away, found through the index


hits = st.builds(Hit, doc_id=st.text(min_size=1, max_size=20), rank=st.integers(1, 100), score=st.floats(allow_nan=False),
                 title=any_text, description=any_text, brand=any_text, color=any_text, category=any_text,
                 price=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
                 attributes=st.dictionaries(st.sampled_from(["size", "material", "audience", "product_type", "x"]),
                                            st.one_of(any_text, st.lists(any_text, max_size=3)), max_size=4))
requirements = st.builds(Requirement, attribute=st.sampled_from(["product_type", "keywords", "brand", "color", "material",
                                                                  "audience", "size", "other"]),
                         value=any_text.filter(str.strip), importance=st.sampled_from(IMPORTANCE))


@PROPERTY
@given(any_text, st.lists(requirements, max_size=5), hits)
@bounded
def test_the_offline_judge_labels_any_pair(query: str, reqs: list[Requirement], hit: Hit) -> None:
    judge = OfflineJudge()
    g = Guideline(query, tuple(reqs), "text", "offline")
    j = judge.judge_sync(JudgeRequest(Query("q", query or "q"), g, hit))
    assert j.label in ("irrelevant", "substitute", "relevant") and j.rationale


def _tmp_file(name: str, data: bytes) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="eh-prop-"))
    path = folder / name
    path.write_bytes(data)
    return path


file_text = st.one_of(any_text, st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
                      st.lists(st.sampled_from(["---", "query: x", "requirements:", "- attribute: a", "  value: v",
                                                "  importance: must", "  importance: maybe", "requirements: 5", "[", ":",
                                                "query,docid,rating", "q,d,2", "\"", ",", "1 0 d 2", "{}", "[]", "{\"a\":"]),
                               max_size=12).map("\n".join))


@PROPERTY
@given(file_text)
@bounded
def test_guideline_files_parse_or_name_the_problem(text: str) -> None:
    path = _tmp_file("g.md", text.encode("utf-8", errors="surrogatepass"))
    try:
        g = parse_guideline(path)
    except EvalHarnessError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc).strip()
    else:
        assert g.hash == guideline_hash(g.query, g.requirements, g.text)


@pytest.mark.parametrize("front", ["requirements: 5", "requirements: abc", "query: [1, 2]", "- a list", "&a [*a]",
                                   "requirements:\n- attribute: a\n  value: [1]", "requirements:\n- {attribute: a, value: v, importance: [x]}"])
def test_odd_front_matter_is_named(tmp_path: Path, front: str) -> None:
    path = tmp_path / "g.md"
    path.write_text(f"---\nquery: x\n{front}\n---\ntext\n" if not front.startswith(("-", "&")) else f"---\n{front}\n---\n")
    with pytest.raises(EvalHarnessError, match=re.escape(str(path))):
        parse_guideline(path)


printable = st.text(st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=80).filter(str.strip)


@PROPERTY
@given(printable, st.lists(st.builds(Requirement, printable, printable, st.sampled_from(IMPORTANCE)), max_size=4), printable)
@bounded
def test_a_written_guideline_reads_back_with_the_same_hash(query: str, reqs: list[Requirement], text: str) -> None:
    g = Guideline(query, tuple(reqs), text, "offline", created="2026-12-07T00:00:00+00:00")
    path = _tmp_file("g.md", render_guideline(g).encode("utf-8"))
    back = parse_guideline(path)
    assert (back.query, back.requirements, back.text) == (query, tuple(reqs), text.strip())
    later = _tmp_file("g.md", render_guideline(Guideline(query, tuple(reqs), text, "offline", created="2027")).encode("utf-8"))
    assert parse_guideline(later).hash == back.hash  # `created:` is not what the judge reads


@PROPERTY
@given(any_text)
@bounded
def test_the_privacy_scrub_takes_any_query(text: str) -> None:
    counts = QueryCounts(privacy={n: re.compile(p, re.IGNORECASE) for n, p in DEFAULT_PRIVACY_PATTERNS.items()})
    counts.add(text)
    counts.add(f"{text} 4111 1111 1111 1111")
    assert counts.rows == 2 and sum(counts.dropped.values()) >= 1  # the card number is never kept
    assert all("4111 1111 1111 1111" not in q for q in counts.totals)
    is_card_number(text)
    is_product_code(text)


@PROPERTY
@given(st.sampled_from(sorted(READERS)), file_text)
@bounded
def test_label_files_read_or_name_the_problem(fmt: str, text: str) -> None:
    path = _tmp_file({"csv": "l.csv", "jsonl": "l.jsonl", "qrels": "l.qrels"}.get(fmt, "l.json"), text.encode("utf-8"))
    try:
        rows = read_labels(path, fmt)
    except EvalHarnessError as exc:
        assert "\n" not in str(exc).strip()
    else:
        assert all(r.doc_id and isinstance(r.value, str) for r in rows)


@PROPERTY
@given(st.sampled_from(["q.csv", "q.jsonl", "topics.txt"]), file_text)
@bounded
def test_query_files_read_or_name_the_problem(name: str, text: str) -> None:
    path = _tmp_file(name, text.encode("utf-8"))
    for read in (read_query_ids, read_query_set) if name.endswith(".csv") else (read_query_ids,):
        try:
            result = read(path)
        except EvalHarnessError as exc:
            assert "\n" not in str(exc).strip()
        else:
            assert result is not None


def test_property_tests_use_the_documented_bound() -> None:
    assert PROPERTY.deadline == timedelta(seconds=10)  # per example; HANG_S stops a true hang
    json.dumps({"hang_s": HANG_S})


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])
