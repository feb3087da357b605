"""The HTTP layer under the node clients: answers capped in size and in time, JSON checked.

A node, or whatever answers on its port, may send a body without end, trickle it, or send
something that is not JSON. Every read here stops at ``MAX_RESPONSE_BYTES`` and at the
watcher's ``timeout`` for the whole request (not per socket read), and raises one of the small
exceptions below; ``chainwatch.nodes.faults`` turns them into messages for people.

``CappedSession`` is a ``requests.Session`` for the libraries that take one (monero, web3);
``read_capped`` does the same for a plain ``http.client`` response (bitcoinlib's proxy).
"""

from __future__ import annotations

import http.client
import io
import json
import time
import urllib.parse
from typing import Any

import requests

#: Largest answer accepted. ``getnodeaddresses 0`` of a well-connected node is a few MiB.
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
_CHUNK = 64 * 1024


class HttpProblem(Exception):
    """Base of the problems this layer detects itself (not the transport's own errors)."""


class HttpStatus(HttpProblem):
    """The server answered with a status other than 2xx (and no JSON-RPC error body)."""

    def __init__(self, status: int, reason: str = "") -> None:
        super().__init__(f"HTTP {status} {reason}".strip())
        self.status = status
        self.reason = reason


class TooLarge(HttpProblem):
    def __init__(self, limit: int) -> None:
        super().__init__(f"answer larger than {limit} bytes")
        self.limit = limit


class TooSlow(HttpProblem):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"answer not complete after {seconds:g} s")
        self.seconds = seconds


class NotJson(HttpProblem):
    def __init__(self, size: int, content_type: str | None) -> None:
        super().__init__(f"answer of {size} bytes is not JSON")
        self.size = size
        self.content_type = content_type


def public_url(url: str) -> str:
    """The URL without user, password, query or fragment: what events name as ``source_ref``."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _read_chunks(read1: Any, limit: int, deadline: float, timeout: float) -> bytes:
    body = bytearray()
    while True:
        # read1 returns whatever has arrived (at least one byte) instead of waiting for a full
        # chunk, so a server that trickles bytes still meets the deadline check below.
        chunk = read1(_CHUNK)
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > limit:
            raise TooLarge(limit)
        if time.monotonic() > deadline:
            raise TooSlow(timeout)


def read_capped(
    response: http.client.HTTPResponse, *, limit: int, deadline: float, timeout: float
) -> bytes:
    """The body of an ``http.client`` response, within ``limit`` bytes and the deadline."""
    return _read_chunks(response.read1, limit, deadline, timeout)


def check_json(body: bytes, content_type: str | None) -> Any:
    """The parsed body, or ``NotJson``."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise NotJson(len(body), content_type) from None


class CappedSession(requests.Session):
    """A session whose every answer is read within ``limit`` bytes and ``timeout`` seconds in
    all, must have a 2xx status and must be JSON; anything else raises an ``HttpProblem``.

    The libraries using it (monero, web3) then only ever see well-formed JSON answers, and
    their own error paths (which log whole bodies) are not reached for broken ones.
    """

    def __init__(self, *, timeout: float, limit: int = MAX_RESPONSE_BYTES) -> None:
        super().__init__()
        self.timeout = timeout
        self.limit = limit
        # No proxies or .netrc credentials picked up from the environment: the URL is the node.
        self.trust_env = False

    def request(
        self, method: str, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        started = time.monotonic()
        kwargs["stream"] = True
        kwargs["timeout"] = self.timeout
        response = super().request(method, url, *args, **kwargs)
        try:
            body = _read_chunks(
                lambda n: response.raw.read1(n, decode_content=True),
                self.limit,
                started + self.timeout,
                self.timeout,
            )
        except BaseException:
            response.close()
            raise
        # The body read, the connection goes back to the pool, and the response reads from
        # the bytes instead: ``raw`` is the response's public file-like source, which
        # ``content`` (and so ``json()``) reads when nothing has been read through it yet.
        response.raw.release_conn()
        response.raw = io.BytesIO(body)
        if not 200 <= response.status_code < 300:
            raise HttpStatus(response.status_code, response.reason or "")
        check_json(body, response.headers.get("Content-Type"))
        return response
