"""monerod's RPC through the ``monero`` package's JSON-RPC daemon backend.

The backend's own ``requests`` session is replaced by a ``CappedSession`` (size and time
capped, non-2xx and non-JSON answers refused before the library sees them), and its logger is
given a ``NullHandler`` and kept from propagating, so its error paths do not print whole
answers (an echoing node's included) to stderr, through logging's last-resort handler or any
handler on the root logger. Every failure becomes a ``NodeFault``.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from typing import Any

from chainwatch.nodes.auth import Credentials
from chainwatch.nodes.faults import Endpoint, NodeFault, RpcError, from_exception
from chainwatch.nodes.http import MAX_RESPONSE_BYTES, CappedSession


def _quiet(name: str) -> None:
    logger = logging.getLogger(name)
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    # Nor through any handler a host program set on the root logger: the backend logs whole
    # answers (an echoing node's included), which chainwatch reports masked, its own way.
    logger.propagate = False


class MoneroRpc:
    """Calls one monerod. Methods raise ``NodeFault`` and nothing else."""

    def __init__(
        self,
        url: str,
        endpoint: Endpoint,
        credentials: Credentials | None,
        *,
        limit: int = MAX_RESPONSE_BYTES,
    ) -> None:
        from monero.backends.jsonrpc import JSONRPCDaemon

        _quiet("monero")
        parts = urllib.parse.urlsplit(url)
        self.endpoint = endpoint
        self.daemon = JSONRPCDaemon(
            protocol=parts.scheme,
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (443 if parts.scheme == "https" else 18081),
            user=credentials.user if credentials else "",
            # monerod's --rpc-login uses HTTP digest authentication; requests computes it.
            password=credentials.password.get() if credentials else "",
            timeout=endpoint.timeout,
        )
        # The backend builds "<scheme>://<host>:<port>"; keep a path prefix (a reverse proxy).
        self.daemon.url += parts.path.rstrip("/")
        self.daemon.session = CappedSession(timeout=endpoint.timeout, limit=limit)

    def _call(self, method: str, function: Any) -> Any:
        from monero.backends.jsonrpc.exceptions import MethodNotFound
        from monero.exceptions import DaemonIsBusy

        try:
            return function()
        except DaemonIsBusy:
            raise NodeFault(
                f"{self.endpoint.daemon} at {self.endpoint.url} is busy syncing",
                hint="it answers again when it has caught up",
                transient=True,
            ) from None
        except MethodNotFound:
            raise from_exception(
                self.endpoint, method, RpcError(method, -32601, "method not found")
            ) from None
        except Exception as exc:  # every failure, whatever raised it, becomes a NodeFault
            raise from_exception(self.endpoint, method, _rpc_error(method, exc)) from None

    def get_info(self) -> Any:
        return self._call("get_info", self.daemon.get_info)

    def get_connections(self) -> Any:
        # The backend returns the JSON-RPC "result" member (connections, status).
        return self._call("get_connections", self.daemon.get_connections)

    def get_peer_list(self) -> Any:
        return self._call("get_peer_list", self.daemon.get_peer_list)


_BACKEND_RPC_ERROR = re.compile(
    r"Method '[^']*' failed with RPC Error of unknown code (?P<code>-?\d+), "
    r"message: (?P<message>.*)",
    re.DOTALL,
)


def _rpc_error(method: str, exc: Exception) -> Exception:
    """The backend reports a JSON-RPC error object as ``RPCError`` with the node's message in
    its text; give it the same shape as other nodes' errors."""
    from monero.backends.jsonrpc.exceptions import RPCError

    if type(exc) is RPCError:
        # The backend writes "Method 'M' failed with RPC Error of unknown code C, message: T";
        # take the node's code and text out of it (the whole text if its wording changes).
        found = _BACKEND_RPC_ERROR.fullmatch(str(exc))
        if found:
            return RpcError(method, int(found["code"]), found["message"])
        return RpcError(method, None, str(exc))
    return exc
