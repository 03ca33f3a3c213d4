"""The README's performance table, generated from the benchmarks' JSON in bench/results/ (or --results DIR).

One markdown row per figure: what was measured, its value, its ratio to the floor (a bare client replaying the same
requests) or to the bound / target, and the machine, load average (1 min, at the time) and date of the measurement.
A benchmark whose JSON is absent is left out (the table says which). Prints the table on stdout.
Usage: python bench/table.py [--results DIR]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
Row = tuple[str, str, str]  # figure, value, ratio


def judge_rows(d: dict[str, Any]) -> Iterator[Row]:
    for style, part in (d.get("end_to_end") or {}).items():
        for r in part["runs"]:
            cli, floor = r["cli"], r["floor"]
            where = f"{r['latency_ms']} ms × {r['concurrency']}, {part['catalog'].upper()} {cli['pairs']:,} pairs, answers {style}"
            yield (f"`evalharness run` throughput ({where})", f"{cli['pairs_per_s']:,} pairs/s = {cli['ratio_to_bound']:.2f} of the bound",
                   f"floor {floor['ratio_to_bound']:.2f} of the bound; CLI/floor {r['cli_to_floor']:.2f}")
            yield (f"CPU per judgment, whole `run` process ({where})", f"{cli['cpu_ms_per_judgment']:.2f} ms",
                   f"floor {floor['cpu_ms_per_judgment']:.2f} ms; CLI/floor {r['cpu_cli_to_floor']:.1f}×")
            yield (f"peak RSS of `run` ({where})", f"{cli['peak_rss_mb']:.0f} MB", f"floor {floor['peak_rss_mb']:.0f} MB")
            c = r["cached"]
            yield (f"cached rerun of the same `run` ({cli['pairs']:,} pairs)", f"{c['cpu_s']:.2f} s CPU, {c['wall_s']:.2f} s wall, "
                   f"{c['peak_rss_mb']:.0f} MB, {c['requests_sent']} requests", "—")


def startup_rows(d: dict[str, Any]) -> Iterator[Row]:
    t = d.get("targets", {})
    v, h, c = d["version"], d["help"], d["demo_run_cached"]
    yield ("`evalharness --version` (median)", f"{v['median_wall_s']:.3f} s wall, {v['median_cpu_s']:.3f} s CPU",
           f"target {t.get('version_wall_s')} s wall")
    yield ("`evalharness --help` (median)", f"{h['median_wall_s']:.3f} s wall, {h['median_cpu_s']:.2f} s CPU", "—")
    yield (f"fully cached `run` of the demo ({c['hits']:,} hits, median)", f"{c['median_cpu_s']:.2f} s CPU, {c['median_wall_s']:.2f} s wall",
           f"target {t.get('demo_run_cached_cpu_s')} s CPU")


def scale_rows(d: dict[str, Any]) -> Iterator[Row]:
    part = d.get("cached_rerun")
    if not part or "sizes" not in part:
        return
    for pairs, s in sorted(part["sizes"].items(), key=lambda kv: int(kv[0])):
        for phase in ("first", "cached"):
            f = s[phase]
            target = f"target {part['target_cached_cpu_s']} s CPU" if phase == "cached" and int(pairs) >= 100_000 else "—"
            yield (f"{phase} `run` of {int(pairs):,} pairs (offline judge)", f"{f['cpu_s']:.2f} s CPU, {f['wall_s']:.1f} s wall, "
                   f"{f['peak_rss_mb']:.0f} MB", target)
    yield ("peak RSS 100k / 10k pairs, first run", f"{part['rss_ratio_first']:.2f}", f"target ≤ {part['target_rss_ratio']}")
    yield ("peak RSS 100k / 10k pairs, cached rerun", f"{part['rss_ratio_cached']:.2f}", f"target ≤ {part['target_rss_ratio']}")


def compare_rows(d: dict[str, Any]) -> Iterator[Row]:
    for r in d["runs"]:
        for name in ("json", "html_second"):
            if name in r:
                f = r[name]
                yield (f"`compare {'--json' if name == 'json' else '--html (thumbnails cached)'}` of {r['queries']:,} queries × {r['k']}",
                       f"{f['cpu_s']:.2f} s CPU, {f['wall_s']:.1f} s wall, {f['peak_rss_mb']:.0f} MB (the compare's own)",
                       "target 5 s CPU" if name == "json" and r["queries"] >= 10_000 else "—")


def agreement_rows(d: dict[str, Any]) -> Iterator[Row]:
    if "first_call" in d:
        f = d["first_call"]
        yield (f"`agreement` on ESCI ({d['pairs']:,} pairs, {d['judge']})", f"{f['cpu_s']:.1f} s CPU, {f['wall_s']:.1f} s wall",
               f"target {d.get('target_first_call_cpu_s', 20)} s CPU")


def implicit_rows(d: dict[str, Any]) -> Iterator[Row]:
    yield (f"`labels implicit` over {d['events']:,} UBI events ({d['log_mb']:,.0f} MB, {d['pairs']:,} pairs)",
           f"{d['events_per_s']:,} events/s wall, {d['events_per_cpu_s']:,} events per CPU second, peak RSS {d['peak_rss_mb']:.0f} MB",
           f"memory limit {d['limit_rss_mb']} MB")


SOURCES: dict[str, Callable[[dict[str, Any]], Iterator[Row]]] = {
    "judge_throughput": judge_rows, "startup": startup_rows, "scale": scale_rows, "compare_scale": compare_rows,
    "judge_agreement_offline": agreement_rows, "implicit_scale": implicit_rows,
}


def table(results: Path) -> str:
    lines = ["| figure | value | floor / bound / target | machine | load (1 min) | date |", "|---|---|---|---|---|---|"]
    missing = []
    for name, rows in SOURCES.items():
        path = results / f"{name}.json"
        if not path.exists():
            missing.append(name)
            continue
        d = json.loads(path.read_text())
        m = d.get("machine", {})
        machine = f"{m.get('cpus')} CPUs, Python {m.get('python')}"
        load = f"{m['loadavg'][0]:.1f}" if m.get("loadavg") else "?"
        for figure, value, ratio in rows(d):
            lines.append(f"| {figure} | {value} | {ratio} | {machine} | {load} | {d.get('when', '?')[:16].replace('T', ' ')} UTC |")
    if missing:
        lines.append("")
        scripts = ", ".join(f"bench/{n.removesuffix('_offline')}.py" for n in missing)
        lines.append(f"Not measured (no JSON in {results.name}/): {scripts}.")
    return "\n".join(lines)


PAGE_HEAD = """# Performance

Generated by `python bench/table.py --page docs/performance.md` from the JSON the benchmarks under `bench/` write
(`bench/results/`, outside git). Each benchmark runs the CLI as users do — a child process — and, where a floor
exists, measures it in the same invocation (a bare aiohttp client replaying the same requests to the same server);
the machine's load average at the time is in every row, because on a shared 2-core machine it moves every figure.
The time column says when each benchmark last ran: a row older than the others was not re-run on the newest code.
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--page", type=Path, help="write the manual's performance page here instead of printing the table")
    args = ap.parse_args()
    text = table(args.results)
    if args.page:
        args.page.write_text(PAGE_HEAD + "\n" + text + "\n", encoding="utf-8")
    else:
        print(text)


if __name__ == "__main__":
    main()
