"""Importing, in the background, what a command will need once it has stopped waiting on the network.

A run that judges through a provider spends most of its wall clock waiting for answers, with CPU to spare; the
modules it needs only afterwards (the metrics: ir-measures, pytrec_eval, numpy — ~0.05 s) are imported then
instead of after the last answer. An import that fails here is left to the command's own import of the module,
which raises it where it is needed.
"""

from __future__ import annotations

import importlib
import threading


def import_soon(*modules: str) -> threading.Thread:
    """Start importing `modules` in a daemon thread; returns the thread."""

    def load() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the command's own import of the module raises it where it is needed
                return

    thread = threading.Thread(target=load, name="evalharness-prewarm", daemon=True)
    thread.start()
    return thread
