"""Label schemes: built-ins, [labels] config, gains in the qrels, mapping between schemes, the offline judge."""

from __future__ import annotations

import pytest

from evalharness.config import ProjectConfig
from evalharness.errors import EvalHarnessError
from evalharness.judges.answer import judgment_schema, parse_judgment
from evalharness.labels.schemes import BUILTIN, map_label, scheme_named, scheme_of
from evalharness.models import Requirement
from evalharness.pipeline.run import graded


def test_builtin_schemes_names_gains_and_colours() -> None:
    three = scheme_named("three-level")
    assert three.names == ("irrelevant", "substitute", "relevant") and three.gains == {"irrelevant": 0, "substitute": 1, "relevant": 2}
    assert scheme_named("esci").names == ("exact", "substitute", "complement", "irrelevant")
    assert scheme_named("graded-0-3").gains == {"irrelevant": 0, "somewhat": 1, "mostly": 2, "perfectly": 3}
    assert scheme_named("binary").gains == {"irrelevant": 0, "relevant": 1}
    for scheme in BUILTIN.values():
        assert len(set(scheme.colours.values())) == len(scheme.names)  # one colour per label
        assert all(scheme.definitions.values())
    with pytest.raises(EvalHarnessError, match="unknown label scheme"):
        scheme_named("five-star")


def test_config_selects_scheme_and_overrides_gains() -> None:
    assert scheme_of(ProjectConfig()).name == "three-level"
    esci = scheme_of(ProjectConfig.model_validate({"labels": {"scheme": "esci", "gains": {"exact": 100, "substitute": 10,
                                                                                          "complement": 1}}}))
    assert esci.gains == {"exact": 100, "substitute": 10, "complement": 1, "irrelevant": 0}
    assert graded({"d1": ("exact", ""), "d2": ("complement", "")}, esci) == {"d1": 100, "d2": 1}
    # gains do not shape an answer: they are not part of the fingerprint in the judge id
    assert esci.fingerprint == scheme_named("esci").fingerprint != scheme_named("three-level").fingerprint


@pytest.mark.parametrize("labels, fragment", [
    ({"scheme": "esci", "gains": {"exact": 0.5}}, "non-negative integer"),
    ({"scheme": "esci", "gains": {"relevant": 2}}, "not labels of 'esci'"),
    ({"scheme": "custom"}, "at least two"),
    ({"scheme": "binary", "custom": [{"name": "a", "gain": 0, "definition": "x"}]}, "need scheme"),
    ({"scheme": "stars"}, "labels.scheme"),
])
def test_bad_labels_config_is_one_line(labels: dict, fragment: str, tmp_path) -> None:
    from evalharness.config import load_model

    with pytest.raises(EvalHarnessError, match=fragment) as err:
        load_model(tmp_path / "evalharness.toml", ProjectConfig, {"labels": labels})
    assert "\n" not in str(err.value) and "evalharness.toml" in str(err.value)


def test_custom_scheme_with_default_colours_and_anchors() -> None:
    cfg = ProjectConfig.model_validate({"labels": {"scheme": "custom", "custom": [
        {"name": "bad", "gain": 0, "definition": "useless"},
        {"name": "ok", "gain": 1, "definition": "usable"},
        {"name": "great", "gain": 4, "definition": "exactly it", "colour": "#123456"}]}})
    s = scheme_of(cfg)
    assert s.names == ("bad", "ok", "great") and s.colours["great"] == "#123456" and s.colours["bad"] != s.colours["ok"]
    assert [s.anchor(n) for n in s.names] == ["irrelevant", "substitute", "relevant"]
    assert map_label("great", s, scheme_named("esci")) == "exact"
    assert map_label("relevant", scheme_named("three-level"), s) == "great"


def test_mapping_between_schemes() -> None:
    three, esci, graded03, binary = (scheme_named(n) for n in ("three-level", "esci", "graded-0-3", "binary"))
    # the common ESCI mapping: E -> relevant, S -> substitute, C and I -> irrelevant
    assert [map_label(x, esci, three) for x in esci.names] == ["relevant", "substitute", "irrelevant", "irrelevant"]
    assert [map_label(x, three, esci) for x in three.names] == ["irrelevant", "substitute", "exact"]
    assert [map_label(x, three, graded03) for x in three.names] == ["irrelevant", "mostly", "perfectly"]
    assert [map_label(x, three, binary) for x in three.names] == ["irrelevant", "irrelevant", "relevant"]
    assert map_label("somewhat", graded03, three) == "substitute"


@pytest.mark.parametrize("reasoning, order", [("before", ["rationale", "requirement_verdicts", "label"]),
                                              ("after", ["label", "rationale", "requirement_verdicts"]),
                                              ("none", ["requirement_verdicts", "label"])])
def test_judgment_schema_follows_scheme_and_reasoning(reasoning: str, order: list[str]) -> None:
    esci = scheme_named("esci")
    schema = judgment_schema(esci, reasoning, (Requirement("color", "red", "must"),))
    assert list(schema["properties"]) == order == schema["required"]
    assert [k for k in order if k in judgment_schema(esci, reasoning)["properties"]] == [k for k in order if k != "requirement_verdicts"]
    assert schema["properties"]["label"]["enum"] == ["exact", "substitute", "complement", "irrelevant"]
    assert parse_judgment('{"rationale": "fits", "label": "complement"}', esci, reasoning)[0] == "complement"


def test_offline_judge_answers_in_the_scheme() -> None:
    from evalharness.judges import make_judge
    from evalharness.judges.base import JudgeRequest
    from evalharness.models import Guideline, Hit, Query, Requirement

    g = Guideline("red sneakers", (Requirement("product_type", "sneakers", "must"), Requirement("color", "red", "should")),
                  "text", "offline", hash="h")
    hits = [Hit("a", 1, 1.0, title="Red Sneakers", color="red", attributes={"product_type": "sneakers"}),
            Hit("b", 2, 1.0, title="Blue Sneakers", color="blue", attributes={"product_type": "sneakers"}),
            Hit("c", 3, 1.0, title="Red Lamp", color="red", attributes={"product_type": "lamp"})]
    three = make_judge("offline", ProjectConfig())
    esci = make_judge("offline", ProjectConfig.model_validate({"labels": {"scheme": "esci"}}))
    labels = [[j.judge_sync(JudgeRequest(Query("q", g.query), g, h)).label for h in hits] for j in (three, esci)]  # type: ignore[attr-defined]
    assert labels == [["relevant", "substitute", "irrelevant"], ["exact", "substitute", "irrelevant"]]
    assert three.judge_id == "offline:rules-v4:text:esr3" and esci.judge_id != three.judge_id  # the scheme is in the id


def test_labels_resolve_through_case_spacing_and_declared_synonyms() -> None:
    three, esci = scheme_named("three-level"), scheme_named("esci")
    assert [three.resolve(x) for x in ("Relevant", " not_relevant. ", "Partially-Relevant", "EXACT MATCH")] == [
        "relevant", "irrelevant", "substitute", "relevant"]
    assert [esci.resolve(x) for x in ("E", "s", "Complementary", "relevant", True, None)] == [
        "exact", "substitute", "complement", None, None, None]  # 'relevant' is no ESCI label nor synonym
    assert scheme_named("graded-0-3").resolve(3) == "perfectly" and scheme_named("binary").resolve("yes") == "relevant"
    cfg = ProjectConfig.model_validate({"labels": {"scheme": "custom", "custom": [
        {"name": "bad", "gain": 0, "definition": "wrong", "synonyms": ["no good", "meh"]},
        {"name": "good", "gain": 1, "definition": "right", "synonyms": ["fine", "meh"]}]}})
    custom = scheme_of(cfg)
    assert custom.resolve("No Good") == "bad" and custom.resolve("FINE") == "good"
    assert custom.resolve("meh") is None  # a synonym two labels share names neither
    assert custom.fingerprint == scheme_of(ProjectConfig.model_validate({"labels": {"scheme": "custom", "custom": [
        {"name": "bad", "gain": 0, "definition": "wrong"}, {"name": "good", "gain": 1, "definition": "right"}]}})).fingerprint
