"""Bitcoin Core style JSON-RPC (bitcoind, litecoind) through bitcoinlib's ``AuthServiceProxy``.

A thin layer over the proxy, through its public interface only: the proxy builds and sends
the request over the connection it is given (its ``connection`` argument), and that
connection (``_connection``, ours) does the rest. It sends the Basic authentication header
built from a ``Secret`` (so passwords need no URL quoting and never sit in a URL), reads the
answer through ``chainwatch.nodes.http.read_capped`` (size and time capped, JSON checked,
HTTP status looked at) instead of the proxy's unbounded read, parses numbers as floats, and
keeps the answer; the proxy is handed only a stand-in body, so its own parsing and its debug
log never see what the node sent. Every failure becomes a ``NodeFault``. bitcoinlib is
imported on first use only: importing it creates ``~/.bitcoinlib`` (or ``$BCL_DATA_DIR``),
which only a machine running this watcher should get.
"""

from __future__ import annotations

import functools
import http.client
import time
import urllib.parse
import warnings
from typing import Any

from chainwatch.nodes.auth import Credentials
from chainwatch.nodes.faults import Endpoint, NodeFault, RpcError, ShapeError, from_exception
from chainwatch.nodes.http import MAX_RESPONSE_BYTES, HttpStatus, NotJson, check_json, read_capped

#: What the proxy reads in place of the node's answer (kept by the connection).
_STAND_IN = b'{"result": null, "error": null, "id": 0}'


@functools.cache
def _proxy_class() -> Any:
    with warnings.catch_warnings():
        # bitcoinlib's own modules use SQLAlchemy APIs that SQLAlchemy 2 warns about.
        warnings.simplefilter("ignore", DeprecationWarning)
        from bitcoinlib.services.authproxy import AuthServiceProxy
    return AuthServiceProxy


class _StandIn:
    """What the proxy's response handling reads: a JSON body of no result."""

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return "application/json" if name.lower() == "content-type" else default

    def read(self) -> bytes:
        return _STAND_IN


def _answer(method: str, response: http.client.HTTPResponse, body: bytes) -> dict[str, Any]:
    """The node's JSON-RPC reply, or the fault it stands for."""
    status = response.status
    if status in {401, 403}:
        raise HttpStatus(status, response.reason)
    try:
        answer = check_json(body, response.getheader("Content-Type"))
    except NotJson:
        if status != 200:
            raise HttpStatus(status, response.reason) from None
        raise
    # Bitcoin Core sends JSON-RPC errors with status 404 or 500 and a JSON body; any other
    # body with such a status is the server's (or a proxy's) own failure page.
    if not isinstance(answer, dict) or not ({"result", "error"} & answer.keys()):
        if status != 200:
            raise HttpStatus(status, response.reason)
        raise ShapeError(method, "not a JSON-RPC reply (no result or error)")
    error = answer.get("error")
    if error is not None:
        if not isinstance(error, dict):
            raise ShapeError(method, "the error member is not an object")
        code = error.get("code")
        raise RpcError(
            method, code if isinstance(code, int) else None, str(error.get("message", ""))
        )
    return answer


class _Connection(http.client.HTTPConnection):
    """The proxy's connection for one call of ``method``: it authenticates with ``auth``,
    reads the reply capped and keeps it, checked, as ``answer``."""

    def __init__(
        self, host: str, port: int, *, method: str, auth: str, timeout: float, limit: int
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self.method, self.auth, self.limit, self.seconds = method, auth, limit, timeout
        self.deadline = 0.0
        self.answer: dict[str, Any] | None = None

    def request(self, *args: Any, **kwargs: Any) -> None:
        self.deadline = time.monotonic() + self.seconds
        super().request(*args, **kwargs)

    def putheader(self, header: str | bytes, *values: Any) -> None:
        # The proxy sends its URL's placeholder credentials; the real ones go instead.
        name = header.decode("latin-1") if isinstance(header, bytes) else header
        if name.lower() == "authorization":
            values = (self.auth,)
        super().putheader(header, *values)

    def getresponse(self) -> Any:
        response = super().getresponse()
        body = read_capped(response, limit=self.limit, deadline=self.deadline, timeout=self.seconds)
        self.answer = _answer(self.method, response, body)
        return _StandIn()


class _TlsConnection(_Connection, http.client.HTTPSConnection):
    """``_Connection`` over TLS (an ``https`` url)."""


def _connection(url: str, method: str, auth: str, *, timeout: float, limit: int) -> _Connection:
    parts = urllib.parse.urlsplit(url)
    secure = parts.scheme == "https"
    kind = _TlsConnection if secure else _Connection
    port = parts.port or (443 if secure else 80)
    return kind(
        parts.hostname or "127.0.0.1",
        port,
        method=method,
        auth=auth,
        timeout=timeout,
        limit=limit,
    )


def _placeholder_url(url: str) -> str:
    """``url`` with placeholder credentials: the proxy only sends an Authorization header
    for a URL with some, and takes them from there (unquoted) or nowhere."""
    scheme, netloc, path, query, fragment = urllib.parse.urlsplit(url)
    host = netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(
        (scheme, f"chainwatch:placeholder@{host}", path, query, fragment)
    )


class BitcoinRpc:
    """Calls one Bitcoin Core style node. ``call`` raises ``NodeFault`` and nothing else."""

    def __init__(
        self,
        url: str,
        endpoint: Endpoint,
        credentials: Credentials | None,
        *,
        limit: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.url = url
        self.endpoint = endpoint
        self.credentials = credentials
        self.limit = limit

    def call(self, method: str, *params: Any) -> Any:
        if self.credentials is None:
            raise NodeFault(
                f"no RPC credentials for {self.endpoint.daemon} at {self.endpoint.url}",
                hint="set user and password_env, or cookie = the node's .cookie file",
            )
        connection = _connection(
            self.url,
            method,
            self.credentials.basic_header(),
            timeout=self.endpoint.timeout,
            limit=self.limit,
        )
        proxy = _proxy_class()(
            _placeholder_url(self.url), method, self.endpoint.timeout, connection
        )
        try:
            proxy(*params)
            if connection.answer is None:  # the proxy returned without reading a reply
                raise ShapeError(method, "no reply read")
            return connection.answer.get("result")
        except Exception as exc:  # every failure, whatever raised it, becomes a NodeFault
            raise from_exception(self.endpoint, method, exc) from None
        finally:
            connection.close()
