"""Markdown summaries for $GITHUB_STEP_SUMMARY and pull-request comments."""

from __future__ import annotations

from evalharness.compare import Comparison
from evalharness.gate import GateResult

_MD_SPECIAL = str.maketrans({**{c: f"\\{c}" for c in "\\`*_[]|~"}, "<": "&lt;", ">": "&gt;", "&": "&amp;"})


def md_escape(text: str) -> str:
    """Escape user text for Markdown tables (no HTML, no links, no pipes)."""
    return " ".join(str(text).split()).translate(_MD_SPECIAL)


def comparison_markdown(c: Comparison, gate: GateResult | None = None, report_path: str = "") -> str:
    """A compact Markdown summary of a comparison (and the gate result, if given)."""
    b, k = c.baseline, c.candidate
    lines = []
    if gate is not None:
        lines.append(f"## Search quality gate: {'✅ PASS' if gate.passed else '❌ FAIL'}")
    else:
        lines.append("## Search quality comparison")
    lines += [
        "",
        f"Baseline **{md_escape(b.engine_config)}** (`{b.config_hash}`, run `{b.run_id}`) vs candidate "
        f"**{md_escape(k.engine_config)}** (`{k.config_hash}`, run `{k.run_id}`); {len(c.queries)} queries; "
        f"judge `{md_escape(c.judge_id)}`.",
        "",
        "| metric | baseline | candidate | delta | 95% CI | p (t) | p (rand.) | p Holm | W/T/L |",
        "|---|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for m in c.metrics:
        t = m.test
        mark = " *" if m.significant else ""
        lines.append(f"| {md_escape(m.metric)} | {t.mean_base:.4f} | {t.mean_cand:.4f} | {t.delta:+.4f}{mark} | "
                     f"[{t.ci_low:+.4f}, {t.ci_high:+.4f}] | {t.p_ttest:.4f} | {t.p_randomization:.4f} | "
                     f"{m.p_randomization_holm:.4f} | {t.wins}/{t.ties}/{t.losses} |")
    lines += ["", f"\\* significant at alpha={c.alpha} after Holm correction (paired randomization test).",
              f"Judged hits: baseline {c.judged_base:.1%}, candidate {c.judged_cand:.1%} "
              f"({c.unjudged_cand} candidate hits unjudged)."]
    if gate is not None:
        lines += ["", "| check | result | detail |", "|---|---|---|"]
        for r in gate.results:
            lines.append(f"| {md_escape(r.name)} | {'pass' if r.passed else '**FAIL**'} | {md_escape(r.detail)} |")
    segments = c.segments()
    if segments:
        lines += ["", f"By segment ({md_escape(c.primary)}):", "", "| segment | queries | baseline | candidate | delta |",
                  "|---|---:|---:|---:|---:|"]
        for row in segments:
            v = row[c.primary]
            lines.append(f"| {md_escape(row['segment'])} | {row['queries']} | {v['baseline']:.4f} | {v['candidate']:.4f} | {v['delta']:+.4f} |")
    movers = c.movers(5)
    if movers:
        lines += ["", f"Biggest movers ({md_escape(c.primary)}):", ""]
        for q in movers:
            lines.append(f"- {md_escape(q.text)}: {q.base[c.primary]:.3f} → {q.cand[c.primary]:.3f} "
                         f"({q.delta(c.primary):+.3f})")
    if report_path:
        lines += ["", f"Full report: `{report_path}`"]
    return "\n".join(lines) + "\n"
