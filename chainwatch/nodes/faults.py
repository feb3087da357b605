"""What went wrong talking to a node, in one line, and whether trying again may help.

Every failure of a node request becomes a ``NodeFault``: a problem ("cannot reach monerod at
http://127.0.0.1:18081: connection refused"), a hint saying what to check, and whether it is
*transient* (down, slow, busy, a 5xx: worth a retry with backoff) or not (wrong password, not
a node, a shape we do not understand: retrying would only repeat it). The node watcher turns
the last fault into a ``WatcherError``. Messages never carry credentials: URLs here are public
URLs, the bodies of answers are described (size, content type), never quoted, and what a node
does say (its JSON-RPC error message, its HTTP reason phrase, a field of an answer) passes the
endpoint's ``Redactor`` before it is cut to one line.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import requests

from chainwatch.nodes.http import HttpStatus, NotJson, TooLarge, TooSlow
from chainwatch.nodes.redact import Redactor

T = TypeVar("T")
#: Longest pause between two attempts.
MAX_BACKOFF = 10.0


class NodeFault(Exception):
    """A node request failed; ``problem`` and ``hint`` become the watcher's error message."""

    def __init__(self, problem: str, *, hint: str | None = None, transient: bool = False) -> None:
        super().__init__(problem)
        self.problem = problem
        self.hint = hint
        self.transient = transient

    def after(self, attempts: int) -> NodeFault:
        """The same fault, saying how many attempts were made."""
        return NodeFault(
            f"{self.problem} (gave up after {attempts} attempts)",
            hint=self.hint,
            transient=self.transient,
        )


class ShapeError(Exception):
    """An answer parsed as JSON but is not shaped as the method documents."""

    def __init__(self, method: str, problem: str) -> None:
        super().__init__(f"{method}: {problem}")
        self.method = method
        self.problem = problem


class RpcError(Exception):
    """The node answered a JSON-RPC error object."""

    def __init__(self, method: str, code: int | None, message: str) -> None:
        super().__init__(f"{method}: {message} (code {code})")
        self.method = method
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Hints:
    """Node-specific advice for each kind of fault."""

    unreachable: str
    credentials: str
    forbidden: str
    not_a_node: str
    missing_method: str = "is the node recent enough to serve this method?"


@dataclass(frozen=True)
class Endpoint:
    """Which node a fault is about: its program, its public URL and the request timeout, and
    the ``Redactor`` masking the credentials sent to it in whatever it says back."""

    daemon: str
    url: str
    timeout: float
    hints: Hints
    redactor: Redactor = field(default_factory=Redactor)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what caused it, and so on (requests and urllib3 wrap the OS error)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        stack.extend([item.__cause__, item.__context__])
        reason = getattr(item, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
        stack.extend(arg for arg in getattr(item, "args", ()) if isinstance(arg, BaseException))


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def from_exception(ep: Endpoint, method: str, exc: BaseException) -> NodeFault:
    """Describe a failed request for a person, with credentials masked."""
    fault = _describe(ep, method, exc)
    problem = ep.redactor.text(fault.problem)
    if problem == fault.problem:
        return fault
    return NodeFault(problem, hint=fault.hint, transient=fault.transient)


def _describe(ep: Endpoint, method: str, exc: BaseException) -> NodeFault:
    where = f"{ep.daemon} at {ep.url}"
    if isinstance(exc, NodeFault):
        return exc
    if isinstance(exc, HttpStatus):
        return _status_fault(ep, method, exc)
    if isinstance(exc, TooLarge):
        return NodeFault(
            f"{where} sent an answer to {method} larger than {exc.limit // (1024 * 1024)} MiB; "
            "stopped reading",
            hint=ep.hints.not_a_node,
        )
    if isinstance(exc, TooSlow):
        return NodeFault(
            f"{where} did not finish answering {method} within {exc.seconds:g} s",
            hint="is the node overloaded? raise the watcher's timeout if it is only slow",
            transient=True,
        )
    if isinstance(exc, NotJson):
        kind = f", content type {exc.content_type}" if exc.content_type else ""
        return NodeFault(
            f"{where} answered {method} with {exc.size} bytes that are not JSON{kind}",
            hint=ep.hints.not_a_node,
        )
    if isinstance(exc, ShapeError):
        return NodeFault(
            f"unexpected answer to {method} from {where}: {exc.problem}", hint=ep.hints.not_a_node
        )
    if isinstance(exc, RpcError):
        return _rpc_fault(ep, exc)
    return _transport_fault(ep, method, exc)


def _status_fault(ep: Endpoint, method: str, exc: HttpStatus) -> NodeFault:
    where = f"{ep.daemon} at {ep.url}"
    reason = _one_line(ep.redactor.text(exc.reason)) if exc.reason else ""
    status = f"HTTP {exc.status}" + (f" {reason}" if reason else "")
    if exc.status == 401:
        return NodeFault(f"{where} refused the credentials ({status})", hint=ep.hints.credentials)
    if exc.status == 403:
        return NodeFault(f"{where} refused access to {method} ({status})", hint=ep.hints.forbidden)
    if exc.status in {404, 405}:
        return NodeFault(
            f"{where} has no JSON-RPC service here ({status})", hint=ep.hints.not_a_node
        )
    if exc.status >= 500:
        return NodeFault(
            f"{where} failed to answer {method} ({status})",
            hint="look at the node's log; it may be starting up or out of resources",
            transient=True,
        )
    return NodeFault(f"{where} answered {method} with {status}", hint=ep.hints.not_a_node)


def _rpc_fault(ep: Endpoint, exc: RpcError) -> NodeFault:
    where = f"{ep.daemon} at {ep.url}"
    # Masked before it is cut short, so no part of a secret is left at the cut.
    message = _one_line(ep.redactor.text(exc.message))
    if exc.code == -32601:
        return NodeFault(
            f"{where} does not serve {exc.method}: {message}", hint=ep.hints.missing_method
        )
    # Bitcoin Core's RPC_IN_WARMUP: the node is loading its block index and will answer soon.
    transient = exc.code == -28
    return NodeFault(
        f"{where} answered {exc.method} with an error: {message} (code {exc.code})",
        hint="look at the node's log" if not transient else "the node is starting up",
        transient=transient,
    )


def _transport_fault(ep: Endpoint, method: str, exc: BaseException) -> NodeFault:
    where = f"{ep.daemon} at {ep.url}"
    causes = list(_causes(exc))
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return NodeFault(
            f"cannot reach {where}: connection refused", hint=ep.hints.unreachable, transient=True
        )
    if any(isinstance(c, socket.gaierror) for c in causes):
        return NodeFault(
            f"cannot reach {where}: the host name does not resolve",
            hint="check the host in url",
        )
    if any(isinstance(c, TimeoutError | requests.Timeout) for c in causes):
        return NodeFault(
            f"{where} did not answer {method} within {ep.timeout:g} s",
            hint="is the node overloaded or stuck? raise the watcher's timeout if it is only slow",
            transient=True,
        )
    if any(isinstance(c, http.client.BadStatusLine) for c in causes) or any(
        "BadStatusLine" in type(c).__name__ or "BadStatusLine" in str(c) for c in causes
    ):
        return NodeFault(
            f"{where} answered {method} with something that is not HTTP",
            hint=ep.hints.not_a_node,
        )
    if any(
        isinstance(c, ConnectionResetError | http.client.RemoteDisconnected | BrokenPipeError)
        for c in causes
    ):
        return NodeFault(
            f"{where} closed the connection before answering {method}",
            hint=ep.hints.unreachable,
            transient=True,
        )
    if any(isinstance(c, http.client.HTTPException | requests.RequestException) for c in causes):
        return NodeFault(
            f"{where} gave a broken HTTP answer to {method} ({type(exc).__name__})",
            hint=ep.hints.not_a_node,
            transient=True,
        )
    if any(isinstance(c, OSError) for c in causes):
        os_error = next(c for c in causes if isinstance(c, OSError))
        reason = os_error.strerror or type(os_error).__name__
        return NodeFault(
            f"cannot reach {where}: {reason}", hint=ep.hints.unreachable, transient=True
        )
    return NodeFault(
        f"request {method} to {where} failed ({type(exc).__name__})", hint=ep.hints.not_a_node
    )


def with_retries(
    call: Callable[[], T],
    *,
    retries: int,
    backoff: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    should_stop: Callable[[], bool] = lambda: False,
) -> T:
    """Run ``call``; on a transient ``NodeFault`` wait (0.5 s, 1 s, 2 s, ...) and try again, up
    to ``retries`` more times. The last fault is raised, saying how many attempts were made."""
    attempt = 0
    while True:
        try:
            return call()
        except NodeFault as fault:
            if not fault.transient or attempt >= retries or should_stop():
                raise (fault.after(attempt + 1) if attempt else fault) from None
            sleep(min(backoff * 2**attempt, MAX_BACKOFF))
            attempt += 1
