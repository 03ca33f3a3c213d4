"""Benchmark: how long the default judge prompt is, per label scheme and reasoning mode.

No tokenizer for these models can be installed offline here, so tokens are estimated as characters / 4 (the rule
`run --dry-run` uses; English prose runs ~4 characters per token in the GPT-4o and Claude tokenizers). The figure
to watch is the change between prompt versions, not the absolute count. Pairs: the repository's guidelines,
each with 5 demo catalog products (seeded).
Usage: python bench/prompt_tokens.py [--pairs-per-query 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs-per-query", type=int, default=5)
    args = ap.parse_args()
    import os
    import tempfile

    from evalharness.catalog.products import iter_products, product_to_hit
    from evalharness.config import ProjectConfig
    from evalharness.guidelines.files import parse_guideline
    from evalharness.judges.base import JudgeRequest
    from evalharness.judges.llm import LLMJudge
    from evalharness.models import Query
    from evalharness.sample import ensure_demo_catalog

    catalog = ensure_demo_catalog(Path(tempfile.gettempdir()) / "evalharness-bench-demo")
    products = list(iter_products(catalog.products))
    guidelines = [parse_guideline(p) for p in sorted((REPO / "guidelines").glob("*.md")) if p.name != "README.md"]
    rng = random.Random(7)
    requests = [JudgeRequest(Query(f"q{i}", g.query), g, product_to_hit(p, 1, 1.0))
                for i, g in enumerate(guidelines) for p in rng.sample(products, args.pairs_per_query)]
    os.environ.setdefault("EH_BENCH_KEY", "not-used-no-call-is-made")
    rows = {}
    for scheme in ("three-level", "esci", "graded-0-3", "binary"):
        for reasoning in ("before", "after", "none"):
            cfg = ProjectConfig.model_validate({"labels": {"scheme": scheme},
                                                "judge": {"reasoning": reasoning, "api_key_env": "EH_BENCH_KEY"}})
            judge = LLMJudge("openai", "gpt-4o-mini", cfg)
            users = [len(judge.user_prompt(r)) for r in requests]
            rows[f"{scheme}/{reasoning}"] = {
                "system_tokens": len(judge.system_prompt) // 4,
                "user_tokens_median": int(statistics.median(users)) // 4,
                "user_tokens_p95": int(sorted(users)[int(0.95 * (len(users) - 1))]) // 4,
                "total_tokens_median": (len(judge.system_prompt) + int(statistics.median(users))) // 4,
            }
    default = rows["three-level/before"]
    write_result("prompt_tokens", {"pairs": len(requests), "estimate": "characters / 4", "default": default, "by_scheme_and_reasoning": rows})


if __name__ == "__main__":
    main()
