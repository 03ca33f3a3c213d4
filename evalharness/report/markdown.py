"""Markdown summaries for $GITHUB_STEP_SUMMARY and pull-request comments."""

from __future__ import annotations

import re

from evalharness.compare.comparison import Comparison
from evalharness.compare.gate import GateResult

_MD_SPECIAL = str.maketrans({**{c: f"\\{c}" for c in "\\`*_[]|~"}, "<": "&lt;", ">": "&gt;", "&": "&amp;"})
_TICKS = re.compile(r"`+")


def md_escape(text: str) -> str:
    """Escape user text for Markdown tables (no HTML, no links, no pipes)."""
    return " ".join(str(text).split()).translate(_MD_SPECIAL)


def md_code(text: str) -> str:
    """User text as one inline code span: a fence longer than any backtick run inside, on one line.

    Backslash escapes do not work inside code spans, so the fence itself must outgrow the text's backticks;
    a pipe is replaced by a lookalike so the span cannot split a table row.
    """
    body = " ".join(str(text).split()).replace("|", "¦")
    longest = max((len(m) for m in _TICKS.findall(body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") or not body.strip() else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def corrected_markdown(c: Comparison) -> list[str]:
    """The corrected (PPI++) figures beside the judge-only delta, when the comparison has them."""
    k = c.corrected
    if k is None:
        return []
    several = len(c.candidates) > 1
    lines = ["", f"Corrected with {md_code(k.source)}: {k.gold_queries} gold of {k.all_queries} queries "
                 f"(effective {k.n_effective:.1f}), PPI++ (power-tuned λ).", ""]
    if k.rows:
        lines += ["| metric |" + (" config |" if several else "") + " baseline | candidate | delta | 95% CI | λ | "
                  "judge-only delta | judge-only 95% CI |", "|---|" + ("---|" if several else "") + "---:|---:|---:|---|---:|---:|---|"]
        for r in k.rows:
            d = r.delta
            cfg = f" {md_escape(r.candidate)} |" if several else ""
            lines.append(f"| {md_escape(r.metric)} |{cfg} {r.baseline.estimate:.4f} | {r.cand.estimate:.4f} | {d.estimate:+.4f} | "
                         f"[{d.ci_low:+.4f}, {d.ci_high:+.4f}] | {d.lam:.2f} | {r.judge_delta:+.4f} | "
                         f"[{r.judge_ci[0]:+.4f}, {r.judge_ci[1]:+.4f}] |")
    lines += [""] + [f"> {md_escape(note)}" for note in k.notes]
    return lines


def comparison_markdown(c: Comparison, gate: GateResult | None = None, report_path: str = "") -> str:
    """A compact Markdown summary of a comparison (and the gate result, if given)."""
    several = len(c.candidates) > 1
    verdict = {"PASS": "✅ PASS", "FAIL": "❌ FAIL", "INCONCLUSIVE": "⚠️ INCONCLUSIVE"}
    lines = [f"## Search quality gate: {verdict[gate.outcome]}" if gate is not None else "## Search quality comparison", ""]
    b = c.baseline
    cands = "; ".join(f"**{md_escape(s.name)}** ({md_code(s.run.config_hash)}, run {md_code(s.run.run_id)})" for s in c.candidates)
    weighted = " weighted by traffic" if c.weight == "traffic" else ""
    lines += [f"Baseline **{md_escape(b.name)}** ({md_code(b.run.config_hash)}, run {md_code(b.run.run_id)}) vs candidate"
              f"{'s' if several else ''} {cands}; {len(c.queries)} queries{weighted}; judge {md_code(c.judge_id)}; "
              f"labels {md_code(c.label_sources)}: {md_escape('; '.join(c.side_sources(s) for s in c.sides))}.", ""]
    for w in c.warnings + (gate.warnings if gate is not None else []):
        lines.append(f"> ⚠️ {md_escape(w)}")
    if c.warnings or (gate is not None and gate.warnings):
        lines.append("")
    head = "| metric |" + (" config |" if several else "") + " baseline | candidate | delta | 95% CI | p (t) | p (rand.) | p Holm | W/T/L |"
    lines += [head, "|---|" + ("---|" if several else "") + "---:|---:|---:|---|---:|---:|---:|---|"]
    for r in c.rows:
        t = r.test
        mark = " *" if r.significant else ""
        holm = f"{r.p_randomization_holm:.4f}" if r.p_randomization_holm is not None else "— (not in family)"
        cfg = f" {md_escape(r.candidate)} |" if several else ""
        arrow = " ↓" if r.lower_is_better else ""
        lines.append(f"| {md_escape(r.metric)}{arrow} |{cfg} {t.mean_base:.4f} | {t.mean_cand:.4f} | {t.delta:+.4f}{mark} "
                     f"({r.verdict}) | [{t.ci_low:+.4f}, {t.ci_high:+.4f}] | {t.p_ttest:.4f} | {t.p_randomization:.4f} | "
                     f"{holm} | {r.wins}/{r.ties}/{r.losses} |")
    judged = ", ".join(f"{md_escape(s.name)} {s.judged:.1%} ({s.unjudged} unjudged)" for s in c.sides)
    lines += ["", f"\\* significant at alpha={c.alpha} after Holm correction (paired randomization test; only Holm-family "
              "metrics are starred). ↓ lower is better: W/T/L and improved/regressed follow each measure's direction.",
              f"Judged hits: {judged}."]
    lines += corrected_markdown(c)
    if gate is not None:
        lines += ["", "| check | result | detail |", "|---|---|---|"]
        for res in gate.results:
            status = {"pass": "pass", "FAIL": "**FAIL**", "INCONCLUSIVE": "**INCONCLUSIVE**"}[res.status]
            lines.append(f"| {md_escape(res.name)} | {status} | {md_escape(res.detail)} |")
        if gate.outcome == "INCONCLUSIVE":
            lines += ["", "INCONCLUSIVE (exit code 3): no check failed, but the evidence cannot decide every check; "
                          "the details say how many more gold queries would likely decide it."]
    for title, groups in (("segment", c.groups("segment")), ("query type", c.types())):
        if not groups:
            continue
        lines += ["", f"By {title} ({md_escape(c.primary)}):", "",
                  f"| {title} |" + (" config |" if several else "") + " queries | baseline | candidate | delta |",
                  "|---|" + ("---|" if several else "") + "---:|---:|---:|---:|"]
        for row in groups:
            for name, per in row["metrics"].items():
                v = per[c.primary]
                if v["delta"] != v["delta"]:  # NaN: no query of this group is in the measure's population
                    continue
                cfg = f" {md_escape(name)} |" if several else ""
                lines.append(f"| {md_escape(row['group'])} |{cfg} {row['queries']} | {v['baseline']:.4f} | {v['candidate']:.4f} | "
                             f"{v['delta']:+.4f} |")
    if c.check_names:
        lines += ["", "Rule checks (findings in each config's lists):", "", "| config | " + " | ".join(c.check_names) + " |",
                  "|---|" + "---:|" * len(c.check_names)]
        for s in c.sides:
            lines.append(f"| {md_escape(s.name)} | " + " | ".join(str(n) for n in c.check_counts(s).values()) + " |")
    for cand in c.candidates:
        movers = c.movers(cand, 5)
        if movers:
            lines += ["", f"Biggest movers ({md_escape(c.primary)}, {md_escape(cand.name)}):", ""]
            base, new = c.baseline.values[c.primary], cand.values[c.primary]
            for i in movers:
                lines.append(f"- {md_escape(c.queries[i].text)}: {base[i]:.3f} → {new[i]:.3f} ({new[i] - base[i]:+.3f})")
    if report_path:
        lines += ["", f"Full report: {md_code(report_path)}"]
    lines += ["", f"_Metrics {md_escape(c.pool_note)}._"]  # the footer: the pool rule
    return "\n".join(lines) + "\n"
