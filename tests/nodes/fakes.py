"""Servers on 127.0.0.1 for what cannot run here or must misbehave on purpose.

``FakeNode`` is a real HTTP server speaking JSON-RPC whose answers a test chooses: geth's
documented ``admin_peers``/``net_peerCount`` replies (no geth is installed here), or faults: a
status code, a body that is not JSON, a hang, a body without end, bytes that are not HTTP.
It records each request (method, headers) so tests can count retries and check credentials.
``EchoingNode`` is a hostile one: it echoes the request's headers and the secrets it knows back
inside JSON-RPC errors, HTTP reason phrases and answer fields.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """What to answer. ``action``: ``send`` (status, body), ``hang`` (never answer), ``endless``
    (2xx headers, then bytes until the client goes away), ``raw`` (``body`` bytes, not HTTP)."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    action: str = "send"
    reason: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def result(value: Any, request_id: Any = 1) -> Reply:
    return Reply(body=json.dumps({"jsonrpc": "2.0", "id": request_id, "result": value}).encode())


def error(code: int, message: str, status: int = 200, data: Any = None) -> Reply:
    body: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        body["data"] = data
    return Reply(
        status=status, body=json.dumps({"jsonrpc": "2.0", "id": 1, "error": body}).encode()
    )


@dataclass
class Seen:
    path: str
    method: str | None
    headers: dict[str, str]


Behaviour = Callable[[str | None, str], Reply]


@dataclass
class FakeNode:
    """``behaviour(method, path) -> Reply``; ``method`` is the JSON-RPC method (None if the
    body is not JSON-RPC)."""

    behaviour: Behaviour
    seen: list[Seen] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    method = json.loads(raw).get("method") if raw else None
                except ValueError:
                    method = None
                headers = dict(self.headers.items())
                fake.seen.append(Seen(self.path, method, headers))
                fake.answer(self, fake.reply(method, self.path, headers))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A short poll interval: shutdown() waits up to one interval, once per test.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def reply(self, method: str | None, path: str, headers: dict[str, str]) -> Reply:
        return self.behaviour(method, path)

    def methods(self) -> list[str | None]:
        return [s.method for s in self.seen]

    def answer(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.action == "hang":
            self.stopping.wait(60)
            return
        if reply.action == "raw":
            handler.wfile.write(reply.body)
            handler.close_connection = True
            return
        if reply.action == "endless":
            handler.send_response(200)
            handler.send_header("Content-Type", reply.content_type)
            handler.send_header("Content-Length", str(1 << 40))
            handler.end_headers()
            chunk = b" " * 65536
            try:
                while not self.stopping.is_set():
                    handler.wfile.write(chunk)
            except OSError:  # the client stopped reading and closed: what the test wants
                pass
            handler.close_connection = True
            return
        handler.send_response(reply.status, reply.reason)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        handler.wfile.write(reply.body)

    def __enter__(self) -> FakeNode:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


#: geth's documented admin_peers reply (https://geth.ethereum.org/docs/interacting-with-geth/
#: rpc/ns-admin#admin-peers), with documentation addresses.
GETH_PEERS: list[dict[str, Any]] = [
    {
        "caps": ["eth/66", "eth/67", "snap/1"],
        "enode": "enode://bc4ef2cd1ea8a8b8f16e3e8e9b7b1a8c9b7c1c5c4f0f3b1dbd8f6c2bfee1a2b3c4d5e6f7a8b9"
        "c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2@203.0.113.7:30303",
        "enr": "enr:-KO4QHf0test",
        "id": "3b1e1b2c8f8a6a6f0d1c5e8b4b2e7d9c1a0f3e5d7c9b1a3e5f7d9b1c3e5a7f9b",
        "name": "Geth/v1.13.14-stable-2bd6bd01/linux-amd64/go1.21.7",
        "network": {
            "inbound": False,
            "localAddress": "192.0.2.10:51234",
            "remoteAddress": "203.0.113.7:30303",
            "static": False,
            "trusted": False,
        },
        "protocols": {"eth": {"version": 68}, "snap": {"version": 1}},
    },
    {
        "caps": ["eth/68"],
        "enode": "enode://9f0c@198.51.100.20:30303",
        "id": "9f0c5b7e2d4a6c8e0f1a3b5d7f9e1c3a5b7d9f1e3c5a7b9d1f3e5c7a9b1d3f5e",
        "name": "Nethermind/v1.25.4+20b10b35/linux-x64/dotnet8.0.2",
        "network": {
            "inbound": True,
            "localAddress": "192.0.2.10:30303",
            "remoteAddress": "198.51.100.20:41822",
            "static": False,
            "trusted": False,
        },
        "protocols": {"eth": {"version": 68}},
    },
]


def geth(peers: list[dict[str, Any]] | None = None, *, admin: bool = True) -> Behaviour:
    """A geth node's JSON-RPC; ``admin=False`` answers admin_* as geth does without the API."""
    listed = GETH_PEERS if peers is None else peers

    def behaviour(method: str | None, path: str) -> Reply:
        if method == "net_peerCount":
            return result(hex(len(listed)))
        if method == "admin_peers":
            if not admin:
                return error(-32601, "the method admin_peers does not exist/is not available")
            return result(listed)
        return error(-32601, f"the method {method} does not exist/is not available")

    return behaviour


#: Ends every echo, so a test can see the whole echo came through (masked, not cut short).
ECHO_END = "end of echo"


def echo_text(headers: dict[str, str], user: str, password: str, *, full: bool = False) -> str:
    """What a hostile or careless server says back: the request's Authorization header, the
    Basic credentials decoded, and the configured secret as config files, URLs and encoders
    write it; ``full`` adds every request header in the forms servers and proxies print them
    (Python, JSON, raw HTTP, Go)."""
    pair = f"{user}:{password}".encode()
    parts = [f"Authorization: {headers.get('Authorization', '')}"]
    scheme, _, credential = headers.get("Authorization", "").partition(" ")
    if scheme == "Basic":
        parts.append(f"decoded {base64.b64decode(credential).decode('utf-8', 'replace')}")
    parts += [
        f"rpcpassword={password}",
        f"plain {password}",
        f"b64 {base64.b64encode(password.encode()).decode()}",
        f"urlsafe {base64.urlsafe_b64encode(pair).decode().rstrip('=')}",
        f"url http://{urllib.parse.quote(user)}:{urllib.parse.quote(password, safe='')}@node/",
        f"form {urllib.parse.quote_plus(password)}",
    ]
    if full:
        raw = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        go = " ".join(f"{name}:[{value}]" for name, value in headers.items())
        parts += [
            f"headers {headers!r}",
            f"json {json.dumps(headers)}",
            f"raw {raw}",
            f"go map[{go}]",
            f"rpcauth={user}:{password}",
            json.dumps({"password": password}),
        ]
    return "; ".join([*parts, ECHO_END])


@dataclass
class EchoingNode(FakeNode):
    """A server at a node's URL that echoes each request back, with the secret it knows (a
    node is configured with its RPC password, after all).

    ``where``: ``error`` (inside a JSON-RPC error's message and data, with the status a node
    of ``kind`` uses), ``reason`` (the HTTP reason phrase of a 403), or ``answer`` (inside the
    fields of an otherwise good answer: ``answers`` maps a method to a builder given the echo).
    ``digest``: challenge requests without credentials the way monerod's ``--rpc-login`` does.
    """

    behaviour: Behaviour = field(default=lambda method, path: Reply())
    user: str = ""
    password: str = ""
    where: str = "error"
    status: int = 200
    digest: bool = False
    answers: dict[str, Callable[[str], Any]] = field(default_factory=dict)

    def reply(self, method: str | None, path: str, headers: dict[str, str]) -> Reply:
        if self.digest and "Authorization" not in headers:
            challenge = (
                'Digest qop="auth",algorithm=MD5,realm="monero-rpc",nonce="4f2c1e",stale=false'
            )
            return Reply(status=401, headers={"WWW-Authenticate": challenge})
        if self.where == "reason":
            echo = echo_text(headers, self.user, self.password)
            return Reply(status=403, reason=echo, content_type="text/plain")
        if self.where == "answer":
            return result(
                self.answers[method or ""](echo_text(headers, self.user, self.password, full=True))
            )
        echo = echo_text(headers, self.user, self.password)
        full = echo_text(headers, self.user, self.password, full=True)
        return error(-32603, f"cannot serve {method}: {echo}", status=self.status, data=full)
