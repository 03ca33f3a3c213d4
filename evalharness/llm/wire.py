"""A thinner wire path for an SDK client on aiohttp: the request the SDK built once, re-sent with each new body.

An SDK call spends most of its CPU building the request (options, URL, headers, auth) and wrapping the response in
its own types; the bytes it sends differ from call to call only in the body and its Content-Length. So the first
call goes through the SDK as usual while `SdkWire` records the request the SDK hands its aiohttp transport; later
calls send a new body with that request's URL, headers (Content-Length set to the new body's) and timeouts through
the same aiohttp session, with the same arguments the SDK's transport uses: the bytes on the wire are the SDK's
(tests/test_wire_path.py compares them at the server). Errors come back as the SDK's own exceptions — status
errors made by the SDK client from the response, timeouts and connection failures as its APITimeoutError and
APIConnectionError chained to the transport error — so the provider handles both paths alike.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

from evalharness.runtime.httpclient import module_of

USE_WIRE = True  # off: every call through the SDK (bench/judge_throughput.py --wire sdk)
ON_WIRE = object()  # SdkWire.through_sdk's answer when the request is to go on the wire


class SdkWire:
    """Re-sends the SDK's recorded POST to `path` with new bodies (see the module docstring)."""

    def __init__(self, sdk: ModuleType, client: Any, path: str) -> None:
        from importlib import import_module

        self.sdk, self.client, self.path = sdk, client, path
        vendored = import_module(f"{sdk.__name__}._vendor.httpx_aiohttp.transport")
        self._map_errors = vendored.map_aiohttp_exceptions
        self._timeout_cls = vendored.ClientTimeout
        self._httpx = module_of(type(client._client))
        self._sdk_dumps = import_module(f"{sdk.__name__}._utils._json").openapi_dumps
        self.transport = client._client._transport
        self.template: Any = None
        self._first: asyncio.Future[None] | None = None  # done when the SDK call under way recorded (or failed)
        self.unrecordable = False
        self._headers: list[tuple[str, str]] = []
        self._length_at = -1
        self._timeout: Any = None
        original = self.transport.handle_async_request

        async def recording(request: Any) -> Any:  # the SDK's request, seen on its way to the transport
            if self.template is None and request.method == "POST" and request.url.path.endswith(path):
                self._record(request)
            return await original(request)

        self.transport.handle_async_request = recording

    @classmethod
    def attach(cls, sdk: ModuleType, client: Any, path: str) -> SdkWire | None:
        """A wire for this client, or None when the client is not on the SDK's aiohttp transport (then every call
        goes through the SDK)."""
        if not USE_WIRE:
            return None
        try:
            wire = cls(sdk, client, path)
        except (ImportError, AttributeError):
            return None
        return wire if type(wire.transport).__name__ == "AiohttpTransport" else None

    def _record(self, request: Any) -> None:
        headers = list(request.headers.items())  # what the transport passes to aiohttp (a mapping's items)
        at = [i for i, (k, _) in enumerate(headers) if k.lower() == "content-length"]
        timeout = request.extensions.get("timeout", {})
        if len(at) != 1 or request.extensions.get("sni_hostname") or getattr(self.transport, "proxy", None):
            self.unrecordable = True  # not the plain shape this path re-creates: stay on the SDK
            self._release_waiters()
            return
        self._headers, self._length_at = headers, at[0]
        self._timeout = self._timeout_cls(sock_connect=timeout.get("connect"), sock_read=timeout.get("read"),
                                          connect=timeout.get("pool"))
        self.template = request
        self._release_waiters()

    def _release_waiters(self) -> None:
        if self._first is not None and not self._first.done():
            self._first.set_result(None)

    @property
    def ready(self) -> bool:
        """A request recorded and the transport's session open."""
        return self.template is not None and self.transport.client.__class__.__name__ == "ClientSession"

    async def through_sdk(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """`call()` (the request through the SDK), one such call at a time until a request is recorded: calls that
        start meanwhile (every worker at the start of a run) wait until it is, then return ON_WIRE (send on the wire
        instead). A request this path cannot re-create, or a call that failed before it was sent, lets them go on."""
        while self._first is not None and not self.ready and not self.unrecordable:
            if self._first.done():  # recorded: the recording call opens the session as it goes on
                await asyncio.sleep(0)
            else:
                await asyncio.shield(self._first)
        if self.ready:
            return ON_WIRE
        if self.unrecordable:
            return await call()
        self._first = first = asyncio.get_running_loop().create_future()
        try:
            return await call()
        finally:
            if not first.done():
                first.set_result(None)
            if self._first is first:
                self._first = None

    def dumps(self, body: dict[str, Any]) -> bytes:
        """The SDK's JSON bytes of a body (its encoder's options; its own encoder only for what plain JSON lacks)."""
        try:
            return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        except TypeError:  # a datetime or a pydantic model: the SDK's encoder knows them
            return self._sdk_dumps(body)  # type: ignore[no-any-return]

    async def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send `body` as the SDK would and return the response JSON; the SDK's exceptions on failure."""
        data = self.dumps(body)
        headers = self._headers.copy()
        headers[self._length_at] = (headers[self._length_at][0], str(len(data)))
        httpx, sdk, request = self._httpx, self.sdk, self.template
        try:
            with self._map_errors():
                async with self.transport.client.request("POST", str(request.url), headers=headers, data=data,
                                                         allow_redirects=False, auto_decompress=False, compress=False,
                                                         timeout=self._timeout) as response:
                    content = await response.read()
                    status, raw_headers = response.status, response.raw_headers
        except httpx.TimeoutException as exc:
            raise sdk.APITimeoutError(request=request) from exc
        except httpx.TransportError as exc:
            raise sdk.APIConnectionError(request=request) from exc
        if status >= 400:
            raise self.client._make_status_error_from_response(
                httpx.Response(status, headers=raw_headers, content=content, request=request))
        return json.loads(content)  # type: ignore[no-any-return]
