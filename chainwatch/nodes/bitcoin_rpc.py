"""Bitcoin Core style JSON-RPC (bitcoind, litecoind) through bitcoinlib's ``AuthServiceProxy``.

A thin layer over the proxy: it reads answers through ``chainwatch.nodes.http.read_capped``
(size and time capped, JSON checked, HTTP status looked at) instead of the proxy's unbounded
read, builds the Basic authentication header from a ``Secret`` itself (so passwords need no
URL quoting and never sit in a URL), parses numbers as floats, and turns every failure into a
``NodeFault``. bitcoinlib is imported on first use only: importing it creates
``~/.bitcoinlib`` (or ``$BCL_DATA_DIR``), which only a machine running this watcher should get.
"""

from __future__ import annotations

import functools
import time
import warnings
from typing import Any

from chainwatch.nodes.auth import Credentials
from chainwatch.nodes.faults import Endpoint, NodeFault, RpcError, ShapeError, from_exception
from chainwatch.nodes.http import MAX_RESPONSE_BYTES, HttpStatus, NotJson, check_json, read_capped


@functools.cache
def _proxy_class() -> Any:
    with warnings.catch_warnings():
        # bitcoinlib's own modules use SQLAlchemy APIs that SQLAlchemy 2 warns about.
        warnings.simplefilter("ignore", DeprecationWarning)
        from bitcoinlib.services.authproxy import AuthServiceProxy

    class CappedProxy(AuthServiceProxy):  # type: ignore[misc]
        """``AuthServiceProxy`` whose answers are read within a size and a time limit."""

        limit = MAX_RESPONSE_BYTES
        timeout = 10.0
        deadline = 0.0

        def _get_response(self) -> dict[str, Any]:
            method = self._AuthServiceProxy__service_name
            response = self._AuthServiceProxy__conn.getresponse()
            body = read_capped(
                response, limit=self.limit, deadline=self.deadline, timeout=self.timeout
            )
            status = response.status
            if status in {401, 403}:
                raise HttpStatus(status, response.reason)
            try:
                answer = check_json(body, response.getheader("Content-Type"))
            except NotJson:
                if status != 200:
                    raise HttpStatus(status, response.reason) from None
                raise
            # Bitcoin Core sends JSON-RPC errors with status 404 or 500 and a JSON body; any
            # other body with such a status is the server's (or a proxy's) own failure page.
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

    return CappedProxy


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
        proxy = _proxy_class()(self.url, method, self.endpoint.timeout)
        proxy.limit = self.limit
        proxy.timeout = self.endpoint.timeout
        proxy.deadline = time.monotonic() + self.endpoint.timeout
        # Set after construction: the proxy would otherwise take credentials from the URL.
        proxy._AuthServiceProxy__auth_header = self.credentials.basic_header().encode("ascii")
        try:
            return proxy(*params)
        except Exception as exc:  # every failure, whatever raised it, becomes a NodeFault
            raise from_exception(self.endpoint, method, exc) from None
        finally:
            proxy._AuthServiceProxy__conn.close()
