"""Rich progress bars and tables shared by the commands."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console

out = Console(highlight=False)
if not out.is_terminal:
    out = Console(highlight=False, width=140)  # logs and CI: wide enough for the comparison table
err = Console(stderr=True, highlight=False)


class RichStages:
    """A progress bar per pipeline stage, on stderr; when stderr is a file or a pipe (logs, CI), one plain line per
    stage when it ends instead (no bar frames in the log)."""

    @contextmanager
    def stage(self, name: str, total: int) -> Iterator[Callable[[int], None]]:
        if not err.is_terminal:
            done = [0]
            started = time.perf_counter()

            def advance(n: int) -> None:
                done[0] += n

            yield advance
            err.print(f"{name}: {done[0]} of {total} in {time.perf_counter() - started:.1f} s", markup=False, highlight=False)
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        with Progress(TextColumn("[bold]{task.description:<18}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=False) as progress:
            task = progress.add_task(name, total=total or 1)
            yield lambda n: progress.advance(task, n)
            if not total:
                progress.advance(task, 1)


def fmt(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:+.{digits}f}"

