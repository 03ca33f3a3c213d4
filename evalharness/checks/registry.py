"""The check registry: the built-in checks and those installed through the `evalharness.checks` entry point group.

An entry point names a class or a function that takes no argument and returns a check (an object with `name`,
`description` and `run(ctx) -> list[Finding]`), or the check object itself:

    [project.entry-points."evalharness.checks"]
    sku_prefix = "mypkg.checks:SkuPrefixCheck"
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib.metadata import entry_points
from itertools import chain

from evalharness.checks.base import Check, CheckContext, Finding
from evalharness.checks.batch import ListBatch
from evalharness.checks.builtin import FewResults, NearDuplicates, PriceOutliers, WrongTypeAbove, ZeroResults
from evalharness.config import ChecksConfig
from evalharness.errors import EvalHarnessError

ENTRY_POINT_GROUP = "evalharness.checks"


def builtin_checks(cfg: ChecksConfig) -> dict[str, Check]:
    """The built-in checks with the thresholds from [checks]."""
    checks: list[Check] = [NearDuplicates(cfg.duplicate_similarity), PriceOutliers(cfg.price_z, cfg.price_ratio), ZeroResults(),
                           FewResults(cfg.min_results), WrongTypeAbove()]
    return {c.name: c for c in checks}


def plugin_checks() -> dict[str, Check]:
    """Checks installed by other packages under the `evalharness.checks` entry point group."""
    found: dict[str, Check] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        where = f"entry point '{ep.name} = {ep.value}' ({ENTRY_POINT_GROUP})"
        try:
            obj = ep.load()
            check = obj() if isinstance(obj, type) or not isinstance(obj, Check) else obj
        except Exception as exc:  # noqa: BLE001 - a broken plugin is reported in one line, never ignored
            raise EvalHarnessError(f"cannot load check {where}: {type(exc).__name__}: {exc}; fix or uninstall the package") from None
        if not isinstance(check, Check):
            raise EvalHarnessError(f"check {where} is not a check; it needs name, description and run(ctx) -> list[Finding]")
        found[check.name] = check
    return found


def enabled_checks(cfg: ChecksConfig) -> list[Check]:
    """The checks [checks] enables (default: every built-in and every installed plugin), in a stable order."""
    available = {**builtin_checks(cfg), **plugin_checks()}
    names = list(available) if cfg.enabled is None else cfg.enabled
    unknown = [n for n in names if n not in available]
    if unknown:
        raise EvalHarnessError(f"evalharness.toml: [checks] enabled names unknown check(s) {', '.join(unknown)}; "
                               f"available: {', '.join(available)}")
    return [available[n] for n in names]


def run_checks(checks: Sequence[Check], contexts: Iterable[CheckContext]) -> list[Finding]:
    """Every check over every list, findings ordered by list, then by check; a check that raises stops with one line
    naming it. A check with `run_all(contexts)` (checks/batch.py) is called once for all lists."""
    batch = ListBatch(contexts)
    batched = []
    for check in checks:
        try:
            batched.append(_run_all(check, batch))
        except Exception as exc:  # noqa: BLE001 - run list by list, the error names the check and query as before
            _run_each(checks, batch)
            raise EvalHarnessError(f"check '{check.name}' failed on a batch of {len(batch)} lists (each list alone passes): "
                                   f"{type(exc).__name__}: {exc}; fix the check or remove it from [checks] enabled") from exc
    if all(found is not None for found in batched):  # list by list, check by check: in C
        return list(chain.from_iterable(chain.from_iterable(zip(*batched))))  # type: ignore[arg-type]
    out: list[Finding] = []
    for n, ctx in enumerate(batch):
        for check, found in zip(checks, batched):
            out.extend(_run_one(check, ctx) if found is None else found[n])
    return out


def _run_all(check: Check, batch: ListBatch) -> list[list[Finding]] | None:
    """A check's findings per list from its batch entry point; None when it has none."""
    run_all = getattr(check, "run_all", None)
    if run_all is None:
        return None
    found = run_all(batch)
    if len(found) != len(batch):
        raise ValueError(f"run_all returned {len(found)} finding lists for {len(batch)} lists")
    return found


def _run_each(checks: Sequence[Check], contexts: Iterable[CheckContext]) -> list[Finding]:
    out: list[Finding] = []
    for ctx in contexts:
        for check in checks:
            out.extend(_run_one(check, ctx))
    return out


def _run_one(check: Check, ctx: CheckContext) -> list[Finding]:
    try:
        return check.run(ctx)
    except Exception as exc:  # noqa: BLE001 - a plugin's error becomes one actionable line
        raise EvalHarnessError(f"check '{check.name}' failed on query {ctx.query_id!r}: {type(exc).__name__}: {exc}; "
                               "fix the check or remove it from [checks] enabled") from None


def count_findings(findings: Iterable[Finding], name: str, k: int | None = None) -> int:
    """Findings of one check, on hits ranked within k (list-level findings always count)."""
    return sum(1 for f in findings if f.check == name and (k is None or f.rank <= k))


def findings_by_hit(findings: Iterable[Finding]) -> dict[tuple[str, str], list[Finding]]:
    """(query_id, doc_id) -> findings on that hit; list-level findings under doc_id ''."""
    out: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        out.setdefault((f.query_id, f.doc_id), []).append(f)
    return out


