"""`evalharness demo`: the demo loop's six commands, at once where they do not read each other's runs (what `make demo` runs)."""

from __future__ import annotations

import gc
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import typer

from evalharness.cli.stepgraph import Ended, Step, replay, run_graph
from evalharness.errors import EXIT_GATE_FAILED, EXIT_INTERRUPTED, EvalHarnessError, redact

YOUNG_THRESHOLD = 10_000  # allocations between young collections while the demo runs (Python's default: 700)

# The loop, step by step: exactly the commands a user would type, with the same outputs. The runs come first, and
# compare and gate read the runs and the judgment pool they leave (so a first demo scores on the same pool as any
# later one). Each step names the earlier steps it waits for: on a machine with several cores the others run at the
# same time, each in a forked child, and every output is shown in this order.
RUNS = (0, 1, 2)
PLAN: tuple[Step, ...] = (
    Step(("run", "--engine-config", "v2", "--baseline", "v1")),
    Step(("run", "--engine-config", "v0")),
    Step(("run", "--engine-config", "v2-photos")),
    Step(("compare", "v1", "v2", "--html", "reports/compare-v1-v2.html", "--markdown", "reports/compare-v1-v2.md"),
         after=RUNS),
    Step(("compare", "v2", "v2-photos", "--html", "reports/compare-v2-v2-photos.html",
          "--markdown", "reports/compare-v2-v2-photos.md"), after=RUNS),
    Step(("gate", "--baseline", "v2", "--candidate", "v2-photos", "--markdown", "reports/gate-v2-photos.md",
          "--junit", "reports/gate-v2-photos.xml"), after=RUNS),
)
STEPS: tuple[tuple[str, ...], ...] = tuple(step.args for step in PLAN)
# What the steps import on first use, loaded before they start so that each forked child has it already: what every
# step needs, before the first forks; what only compare and gate need, while the runs run.
PRELOAD_FIRST = ("sqlite3", "tantivy", "pytrec_eval", "evalharness.pipeline.run", "evalharness.judges.offline",
                 "evalharness.backends.tantivy_backend", "evalharness.sample.generate", "evalharness.metrics.verdict_measures",
                 "evalharness.images.measures", "evalharness.images.scoring", "evalharness.images.offline",
                 "evalharness.store.image_scores", "evalharness.store.runread", "sqlalchemy.dialects.sqlite")
PRELOAD_LATER = ("concurrent.futures", "scipy.special", "evalharness.compare.runs", "evalharness.compare.chunk",
                 "evalharness.compare.stats", "evalharness.compare.gate", "evalharness.guidelines.cached", "evalharness.cli.report",
                 "evalharness.report.html", "evalharness.report.markdown", "evalharness.report.junit",
                 "evalharness.images.badges")


def run_steps(app: typer.Typer, project: str, steps: Sequence[Step | tuple[str, ...]] = PLAN,
              slots: int | None = None) -> int:
    """Run each step as `evalharness -C PROJECT STEP`; stop at the first failing step and return its exit code. The
    gate's exit (1 when it fails, 2 on an error) is reported and passed over, as `make demo`'s `-` prefix did;
    Ctrl-C (130) stops the demo in any step.

    With `slots` > 1 (default: one more than the usable cores) steps run at once where `Step.after` allows, each in a
    forked child (`stepgraph`); a plain tuple step waits for every step before it. With one slot they run here, one after the
    other, and a failing step's EvalHarnessError propagates (main shows it)."""
    from evalharness.cli.main import ensure_registered

    plan = [s if isinstance(s, Step) else Step(tuple(s), tuple(range(i))) for i, s in enumerate(steps)]
    ensure_registered([step.args[0] for step in plan])
    slots = _slots() if slots is None else slots
    with _long_lived_steps():
        if slots <= 1 or len(plan) == 1:
            for step in plan:
                code = _run_step(app, project, step.args)
                if code is not None:
                    return code
            return 0
        _preload(PRELOAD_FIRST)
        return run_graph(plan, lambda step: _child_step(project, step.args), slots,
                         lambda i, code: _passes(plan[i].args, code), lambda i, ended: _show(plan[i].args, ended),
                         meanwhile=lambda: _preload(PRELOAD_LATER, templates=True))


def _preload(modules: Sequence[str], templates: bool = False) -> None:
    """Import these modules (and compile the comparison report's template) here, so later forks share them."""
    for name in modules:
        importlib.import_module(name)
    if templates:
        from evalharness.report.html import compile_template

        compile_template()
    gc.freeze()


def _slots() -> int:
    """Steps at once: one more than the usable cores (a step waits on the disk and the database now and then); one
    where forking is not possible (no fork, other threads running)."""
    from evalharness.runtime.forked import usable_workers

    cores = usable_workers(os.cpu_count() or 1)
    return 1 if cores <= 1 else cores + 1


def _child_step(project: str, step: tuple[str, ...]) -> int:
    """One step in a forked child: its exit code, errors shown as main shows them."""
    from evalharness.cli.main import invoke

    return invoke(["-C", project, *step], os.environ.get("EVALHARNESS_DEBUG") == "1")


def _passes(step: tuple[str, ...], code: int) -> bool:
    """Whether the demo goes on after this step's exit: the gate's failure or error is passed over, Ctrl-C never."""
    return code == 0 or (step[0] == "gate" and code != EXIT_INTERRUPTED)


def _show(step: tuple[str, ...], ended: Ended) -> None:
    """A step's header, its recorded output, and the note when the gate's exit is passed over."""
    print(f"$ evalharness {' '.join(step)}", file=sys.stderr, flush=True)
    replay(ended.chunks)
    _passed_over_note(step, ended.code)


def _run_step(app: typer.Typer, project: str, step: tuple[str, ...]) -> int | None:
    """One step with its outputs; its exit code when it ends the demo, else None."""
    print(f"$ evalharness {' '.join(step)}", file=sys.stderr, flush=True)
    try:
        code = app(args=["-C", project, *step], prog_name="evalharness", standalone_mode=False)
    except EvalHarnessError as exc:  # any other step's error ends the demo: main shows it and exits 2
        if step[0] != "gate":
            raise
        print(f"error: {redact(exc.message)}", file=sys.stderr, flush=True)
        code = exc.exit_code
    code = code if isinstance(code, int) else 0
    gc.freeze()  # what outlives a step (modules, caches) lives to the end: later collections need not scan it
    if _passed_over_note(step, code):
        return None
    return code or None


def _passed_over_note(step: tuple[str, ...], code: int) -> bool:
    """As make's `-` prefix did: a gate's failure or error is noted and the demo completes. True when noted."""
    if step[0] != "gate" or code in (0, EXIT_INTERRUPTED):
        return False
    why = "the gate failed, as the demo means it to" if code == EXIT_GATE_FAILED else "the gate could not decide"
    print(f"({why}: its exit {code} is passed over)", file=sys.stderr, flush=True)
    return True


@contextmanager
def _long_lived_steps() -> Iterator[None]:
    """The cyclic collector tuned for a few seconds of steps that build many objects without cycles: young
    collections every YOUNG_THRESHOLD allocations instead of 700, survivors of each step frozen; both undone after."""
    before = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(ctx: typer.Context) -> None:
        """Run the demo loop: run v2 (baseline v1), run v0, run v2-photos, compare v1 v2, compare v2 v2-photos,
        gate v2 -> v2-photos. On several cores the three runs run at once, then the three steps that read them; the
        outputs are shown in this order. The gate's failure does not fail the demo."""
        from evalharness.project import Project

        project = Project.at(ctx)
        project.config  # noqa: B018 - a folder that is no project, or a bad evalharness.toml: one error, before any step
        code = run_steps(app, str(project.root))
        if code:
            raise typer.Exit(code)
