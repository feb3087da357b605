"""Node faults against real sockets on 127.0.0.1: nothing listening, a server answering
garbage, bytes that are not HTTP, a hang, a body without end, 401/403/500, and answers of the
wrong shape, for each HTTP stack (bitcoinlib's proxy for bitcoin, requests for monero and
web3). Each gives one line naming the watcher and what to check; the other watcher still runs;
the scan exits 3 and its record says what failed; passwords appear nowhere."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from chainwatch.config import WatcherConfig
from chainwatch.errors import WatcherError
from chainwatch.nodes.watcher import NodeWatcher
from chainwatch.store.models import Event, Scan, WatcherRun
from chainwatch.watchers import make_watcher
from tests.nodes.conftest import dump_db, write_config
from tests.nodes.fakes import FakeNode, Reply, closed_port, geth, result
from tests.nodes.test_ethereum import doc_watchlist
from tests.nodes.test_litecoin import rows
from tests.nodes.test_monero import one_line

PASSWORD = "pw-" + "7f3a9c1e5b" * 2
FIRST_METHOD = {"bitcoin": "getnetworkinfo", "monero": "get_info", "ethereum": "net_peerCount"}
DAEMON = {"bitcoin": "bitcoind", "monero": "monerod", "ethereum": "ethereum node"}


def scan_with_healthy_neighbour(
    cli: Any, db_url: str, tmp_path: Path, kind: str, url: str, *, prefix: bool = True, **extra: Any
) -> tuple[Any, str]:
    """Scan the faulty watcher ``bad`` beside a working geth ``good``; return the result and
    the one-line error recorded for ``bad``."""
    with FakeNode(geth()) as good:
        entry = {
            "name": "bad",
            "kind": kind,
            "url": url,
            "timeout": "1s",
            "retries": 0,
            "user": "chainwatch",
            "password_env": "NODE_PASSWORD",
        } | extra
        config = write_config(
            tmp_path / "cw.toml", entry, {"name": "good", "kind": "ethereum", "url": good.url}
        )
        done = cli(
            "--db", db_url, "--config", config, "--watchlists", doc_watchlist(tmp_path), "scan"
        )
    assert done.exit_code == 3, (done.stdout, done.stderr)
    [scan] = rows(db_url, Scan)
    assert scan.status == "partial" and len(scan.errors) == 1
    [error] = scan.errors
    assert error.startswith("watcher 'bad': ") or not prefix
    assert "\n" not in error
    assert f"failed: {error}" in one_line(done.stderr)
    runs = {run.watcher: run for run in rows(db_url, WatcherRun)}
    assert (runs["bad"].ok, runs["bad"].error) == (False, error)
    assert runs["good"].ok is True
    assert [e.source for e in rows(db_url, Event)] == ["good"]  # the other watcher stored
    for text in (dump_db(db_url), done.stdout, done.stderr):
        assert PASSWORD not in text
    return done, error


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODE_PASSWORD", PASSWORD)


def _fault(reply: Reply) -> Any:
    return lambda method, path: reply


FAULTS: dict[str, tuple[Reply, str, dict[str, Any]]] = {
    "garbage": (
        Reply(body=b"<html>hello</html>", content_type="text/html"),
        "{where} answered {method} with 18 bytes that are not JSON, content type text/html; is url",
        {},
    ),
    "not-http": (
        Reply(action="raw", body=b"SSH-2.0-OpenSSH_9.2p1\r\n"),
        "{where} answered {method} with something that is not HTTP; is url",
        {},
    ),
    "hang": (
        Reply(action="hang"),
        "{where} did not answer {method} within 1 s; is the node overloaded or stuck?",
        {},
    ),
    "endless": (
        Reply(action="endless"),
        "{where} sent an answer to {method} larger than 32 MiB; stopped reading; is url",
        {"timeout": 30},
    ),
    "401": (
        Reply(status=401, content_type="text/html"),
        "{where} refused the credentials (HTTP 401 Unauthorized); check user and the password",
        {},
    ),
    "403": (
        Reply(status=403, content_type="text/html"),
        "{where} refused access to {method} (HTTP 403 Forbidden);",
        {},
    ),
    "500": (
        Reply(status=500, body=b"<h1>oops</h1>", content_type="text/html"),
        "{where} failed to answer {method} (HTTP 500 Internal Server Error) (gave up after "
        "2 attempts); look at the node's log",
        {"retries": 1},
    ),
    "shape": (result([1, 2, 3]), "unexpected answer to {method} from {where}:", {}),
}


def fetch_error(kind: str, url: str, **extra: Any) -> str:
    """Poll a node once through the watcher (no store involved); return its one-line error."""
    entry: dict[str, Any] = {
        "timeout": 1.0,
        "retries": 0,
        "user": "chainwatch",
        "password_env": "NODE_PASSWORD",
    } | extra
    watcher = make_watcher(WatcherConfig(name="bad", kind=kind, url=url, **entry))
    assert isinstance(watcher, NodeWatcher)
    with pytest.raises(WatcherError) as caught:
        watcher.fetch()
    message = str(caught.value)
    assert message.startswith("watcher 'bad': ") and "\n" not in message
    assert PASSWORD not in message
    return message


@pytest.mark.parametrize("kind", ["bitcoin", "monero", "ethereum"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_is_one_clear_line(kind: str, fault: str) -> None:
    reply, expected, extra = FAULTS[fault]
    with FakeNode(_fault(reply)) as node:
        error = fetch_error(kind, node.url, **extra)
        attempts = len(node.seen)
    where = f"{DAEMON[kind]} at {node.url}"
    assert expected.format(where=where, method=FIRST_METHOD[kind]) in error
    # Transient faults (a 500) are retried with backoff; the others are not repeated.
    assert attempts == (2 if fault == "500" else 1)


@pytest.mark.parametrize(
    ("kind", "fault"), [("bitcoin", "endless"), ("monero", "garbage"), ("ethereum", "hang")]
)
def test_scan_survives_fault_with_exit_3(
    cli: Any, db_url: str, tmp_path: Path, kind: str, fault: str
) -> None:
    reply, expected, extra = FAULTS[fault]
    with FakeNode(_fault(reply)) as node:
        _, error = scan_with_healthy_neighbour(cli, db_url, tmp_path, kind, node.url, **extra)
    where = f"{DAEMON[kind]} at {node.url}"
    assert expected.format(where=where, method=FIRST_METHOD[kind]) in error


def test_wrong_shape_names_the_entry() -> None:
    peer = {"addr": "203.0.113.9:8333", "version": 70016, "inbound": "yes", "conntime": 1}
    answers = {"getnetworkinfo": {"subversion": "/Satoshi:27.0.0/"}, "getpeerinfo": [peer]}
    with FakeNode(lambda method, path: result(answers.get(method or ""))) as node:
        error = fetch_error("bitcoin", node.url)
    assert error == (
        f"watcher 'bad': unexpected answer to getpeerinfo from bitcoind at {node.url}: peer #1: "
        "'inbound' is a string, expected true or false; is url the JSON-RPC port of bitcoind "
        "(not its P2P port or another service)?"
    )


@pytest.mark.parametrize("kind", ["bitcoin", "monero", "ethereum"])
def test_nothing_listening(kind: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    error = fetch_error(kind, url, retries=1)
    assert (
        f"cannot reach {DAEMON[kind]} at {url}: connection refused (gave up after 2 "
        "attempts); is " in error
    )


def _fake_bitcoind(fail_first: int) -> tuple[Any, list[int]]:
    calls = [0]
    answers = {
        "getnetworkinfo": {"subversion": "/Satoshi:27.0.0/", "version": 270000},
        "getpeerinfo": [
            {
                "addr": "203.0.113.9:8333",
                "addrbind": "192.0.2.1:8333",
                "version": 70016,
                "subver": "/Satoshi:26.0.0/",
                "inbound": True,
                "conntime": 1700000000,
                "bytessent": 10,
                "bytesrecv": 20,
                "id": 7,
            }
        ],
        "getnodeaddresses": [
            {
                "time": 1700000000,
                "services": 1,
                "address": "203.0.113.50",
                "port": 8333,
                "network": "ipv4",
            }
        ],
    }

    def behaviour(method: str | None, path: str) -> Reply:
        calls[0] += 1
        if calls[0] <= fail_first:
            return Reply(status=503, body=b"busy", content_type="text/plain")
        return result(answers[method or ""], request_id=None)

    return behaviour, calls


def test_transient_fault_retried_then_stored(cli: Any, db_url: str, tmp_path: Path) -> None:
    behaviour, _ = _fake_bitcoind(fail_first=2)
    with FakeNode(behaviour) as node:
        config = write_config(
            tmp_path / "cw.toml",
            {
                "name": "btc",
                "kind": "bitcoin",
                "url": node.url,
                "user": "chainwatch",
                "password_env": "NODE_PASSWORD",
                "retries": 2,
            },
        )
        done = cli(
            "--db", db_url, "--config", config, "--watchlists", doc_watchlist(tmp_path), "scan"
        )
    assert done.exit_code == 0, done.stderr
    assert node.methods() == ["getnetworkinfo"] * 3 + ["getpeerinfo", "getnodeaddresses"]
    # Credentials go out as HTTP Basic authentication, built from the environment variable.
    expected = "Basic " + base64.b64encode(f"chainwatch:{PASSWORD}".encode()).decode()
    assert {s.headers["Authorization"] for s in node.seen} == {expected}
    [event] = rows(db_url, Event)
    assert (event.local_ip, event.direction, event.coin, event.remote_ip) == (
        "203.0.113.9",
        "outbound",
        "btc",
        "192.0.2.1",
    )
    assert event.observed_at.timestamp() == 1700000000 and event.bytes == 30
    for text in (dump_db(db_url), done.stdout, done.stderr, json.dumps(event.detail)):
        assert PASSWORD not in text


def test_missing_password_variable_is_a_config_error(
    cli: Any, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NODE_PASSWORD")
    behaviour, calls = _fake_bitcoind(fail_first=0)
    with FakeNode(behaviour) as node:
        _, error = scan_with_healthy_neighbour(
            cli, db_url, tmp_path, "bitcoin", node.url, prefix=False
        )
    assert error == (
        f"{tmp_path / 'cw.toml'} (watcher 'bad', password_env): environment variable "
        "NODE_PASSWORD is not set; expected the RPC password in that variable"
    )
    assert calls == [0]  # nothing was sent without credentials


def test_unreadable_cookie(tmp_path: Path) -> None:
    behaviour, calls = _fake_bitcoind(fail_first=0)
    with FakeNode(behaviour) as node:
        error = fetch_error(
            "bitcoin",
            node.url,
            user=None,
            password_env=None,
            cookie=tmp_path / "nowhere" / ".cookie",
        )
    assert f"cannot read cookie file {tmp_path / 'nowhere' / '.cookie'}: No such file" in error
    assert calls == [0]
