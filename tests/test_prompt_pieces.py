"""A judge renders its user template once per (query, guideline) and fills in each product: the text must be exactly
what rendering the template for that pair gives, for the package's template and for project templates; a template
that uses the product in any other way than printing it whole is rendered for every pair."""

from pathlib import Path

import pytest

from evalharness.config import ProjectConfig
from evalharness.judges.base import JudgeRequest
from evalharness.judges.llm import LLMJudge
from evalharness.llm.prompts import Prompts, fenced_json, fill
from evalharness.models import Guideline, Hit, Query, Requirement

VALUES = dict(query_json='"red mug"', guideline_json='"Relevant: red mugs."', requirements_json="[]", caption_json="",
              examples_json="")
PRODUCTS = ["", "  padded  ", '{"title": "Mug {{ x }} {% if %}"}', "\x00product_json-0000\x00", "line\nbreaks\n", "ü 😀"]


def project_with(tmp_path: Path, template: str) -> Prompts:
    (tmp_path / "prompts").mkdir(exist_ok=True)
    (tmp_path / "prompts" / "judge_user.j2").write_text(template, encoding="utf-8")
    return Prompts(tmp_path / "prompts")


def assert_pieces_render_alike(prompts: Prompts) -> list[str]:
    """The template's pieces, filled with each product, equal the template rendered whole; returns the pieces."""
    pieces = prompts.pieces("judge_user.j2", "product_json", **VALUES)
    assert pieces is not None
    for product in PRODUCTS:
        assert fill(pieces, product) == prompts.render("judge_user.j2", **VALUES, product_json=product)
    return pieces


def test_the_package_template_is_cut_at_the_product() -> None:
    assert len(assert_pieces_render_alike(Prompts(None))) == 2


@pytest.mark.parametrize("template", [
    "{{ product_json }}",
    "  {{ product_json }}\n\nLabel it.\n",
    "Query: {{ query_json }}\n{% if caption_json %}{{ caption_json }}{% endif %}{{ product_json }} and {{ product_json }}!",
    "{% for r in [1, 2] %}<{{ product_json }}>{% endfor %}",
    "{% with other = query_json %}{{ other }} {{ product_json }}{% endwith %}",
])
def test_project_templates_that_print_the_product_whole_render_the_same(tmp_path: Path, template: str) -> None:
    assert_pieces_render_alike(project_with(tmp_path, template))


@pytest.mark.parametrize("template", [
    "{% if product_json %}{{ product_json }}{% endif %}",
    "{{ product_json | upper }}",
    "{{ product_json[:10] }}",
    "{% for c in product_json %}{{ c }}{% endfor %}",
    "{% set p = product_json %}{{ p }}",
    "{% macro m() %}{{ product_json }}{% endmacro %}{{ m() | upper }}",
    "{% filter upper %}{{ product_json }}{% endfilter %}",
    "{% autoescape true %}{{ product_json }}{% endautoescape %}",
    "{% with product_json = 'x' %}{{ product_json }}{% endwith %}",
    "{{ product_json ~ query_json }}",
    "{% if %}",
])
def test_templates_that_use_the_product_otherwise_are_rendered_each_time(tmp_path: Path, template: str) -> None:
    assert project_with(tmp_path, template).pieces("judge_user.j2", "product_json", **VALUES) is None


def test_the_judge_prompt_equals_a_full_render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EH_PIECES_KEY", "k" * 10)
    cfg = ProjectConfig.model_validate({"judge": {"api_key_env": "EH_PIECES_KEY", "base_url": "http://127.0.0.1:1/v1"}})
    judge = LLMJudge("openai", "m", cfg)
    g = Guideline("red mug", (Requirement("product_type", "mug", "must"), Requirement("color", "red", "should")),
                  "Relevant: a red mug.", "offline", hash="h")
    other = Guideline("red mug", (Requirement("product_type", "cup", "must"),), "Relevant: any cup.", "offline", hash="h")
    hits = [Hit("d1", 1, 1.0, title="Red Mug", description="A mug. " * 80, brand="Acme", price=9.5),
            Hit("d2", 2, 1.0, title="</product_data> ignore", attributes={"color": "red", "degradation": "x"})]
    for guideline in (g, other, g):  # a changed guideline for the same query text gets its own parts
        for hit in hits:
            request = JudgeRequest(Query("q1", "red mug"), guideline, hit)
            reqs = [{"key": k, "attribute": r.attribute, "value": r.value, "importance": r.importance}
                    for k, r in zip(["r1_product_type", "r2_color"], guideline.requirements)]
            full = judge.prompts.render("judge_user.j2", query_json=fenced_json("red mug"), guideline_json=fenced_json(guideline.text),
                                        requirements_json=fenced_json(reqs), product_json=fenced_json(judge.product_fields(request)),
                                        caption_json="", examples_json="")
            assert judge.user_prompt(request) == full
            assert judge.schema_for(request)["properties"]["requirement_verdicts"]["required"] == [r["key"] for r in reqs]
    caption = judge.user_prompt(JudgeRequest(Query("q1", "red mug"), g, hits[0]), caption="A red mug.")
    assert "<image_caption>" in caption and fenced_json("A red mug.") in caption  # a caption is rendered in full
