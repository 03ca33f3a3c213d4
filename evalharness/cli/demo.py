"""`evalharness demo`: the demo loop's six commands in one process (what `make demo` runs)."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from evalharness.errors import EXIT_GATE_FAILED, EvalHarnessError, redact

YOUNG_THRESHOLD = 10_000  # allocations between young collections while the demo runs (Python's default: 700)

# The loop, step by step: exactly the commands a user would type, with the same outputs.
STEPS: tuple[tuple[str, ...], ...] = (
    ("run", "--engine-config", "v2", "--baseline", "v1"),
    ("run", "--engine-config", "v0"),
    ("compare", "v1", "v2", "--html", "reports/compare-v1-v2.html", "--markdown", "reports/compare-v1-v2.md"),
    ("run", "--engine-config", "v2-photos"),
    ("compare", "v2", "v2-photos", "--html", "reports/compare-v2-v2-photos.html",
     "--markdown", "reports/compare-v2-v2-photos.md"),
    ("gate", "--baseline", "v2", "--candidate", "v2-photos", "--markdown", "reports/gate-v2-photos.md",
     "--junit", "reports/gate-v2-photos.xml"),
)


def run_steps(app: typer.Typer, project: str, steps: tuple[tuple[str, ...], ...] = STEPS) -> int:
    """Run each step as `evalharness -C PROJECT STEP` in this process; stop at the first failing step and return
    its exit code. The gate's exit (1 when it fails, 2 on an error) is reported and passed over, as `make demo`'s
    `-` prefix did; Ctrl-C (130) stops the demo in any step."""
    from evalharness.cli.main import ensure_registered

    ensure_registered([step[0] for step in steps])
    with _long_lived_steps():
        for step in steps:
            code = _run_step(app, project, step)
            if code is not None:
                return code
    return 0


def _run_step(app: typer.Typer, project: str, step: tuple[str, ...]) -> int | None:
    """One step with its outputs; its exit code when it ends the demo, else None."""
    from evalharness.cli.main import EXIT_INTERRUPTED

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
    if step[0] == "gate" and code not in (0, EXIT_INTERRUPTED):  # as make's `-` prefix did: the demo completes
        why = "the gate failed, as the demo means it to" if code == EXIT_GATE_FAILED else "the gate could not decide"
        print(f"({why}: its exit {code} is passed over)", file=sys.stderr, flush=True)
        return None
    return code or None


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
        """Run the demo loop in one process: run v2 (baseline v1), run v0, compare v1 v2, run v2-photos,
        compare v2 v2-photos, gate v2 -> v2-photos. The gate's failure does not fail the demo."""
        code = run_steps(app, str(ctx.obj["project"]))
        if code:
            raise typer.Exit(code)
