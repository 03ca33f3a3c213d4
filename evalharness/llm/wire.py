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

import json
from types import ModuleType
from typing import Any

from evalharness.runtime.httpclient import module_of

USE_WIRE = True  # off: every call through the SDK (bench/judge_throughput.py --wire sdk)


class SdkWire:
    """Re-sends the SDK's recorded POST to `path` with new bodies (see the module docstring)."""

    def __init__(self, sdk: ModuleType, client: Any, path: str) -> None:
        from importlib import import_module

        self.sdk, self.client, self.path = sdk, client, path
        vendored = import_module(f"{sdk.__name__}._vendor.httpx_aiohttp.transport")
        self._map_errors = vendored.map_aiohttp_exceptions
        self._timeout_cls = vendored.ClientTimeout
        self._httpx = module_of(type(client._client))
        self._dumps = import_module(f"{sdk.__name__}._utils._json").openapi_dumps
        self.transport = client._client._transport
        self.template: Any = None
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
            return  # not the plain shape this path re-creates: stay on the SDK
        self._headers, self._length_at = headers, at[0]
        self._timeout = self._timeout_cls(sock_connect=timeout.get("connect"), sock_read=timeout.get("read"),
                                          connect=timeout.get("pool"))
        self.template = request

    @property
    def ready(self) -> bool:
        """A request recorded and the transport's session open."""
        return self.template is not None and self.transport.client.__class__.__name__ == "ClientSession"

    async def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send `body` as the SDK would and return the response JSON; the SDK's exceptions on failure."""
        data = self._dumps(body)
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
