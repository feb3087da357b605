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


#: The admin_peers replies other clients document, with documentation addresses. Besu:
#: besu.hyperledger.org, API methods, admin_peers (id with 0x, no inbound, hex port).
BESU_PEERS: list[dict[str, Any]] = [
    {
        "version": "0x5",
        "name": "besu/v20.10.4-dev-0905d1b2/osx-x86_64/adoptopenjdk-java-11",
        "caps": ["eth/62", "eth/63", "eth/64", "eth/65", "IBF/1"],
        "network": {"localAddress": "192.0.2.10:50115", "remoteAddress": "203.0.113.30:40303"},
        "port": "0x765f",
        "id": "0xe143eadaf670d49afa3327cae2e655b083f5a89dac037c9af065914a9f8e6bceebcfe7ae2258bd"
        "22a9cd18b6a6de07b9790e71de49b78afa456e401bd2fb22fc",
        "protocols": {"eth": {"difficulty": "0x1ac", "head": "0x9640", "version": 65}},
        "enode": "enode://e143eadaf670d49afa3327cae2e655b083f5a89dac037c9af065914a9f8e6bceebcfe7a"
        "e2258bd22a9cd18b6a6de07b9790e71de49b78afa456e401bd2fb22fc@203.0.113.30:30303",
    }
]
#: Nethermind (docs.nethermind.io, admin namespace): geth's fields plus clientType, ethDetails
#: and lastSignal.
NETHERMIND_PEERS: list[dict[str, Any]] = [
    {
        "caps": ["eth/68", "snap/1"],
        "clientType": 3,
        "enode": "enode://deed356ddcaa1eb33a859b818a134765fff2a3dd5cd5b3d6cbe08c9424dca53b947bdc1c6"
        "4e6f1257e29bb2960ac0a4fb56e307f360b7f8d4ddf48024cdb9d68@203.0.113.31:30303",
        "enr": "enr:-Ji4QExample",
        "ethDetails": "eth68",
        "id": "b70bb308924de8247d73844f80561e488ae731105a6ef46004e4579edd4f378a",
        "lastSignal": "2026-11-27T17:00:00Z",
        "name": "Nethermind/v1.25.4+20b10b35/linux-x64/dotnet8.0.2",
        "network": {
            "inbound": True,
            "localAddress": "192.0.2.10:30303",
            "remoteAddress": "203.0.113.31:51712",
            "static": False,
            "trusted": True,
        },
        "protocols": {"eth": {"version": 68}},
    }
]
#: Nethermind before 1.20 (its JSON-RPC admin module page): a flat PeerInfo, no direction.
NETHERMIND_LEGACY_PEERS: list[dict[str, Any]] = [
    {
        "clientId": "Nethermind/v1.10.37-0-068e5c399-20210315/X64-Linux/5.0.3",
        "host": "203.0.113.32",
        "port": 30303,
        "address": "203.0.113.32:30303",
        "isBootnode": False,
        "isTrusted": False,
        "isStatic": True,
        "enode": "enode://5d43a6b2bf3ac0f1e7bb1d2cdf1a0e3d4c5b6a79887766554433221100ffeeddccbbaa"
        "99887766554433221100ffeeddccbbaa99887766554433221100112233@203.0.113.32:30303",
    }
]
#: Erigon (docs.erigon.tech, admin namespace): geth's PeerInfo, a 64-digit id.
ERIGON_PEERS: list[dict[str, Any]] = [
    {
        "enr": "enr:-J24QExample",
        "enode": "enode://a979fb575495b8d6db44f750317d0f4622bf4c2aa3365d6af7c284339968eef29b69ad0dc"
        "e72a4d8db5ebb4968de0e3bec910127f134779fbcb0cb6d3331163c@203.0.113.33:30303",
        "id": "6f8a80d14311c39f35f516fa664deaaaa13e85b2f7493f37f6144d86991ec012",
        "name": "erigon/v2.60.0-aeec5221/linux-amd64/go1.21.5",
        "caps": ["eth/67", "eth/68"],
        "network": {
            "localAddress": "192.0.2.10:30303",
            "remoteAddress": "203.0.113.33:30303",
            "inbound": False,
            "trusted": False,
            "static": True,
        },
        "protocols": {"eth": {"version": 68}},
    }
]
#: ethereumjs 0.10 (as two real nodes answered here, addresses replaced): no enode, no
#: localAddress, no inbound; a 128-digit id.
ETHEREUMJS_PEERS: list[dict[str, Any]] = [
    {
        "id": "ccb42d4bb7e8cab38495ce3b026da73e1df6415007ed8ab9b617f90dcf257f02fd81c80640bf6c11"
        "fd4633b4511548ac5b4fdff28d6bed272ffdc6c2cbdc7e70",
        "name": "EthereumJS/0.10.5/linux/node20.20.2",
        "protocols": {"eth": {"head": "0x512e", "difficulty": "1", "version": 68}},
        "caps": ["eth/66", "eth/67", "eth/68"],
        "network": {"remoteAddress": "203.0.113.34:43636"},
    }
]
