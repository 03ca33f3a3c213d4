"""The offline judge's rule: wrong type -> irrelevant; a 'should' missed -> substitute; all met -> relevant."""

from evalharness.judges.base import JudgeRequest
from evalharness.judges.offline import OfflineJudge
from evalharness.models import Guideline, Hit, Query, Requirement

GUIDE = Guideline("red leather sneakers", (Requirement("product_type", "sneakers", "must"), Requirement("color", "red", "should"),
                                           Requirement("material", "leather", "should")), "", "offline", hash="h")


def judge(hit: Hit, guideline: Guideline = GUIDE):
    return OfflineJudge().judge_sync(JudgeRequest(Query("q", guideline.query), guideline, hit))


def hit(**kw) -> Hit:
    base = {"doc_id": "d", "rank": 1, "score": 1.0, "title": "", "color": "red", "attributes": {"product_type": "sneakers", "material": "leather"}}
    base.update(kw)
    return Hit(**base)


def test_all_requirements_met_is_relevant() -> None:
    j = judge(hit())
    assert j.label == "relevant" and "product_type 'sneakers'" in j.rationale


def test_wrong_type_is_irrelevant_and_names_the_requirement() -> None:
    j = judge(hit(attributes={"product_type": "watch", "material": "leather"}))
    assert j.label == "irrelevant" and "product_type is 'watch'" in j.rationale and "'sneakers' (must)" in j.rationale


def test_missed_should_is_substitute() -> None:
    j = judge(hit(color="blue"))
    assert j.label == "substitute" and "color is 'blue'" in j.rationale


def test_attribute_found_in_title_when_not_structured() -> None:
    j = judge(Hit("d", 1, 1.0, title="Red Leather Sneakers by Kestrel", attributes={}))
    assert j.label == "relevant"


def test_keyword_queries() -> None:
    g = Guideline("garden gnome", (Requirement("keywords", "garden gnome", "must"),), "", "offline", hash="k")
    assert judge(Hit("d", 1, 1.0, title="Garden Gnome, ceramic"), g).label == "relevant"
    assert judge(Hit("d", 1, 1.0, title="Garden hose"), g).label == "substitute"
    assert judge(Hit("d", 1, 1.0, title="Desk lamp"), g).label == "irrelevant"
