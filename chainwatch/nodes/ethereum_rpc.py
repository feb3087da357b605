"""An Ethereum node's RPC (geth's ``admin`` and ``net`` APIs) through web3.

web3's ``HTTPProvider`` is given a ``CappedSession`` (size and time capped, non-2xx and
non-JSON answers refused) and its own retries are switched off: retries with backoff are the
watcher's, the same for every node kind. geth has no RPC password of its own; when ``user`` and
``password_env`` are set they go out as HTTP Basic authentication, for a node behind an
authenticating reverse proxy. Every failure becomes a ``NodeFault``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chainwatch.nodes.auth import Credentials
from chainwatch.nodes.faults import Endpoint, RpcError, ShapeError, from_exception
from chainwatch.nodes.http import MAX_RESPONSE_BYTES, CappedSession


def plain(value: Any) -> Any:
    """web3's AttributeDicts and HexBytes -> plain dicts, lists and strings (JSON-ready)."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


class EthereumRpc:
    """Calls one Ethereum node. Methods raise ``NodeFault`` and nothing else."""

    def __init__(
        self,
        url: str,
        endpoint: Endpoint,
        credentials: Credentials | None,
        *,
        limit: int = MAX_RESPONSE_BYTES,
    ) -> None:
        from web3 import HTTPProvider, Web3

        session = CappedSession(timeout=endpoint.timeout, limit=limit)
        if credentials is not None:
            session.auth = (credentials.user, credentials.password.get())
        provider = HTTPProvider(
            url,
            request_kwargs={"timeout": endpoint.timeout},
            session=session,
            exception_retry_configuration=None,
        )
        self.endpoint = endpoint
        self.web3 = Web3(provider)

    def _call(self, method: str, function: Any) -> Any:
        from web3.exceptions import BadResponseFormat, Web3RPCError

        try:
            return plain(function())
        except Web3RPCError as exc:
            error: Any = (exc.rpc_response or {}).get("error") or {}
            code = error.get("code") if isinstance(error, dict) else None
            message = error.get("message") if isinstance(error, dict) else None
            cause: Exception = RpcError(method, code, str(message or exc.message))
        except BadResponseFormat:
            cause = ShapeError(method, "not a JSON-RPC reply")
        except Exception as exc:  # every failure, whatever raised it, becomes a NodeFault
            cause = exc
        raise from_exception(self.endpoint, method, cause)

    def peer_count(self) -> Any:
        return self._call("net_peerCount", lambda: self.web3.net.peer_count)

    def admin_peers(self) -> Any:
        return self._call("admin_peers", self.web3.geth.admin.peers)
