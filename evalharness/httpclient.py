"""One import for the HTTP client: httpx2 (what current openai and google-genai releases use) or httpx (older ones)."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType


def _load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        return None


MODULES = [m for m in (_load("httpx2"), _load("httpx")) if m is not None]
if not MODULES:  # pragma: no cover - httpx2 is a declared dependency
    raise ImportError("evalharness needs httpx2: pip install httpx2")
httpx = MODULES[0]
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = tuple(cls for m in MODULES for cls in (m.TimeoutException, m.TransportError))
CONNECT_ERRORS: tuple[type[BaseException], ...] = tuple(m.ConnectError for m in MODULES)


def module_of(client_cls: type) -> ModuleType:
    """The httpx flavour a client class is built on (so limits and clients match what the SDK expects)."""
    for base in client_cls.__mro__:
        root = base.__module__.partition(".")[0]
        if root in ("httpx", "httpx2"):
            return sys.modules[root]
    return httpx
