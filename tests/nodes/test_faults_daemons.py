"""Faults of real daemons, through the real CLI in the namespace: a node stopped between two
polls and a wrong password. The scan goes on with the other watcher, exits 3, and records
what failed; the password appears in no output, log or table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chainwatch.store.models import Event, Scan
from tests.conftest import require_binary
from tests.nodes.conftest import (
    LTC_PASSWORD,
    Ports,
    dump_db,
    netns_db_url,
    read_tree,
    write_config,
)
from tests.nodes.daemons import LITECOIND, Litecoind, Netns
from tests.nodes.test_litecoin import rows
from tests.nodes.test_monero import one_line

pytestmark = [pytest.mark.daemons]


@pytest.fixture
def lone_litecoind(netns: Netns, ports: Ports, tmp_path: Path) -> Iterator[Litecoind]:
    """A litecoind of this test's own (it gets stopped), connected to nobody."""
    require_binary(LITECOIND)
    node = Litecoind(
        netns,
        tmp_path / "lone",
        ("127.0.0.1", ports.take()),
        ports.take(),
        "0",
        user="chainwatch",
        password=LTC_PASSWORD,
    )
    node.start()
    yield node
    node.stop()


def test_node_stopped_between_polls(
    netns: Netns,
    lone_litecoind: Litecoind,
    litecoin_pair: tuple[Litecoind, Litecoind],
    db_url: str,
    tmp_path: Path,
    watchlists: Path,
) -> None:
    _, b = litecoin_pair
    config = write_config(
        tmp_path / "cw.toml",
        {
            "name": "ltc-lone",
            "kind": "litecoin",
            "url": lone_litecoind.url,
            "user": "chainwatch",
            "password_env": "LTC_RPC_PASSWORD",
            "retries": 1,
        },
        {"name": "ltc-b", "kind": "litecoin", "url": b.url, "cookie": str(b.cookie)},
    )
    args = (
        "--db",
        netns_db_url(db_url),
        "--config",
        str(config),
        "--watchlists",
        str(watchlists),
        "scan",
    )
    env = {"LTC_RPC_PASSWORD": LTC_PASSWORD, "BCL_DATA_DIR": str(tmp_path / "bcl")}
    first = netns.chainwatch(*args, env=env)
    assert first.returncode == 0, first.stderr
    lone_litecoind.stop()
    second = netns.chainwatch(*args, env=env)
    assert second.returncode == 3, (second.stdout, second.stderr)
    message = (
        f"watcher 'ltc-lone': cannot reach litecoind at {lone_litecoind.url}: connection "
        "refused (gave up after 2 attempts); is litecoind running with -server=1, and does url "
        "match its -rpcport and -rpcbind?"
    )
    assert f"failed: {message}" in one_line(second.stderr)
    assert "ltc-b: litecoind" in second.stderr
    assert "scan 2 partial:" in second.stdout
    scans = rows(db_url, Scan)
    assert [(s.status, s.errors) for s in scans] == [("ok", []), ("partial", [message])]
    assert (tmp_path / "bcl" / "bitcoinlib.log").is_file()  # bitcoinlib ran, and logged here
    for text in (dump_db(db_url), first.stderr, second.stderr, read_tree(tmp_path / "bcl")):
        assert LTC_PASSWORD not in text


def test_wrong_password(
    netns: Netns,
    litecoin_pair: tuple[Litecoind, Litecoind],
    db_url: str,
    tmp_path: Path,
    watchlists: Path,
) -> None:
    a, b = litecoin_pair
    wrong = "not-" + LTC_PASSWORD
    config = write_config(
        tmp_path / "cw.toml",
        {
            "name": "ltc-a",
            "kind": "litecoin",
            "url": a.url,
            "user": "chainwatch",
            "password_env": "LTC_RPC_PASSWORD",
        },
        {"name": "ltc-b", "kind": "litecoin", "url": b.url, "cookie": str(b.cookie)},
    )
    done = netns.chainwatch(
        "--db",
        netns_db_url(db_url),
        "--config",
        str(config),
        "--watchlists",
        str(watchlists),
        "scan",
        env={"LTC_RPC_PASSWORD": wrong, "BCL_DATA_DIR": str(tmp_path / "bcl")},
    )
    assert done.returncode == 3, (done.stdout, done.stderr)
    message = (
        f"watcher 'ltc-a': litecoind at {a.url} refused the credentials (HTTP 401 "
        "Unauthorized); check user and the password in password_env against -rpcuser/-rpcauth "
        "in litecoin.conf, or point cookie at the node's .cookie file"
    )
    assert f"failed: {message}" in one_line(done.stderr)
    [scan] = rows(db_url, Scan)
    assert scan.status == "partial" and scan.errors == [message]
    assert rows(db_url, Event) == []  # B's peers are not watched (127.0.0.1)
    for text in (dump_db(db_url), done.stdout, done.stderr, read_tree(tmp_path / "bcl")):
        assert wrong not in text and LTC_PASSWORD not in text
