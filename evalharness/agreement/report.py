"""Agreement rendered as Markdown, a self-contained HTML page, and the hard-disagreements CSV.

HTML: jinja2 autoescapes every value (queries, titles and rationales are user text); the page has no
script, and its Content-Security-Policy admits only its own stylesheet (by hash), like the comparison report.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from evalharness.agreement.pairwise import Agreement, JudgeAgreement

COLUMNS = (("accuracy", "acc"), ("kappa", "κ"), ("kappa_linear", "κw lin"), ("kappa_quadratic", "κw quad"),
           ("alpha_ordinal", "α ord"), ("spearman", "ρ"))
DISAGREEMENT_HEADER = ("query", "doc_id", "label", "note", "human_label", "judge_label", "judge", "title", "judge_rationale")


def num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def with_ci(j: JudgeAgreement, key: str) -> str:
    ci = j.ci.get(key)
    return num(j.stats[key]) + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def leaderboard_rows(a: Agreement) -> list[dict[str, str]]:
    """One row per judge, best quadratic kappa first: the cells every renderer shows."""
    rows = []
    for j in sorted(a.judges, key=lambda j: -(j.stats["kappa_quadratic"] or -2)):
        rate = j.pairs_per_s
        rows.append({"judge": j.spec, "pairs": str(j.pairs), **{label: with_ci(j, key) for key, label in COLUMNS},
                     "$/1k pairs": f"{j.per_1000['cost_usd']:.4f}", "tokens/1k": f"{j.per_1000['tokens']:.0f}",
                     "pairs/s": f"{rate:.1f}" if rate else "cached"})
    return rows


def agreement_markdown(a: Agreement) -> str:
    """A Markdown summary: leaderboard, then each judge's confusion matrix and per-label precision / recall."""
    rows = leaderboard_rows(a)
    head = list(rows[0]) if rows else []
    lines = [f"## Judge agreement with {_md(a.human)}", "",
             f"{a.labelled} {_who(a)}-labelled pairs over {a.queries} queries; 95 % CIs resample queries.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_md(r[h]) for h in head) + " |" for r in rows]
    for j in a.judges:
        lines += ["", f"### {_md(j.spec)}: confusion (rows human, columns judge)", "",
                  "| human \\ judge | " + " | ".join(a.labels) + " |", "|" + "---|" * (len(a.labels) + 1)]
        lines += [f"| {name} | " + " | ".join(str(v) for v in row) + " |" for name, row in zip(a.labels, j.confusion)]
        lines += ["", "| label | precision | recall | human share | judge share |", "|---|---|---|---|---|"]
        for name in a.labels:
            p = j.per_label[name]
            lines.append(f"| {name} | {p['precision']:.3f} | {p['recall']:.3f} | {_share(j.human_distribution, name)} | "
                         f"{_share(j.judge_distribution, name)} |")
        lines.append(f"\nHard disagreements ({a.labels[-1]} vs {a.labels[0]}): {len(j.disagreements)}.")
        if j.behaviour is not None:
            lines += _behaviour_markdown(j)
        lines += calibration_markdown(j)
    return "\n".join(lines) + "\n"


def _behaviour_markdown(j: JudgeAgreement) -> list[str]:
    b = j.behaviour
    lines = ["", f"#### {_md(j.spec)} against shoppers ({_md(b.source)})", "", _md(b.text()) + ".", ""]
    for title, items in (("Engaged with, judged lowest", b.engaged_lowest), ("Shown often, never clicked, judged highest", b.ignored_highest)):
        lines += [f"{title}: {len(items)} listed.", ""]
        if items:
            lines += ["| query | product | judge | evidence |", "|---|---|---|---|"]
            lines += [f"| {_md(d.query)} | {_md(d.title)} ({_md(d.doc_id)}) | {_md(d.judge)} | {d.evidence()} |" for d in items]
            lines.append("")
    return lines


def _who(a: Agreement) -> str:
    """Who labelled the reference pairs: people, or shoppers' behaviour (a behaviour:NAME source)."""
    return "behaviour" if a.human.startswith("behaviour:") else "human"


def calibration_markdown(j: JudgeAgreement) -> list[str]:
    """The judge's reliability table and accuracy-coverage curve (nothing for a judge without confidence)."""
    c = j.calibration
    if c is None:
        return []
    lines = ["", f"### {_md(j.spec)}: calibration ({c.pairs} pairs with a confidence, expected calibration error {c.ece:.3f})", "",
             "| confidence bin | pairs | mean confidence | accuracy |", "|---|---|---|---|"]
    lines += [f"| ({b['lower']:.1f}, {b['upper']:.1f}] | {b['pairs']} | {b['confidence']:.3f} | {b['accuracy']:.3f} |" for b in c.bins]
    lines += ["", "| confidence at least | share of pairs | accuracy | κw quad |", "|---|---|---|---|"]
    lines += [f"| {r['threshold']:.2f} | {r['share']:.1%} | {r['accuracy']:.3f} | {num(r['kappa_quadratic'])} |" for r in c.coverage]
    return lines


def _share(dist: dict[str, int], name: str) -> str:
    total = sum(dist.values()) or 1
    return f"{dist.get(name, 0) / total:.1%}"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#])")


def _md(text: str) -> str:
    """Escape Markdown and HTML specials in user text."""
    return _MD_SPECIAL.sub(r"\\\1", text.replace("\n", " "))


def disagreements_csv(a: Agreement) -> str:
    """Hard disagreements as a CSV a person can relabel (edit `label`) and import back with `labels import`."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(DISAGREEMENT_HEADER)
    for j in a.judges:
        for d in j.disagreements:
            w.writerow([d.query, d.doc_id, d.human, "", d.human, d.judge, j.spec, d.title, d.rationale])
        if j.behaviour is not None:  # shoppers vs the judge: the evidence is the note
            for b in (*j.behaviour.engaged_lowest, *j.behaviour.ignored_highest):
                w.writerow([b.query, b.doc_id, "", f"{b.kind}: {b.evidence()}", "", b.judge, j.spec, b.title, b.rationale])
    return buf.getvalue()


def agreement_html(a: Agreement) -> str:
    """The self-contained page (no script, no network)."""
    env = Environment(loader=PackageLoader("evalharness.report", "templates"), autoescape=select_autoescape(["j2", "html"]))
    template = env.get_template("agreement.html.j2")
    style = env.get_template("agreement.css").render()
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    csp = f"default-src 'none'; style-src 'sha256-{digest}'; img-src data:"
    rows = leaderboard_rows(a)
    return template.render(a=a, who=_who(a), rows=rows, head=list(rows[0]) if rows else [], style=style, csp=csp, share=_share,
                           created=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
