"""One import for the HTTP client: httpx2 (what current openai and google-genai releases use) or httpx (older ones),
and the SDKs' async clients on aiohttp when it is installed (half the CPU per judge call of httpx, same SDK)."""

from __future__ import annotations

import asyncio
import importlib
import sys
from types import ModuleType
from typing import Any


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
USE_AIOHTTP = True  # SDK clients on aiohttp when the SDK and aiohttp allow it (bench/judge_throughput.py --http httpx turns it off)


def module_of(client_cls: type) -> ModuleType:
    """The httpx flavour a client class is built on (so limits and clients match what the SDK expects)."""
    for base in client_cls.__mro__:
        root = base.__module__.partition(".")[0]
        if root in ("httpx", "httpx2"):
            return sys.modules[root]
    return httpx


def sdk_async_client(sdk: ModuleType, concurrency: int, timeout: float) -> Any:
    """The async HTTP client for an openai or anthropic SDK client: its `DefaultAioHttpClient` (aiohttp under the
    SDK's httpx interface, so errors, timeouts and responses are the SDK's own) when aiohttp is installed, else its
    `DefaultAsyncHttpxClient`. The pool holds a connection for every request in flight (`concurrency`) and keeps
    them all alive between calls; `timeout` bounds connect, each read and write, and the wait for a connection."""
    aio = getattr(sdk, "DefaultAioHttpClient", None)
    cls = aio if USE_AIOHTTP and aio is not None and _load("aiohttp") is not None else sdk.DefaultAsyncHttpxClient
    limits = module_of(cls).Limits(max_connections=max(64, 2 * concurrency), max_keepalive_connections=max(32, concurrency))
    return cls(limits=limits, timeout=timeout)


def aiohttp_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(transport errors, connect errors) that an SDK running on aiohttp itself (google-genai, when aiohttp is
    installed) raises as they are: empty when aiohttp is not installed."""
    aiohttp = _load("aiohttp")
    if aiohttp is None:
        return (), ()
    return (aiohttp.ClientError, asyncio.TimeoutError), (aiohttp.ClientConnectorError,)


def connect_failed(exc: BaseException) -> bool:
    """Whether an SDK error comes from a failure to connect at all (refused, no route, unknown host), by its chain of
    causes: the openai SDK's aiohttp transport reports a refused connection as a connect *timeout*."""
    connect = CONNECT_ERRORS + aiohttp_errors()[1]
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, connect):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False
