"""The dashboard's outer wall, one ASGI middleware in front of every route:

- the ``Host`` header must be one of the allowed names (DNS rebinding: a page on
  ``evil.example`` that resolves to 127.0.0.1 must not read the dashboard): else 400;
- a request body over :data:`MAX_BODY` bytes is refused with 413 before the app (and its
  authentication) sees it: by ``Content-Length``, and by counting the bytes of a chunked
  body as they arrive, so at most ``MAX_BODY`` bytes are ever held in memory;
- every response carries a Content-Security-Policy without inline script, frame
  protection, ``nosniff`` and ``Referrer-Policy: no-referrer`` (a route may set its own CSP).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

MAX_BODY = 64 * 1024  # bytes; the largest legitimate body (a decision with a note) is a few hundred
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
# 'self' only. No 'unsafe-inline' anywhere: the page's code sets styles through the DOM
# (element.style), which a CSP does not block, never through style attributes.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


def host_name(header: str) -> str:
    """``Host`` without its port, lower-case (``[::1]:8765`` -> ``::1``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard:
    """ASGI middleware: Host allow-list, body limit, security headers (see the module)."""

    def __init__(self, app, allowed_hosts: tuple[str, ...] | None = LOOPBACK_HOSTS, max_body: int = MAX_BODY):
        self.app = app
        self.allowed = None if allowed_hosts is None else {host_name(h) for h in allowed_hosts}
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.allowed is not None and host_name(headers.get("host", "")) not in self.allowed:
            await _plain(send, 400, f"Host {headers.get('host', '')!r} is not served here; allowed: {sorted(self.allowed)} "
                                    "(sdl serve --allowed-host NAME adds one)")
            return
        length = headers.get("content-length")
        if length is not None and (not length.strip().isdigit() or int(length) > self.max_body):
            await _plain(send, 413, f"request body over {self.max_body} bytes (Content-Length {length[:20]})")
            return
        if length is not None or "transfer-encoding" in headers:
            body = await self._bounded_body(receive)
            if body is None:
                await _plain(send, 413, f"request body over {self.max_body} bytes")
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, _secured(send))

    async def _bounded_body(self, receive: Receive) -> bytes | None:
        """The whole body, read here so a chunked one is counted as it comes; None past the limit."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # afterwards only http.disconnect can come

    return replay


def _secured(send: Send) -> Send:
    async def secured(message: dict) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            names = {k.lower() for k, _ in headers}
            if b"content-security-policy" not in names:
                headers.append((b"content-security-policy", CSP.encode()))
            headers += [(k, v) for k, v in SECURITY_HEADERS if k not in names]
            message = {**message, "headers": headers}
        await send(message)

    return secured


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close"), (b"content-security-policy", CSP.encode()), *SECURITY_HEADERS]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
