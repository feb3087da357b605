"""Credentials never come back out: a hostile server at a node's URL echoes the request's
Authorization header and the secret it knows (decoded, base64, URL-encoded, ``rpcpassword=``)
in JSON-RPC errors, HTTP reason phrases and answer fields, for every node kind (Basic
authentication for bitcoind/litecoind/ethereum, digest for monerod, a bitcoind cookie file).
Through the CLI (``scan --watcher``, ``status``, ``run --once``) on SQLite and PostgreSQL, no
form of the secret is found on stdout, stderr, the ``run`` log or any row of the database,
while the rest of the node's message is kept."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from chainwatch.config import Secret
from chainwatch.nodes.auth import Credentials
from chainwatch.nodes.redact import Redactor
from chainwatch.store.models import Event, Scan, WatcherRun
from tests.nodes.conftest import dump_db, write_config
from tests.nodes.fakes import ECHO_END, GETH_PEERS, EchoingNode, echo_text
from tests.nodes.test_ethereum import doc_watchlist
from tests.nodes.test_litecoin import rows

USER = "chainwatch"
#: Characters that base64, URL-encoding, JSON and the patterns each treat differently.
PASSWORD = 'Pw+/=S3cr%t&x y"q-7f3a9c1e'
#: What each kind's node sends with a JSON-RPC error (Bitcoin Core: HTTP 500), and how it
#: asks for credentials (monerod's --rpc-login: an HTTP digest challenge).
NODES: dict[str, dict[str, Any]] = {
    "bitcoin": {"status": 500},
    "litecoin": {"status": 500},
    "monero": {"digest": True},
    "ethereum": {},
}
SCHEME = {"bitcoin": "Basic", "litecoin": "Basic", "monero": "Digest", "ethereum": "Basic"}


def forms(user: str, password: str) -> set[str]:
    """Every text form of the secret that must not come back out."""
    pair = f"{user}:{password}".encode()
    found = {password, f"{user}:{password}", json.dumps(password)[1:-1]}
    for raw in (pair, password.encode()):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(raw).decode()
            found |= {text, text.rstrip("=")}
    for quote in (urllib.parse.quote, urllib.parse.quote_plus):
        found |= {quote(password, safe=""), quote(f"{user}:{password}", safe="")}
    return found


def sent_credentials(node: EchoingNode) -> set[str]:
    """The Authorization values that went out, and each Digest parameter's value (``response``
    is computed from the password)."""
    values = {s.headers["Authorization"] for s in node.seen if "Authorization" in s.headers}
    for value in list(values):
        if value.startswith("Digest "):
            values |= set(re.findall(r'\b(?:response|cnonce)="([^"]+)"', value))
    assert values, "no credentials were sent"
    return values


def everything_seen(
    cli: Any, db_url: str, tmp_path: Path, config: Path, watcher: str
) -> tuple[str, str]:
    """``scan --watcher``, ``status`` and ``run --once --watcher`` through the CLI; returns the
    one error recorded for the scan and every text they left (output, run log, database)."""
    common = ("--db", db_url, "--config", config, "--watchlists", doc_watchlist(tmp_path))
    scan = cli(*common, "scan", "--watcher", watcher)
    assert scan.exit_code != 0
    status = cli(*common, "status")
    assert status.exit_code == 0, status.stderr
    run = cli(*common, "run", "--once", "--watcher", watcher)
    assert run.exit_code != 0
    [first, _] = rows(db_url, Scan)
    [error] = first.errors
    runs = rows(db_url, WatcherRun)
    assert [r.error for r in runs] == [error, error]
    assert f"failed: {error}" in " ".join(scan.stderr.split())
    assert "last error" in status.stdout and f"error={error}" in run.stderr
    texts = [scan.stdout, scan.stderr, status.stdout, status.stderr, run.stdout, run.stderr]
    return error, "\n".join([*texts, dump_db(db_url)])


def assert_no_secret(text: str, node: EchoingNode, user: str, password: str) -> None:
    for form in forms(user, password) | sent_credentials(node):
        assert form not in text, f"{form!r} leaked"


@pytest.mark.parametrize("where", ["error", "reason"])
@pytest.mark.parametrize("kind", list(NODES))
def test_echoed_credentials_are_masked(
    cli: Any,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    where: str,
) -> None:
    monkeypatch.setenv("NODE_PASSWORD", PASSWORD)
    with EchoingNode(user=USER, password=PASSWORD, where=where, **NODES[kind]) as node:
        entry = {"name": "hostile", "kind": kind, "url": node.url, "retries": 0}
        entry |= {"user": USER, "password_env": "NODE_PASSWORD"}
        config = write_config(tmp_path / "cw.toml", entry)
        error, seen = everything_seen(cli, db_url, tmp_path, config, "hostile")
    assert_no_secret(seen, node, USER, PASSWORD)
    # The node's message is kept, its credentials masked, not cut off: the whole echo is there.
    assert f"Authorization: {SCHEME[kind]} ***; " in error
    assert error.endswith(f"{ECHO_END} (code -32603); look at the node's log") or (
        where == "reason" and f"{ECHO_END}); " in error
    )
    assert "rpcpassword=***; plain ***; b64 ***; urlsafe ***" in error


def test_cookie_contents_are_masked(cli: Any, db_url: str, tmp_path: Path) -> None:
    cookie_user, cookie_password = "__cookie__", "9c1e5b7f" * 8
    cookie = tmp_path / ".cookie"
    cookie.write_text(f"{cookie_user}:{cookie_password}")
    with EchoingNode(user=cookie_user, password=cookie_password, status=500) as node:
        entry = {"name": "btc", "kind": "bitcoin", "url": node.url, "retries": 0}
        config = write_config(tmp_path / "cw.toml", entry | {"cookie": str(cookie)})
        error, seen = everything_seen(cli, db_url, tmp_path, config, "btc")
    assert_no_secret(seen, node, cookie_user, cookie_password)
    assert "Authorization: Basic ***; decoded ***; rpcpassword=***" in error


def _bitcoind_echoing(echo: str) -> dict[str, Any]:
    peer = {
        "addr": "203.0.113.9:8333",
        "addrbind": "192.0.2.1:8333",
        "version": 70016,
        "subver": echo,
        "inbound": False,
        "conntime": 1700000000,
        "id": 1,
    }
    return {
        "getnetworkinfo": lambda echo: {"subversion": echo, "version": 270000},
        "getpeerinfo": lambda echo: [peer | {"subver": echo}],
        "getnodeaddresses": lambda echo: [],
    }


@pytest.mark.parametrize("kind", ["bitcoin", "ethereum"])
def test_credentials_echoed_in_answers_are_masked(
    cli: Any, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A node that puts the request's headers into a field it answers with (a peer's client
    name): the field is stored and printed masked, the rest of the answer as it was."""
    monkeypatch.setenv("NODE_PASSWORD", PASSWORD)
    answers = (
        _bitcoind_echoing("")
        if kind == "bitcoin"
        else {
            "net_peerCount": lambda echo: "0x1",
            "admin_peers": lambda echo: [GETH_PEERS[0] | {"name": echo}],
        }
    )
    with EchoingNode(user=USER, password=PASSWORD, where="answer", answers=answers) as node:
        entry = {"name": "echo", "kind": kind, "url": node.url, "retries": 0}
        entry |= {"user": USER, "password_env": "NODE_PASSWORD"}
        config = write_config(tmp_path / "cw.toml", entry)
        done = cli(
            "--db", db_url, "--config", config, "--watchlists", doc_watchlist(tmp_path), "scan"
        )
    assert done.exit_code == 0, done.stderr
    assert_no_secret("\n".join([done.stdout, done.stderr, dump_db(db_url)]), node, USER, PASSWORD)
    [event] = rows(db_url, Event)
    assert event.local_ip == "203.0.113.7" if kind == "ethereum" else "203.0.113.9"
    agent = event.detail["user_agent"]
    assert agent.startswith("Authorization: Basic ***; ") and agent.endswith(ECHO_END)
    assert "'Authorization': 'Basic ***'" in agent and "rpcauth=***" in agent


def test_redactor_masks_every_form_and_leaves_honest_text() -> None:
    """The same checks without a server: every echo form of Basic, Digest and cookie
    credentials, and that text and answers holding no credential come back unchanged."""
    secret = Credentials(USER, Secret(PASSWORD))
    redactor = Redactor([secret])
    basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    digest = (
        'Digest username="chainwatch", realm="monero-rpc", nonce="4f2c1e", uri="/json_rpc", '
        'response="0b1c5e3f9d2a7c6b8e4f1a0d3c2b5a69", qop="auth", nc=00000001, '
        'cnonce="7e1f0c9a2b3d4e5f", algorithm="MD5"'
    )
    for header in (basic, digest, "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"):
        headers = {"Host": "127.0.0.1:8332", "Authorization": header, "Content-Type": "x"}
        echo = echo_text(headers, USER, PASSWORD, full=True)
        for text in (echo, json.dumps({"error": {"message": echo}}), json.dumps(json.dumps(echo))):
            masked = redactor.text(text)
            for form in forms(USER, PASSWORD) | {header.split(" ", 1)[1]}:
                assert form not in masked
            for value in ("0b1c5e3f9d2a7c6b8e4f1a0d3c2b5a69", "7e1f0c9a2b3d4e5f", "4f2c1e"):
                assert value not in masked
            assert "Host" in masked and "127.0.0.1:8332" in masked and ECHO_END in masked
    cookie = "__cookie__:" + "ab" * 32
    # A Cookie header's value has no shape of its own: it is masked to the end of its line.
    assert Redactor().text(f"rpcauth=u:s$h; cookie {cookie}; Cookie: sid=1; b=2\nnext") == (
        "rpcauth=***; cookie __cookie__:***; Cookie: ***\nnext"
    )
    honest = [
        "cannot read cookie file /home/u/.bitcoin/.cookie: No such file or directory",
        "check user and the password in password_env against -rpcuser/-rpcauth in bitcoin.conf",
        "bitcoind at http://127.0.0.1:8332 refused the credentials (HTTP 401 Unauthorized)",
    ]
    for text in honest:
        assert redactor.text(text) == text
    answer = {"peers": GETH_PEERS, "count": 2}
    assert redactor.value(answer) is answer
