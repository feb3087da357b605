"""Monero watcher against two real regtest monerod in a network namespace, through the real
CLI: the watched peer is stored with its direction and byte counts, the unwatched one is not,
a later poll updates the same event, and --add-peer entries land in the address book with
their list. The polled monerod requires an RPC login (HTTP digest authentication)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chainwatch.store.models import AddressBookEntry, Event, Scan
from tests.nodes.conftest import XMR_PASSWORD, dump_db, netns_db_url, write_config
from tests.nodes.daemons import Monerod, Netns
from tests.nodes.test_litecoin import rows

pytestmark = [pytest.mark.daemons]


def one_line(text: str) -> str:
    """Output with line breaks and runs of spaces folded (the console wraps long lines)."""
    return " ".join(text.split())


def scan(netns: Netns, db_url: str, config: Path, watchlists: Path, password: str) -> Any:
    return netns.chainwatch(
        "--db",
        netns_db_url(db_url),
        "--config",
        str(config),
        "--watchlists",
        str(watchlists),
        "scan",
        env={"XMR_RPC_PASSWORD": password},
    )


def xmr_config(tmp_path: Path, a: Monerod) -> Path:
    return write_config(
        tmp_path / "chainwatch.toml",
        {
            "name": "xmr-a",
            "kind": "monero",
            "url": a.url,
            "user": "chainwatch",
            "password_env": "XMR_RPC_PASSWORD",
        },
    )


def test_watched_peer_and_peer_list(
    netns: Netns,
    monero_pair: tuple[Monerod, Monerod],
    db_url: str,
    tmp_path: Path,
    watchlists: Path,
) -> None:
    a, b = monero_pair
    config = xmr_config(tmp_path, a)
    first = scan(netns, db_url, config, watchlists, XMR_PASSWORD)
    assert first.returncode == 0, first.stderr
    assert "xmr-a: monerod " in first.stderr and "2 peers, 1 watched (1 new" in first.stderr

    [event] = rows(db_url, Event)
    [connection] = [c for c in a.normal_connections() if c["host"] == "127.0.0.2"]
    assert (event.local_ip, event.local_port) == ("127.0.0.2", b.p2p[1])
    assert (event.category, event.coin, event.detector) == ("xmr-p2p", "xmr", "node-peer")
    assert event.direction == "inbound" and event.detail["node_direction"] == "outbound"
    assert event.detail["raw"]["connection_id"] == connection["connection_id"]
    assert event.detail["state"] == "normal"
    assert event.source_ref == a.url and event.remote_ip is None
    assert event.bytes is not None and event.bytes > 0

    second = scan(netns, db_url, config, watchlists, XMR_PASSWORD)
    assert second.returncode == 0, second.stderr
    [updated] = rows(db_url, Event)
    assert updated.id == event.id and updated.observed_at == event.observed_at
    assert updated.last_seen_at > event.last_seen_at and updated.bytes >= event.bytes

    # --add-peer entries are in monerod's white list; only the kp one is watched.
    [entry] = rows(db_url, AddressBookEntry)
    assert (entry.ip, entry.port, entry.list_name, entry.watchlist, entry.coin) == (
        "175.45.176.20",
        18080,
        "white",
        "kp",
        "xmr",
    )
    # monerod reports last_seen 0 for a peer it never talked to: unknown, not 1970.
    assert entry.last_seen_at is None
    assert [s.status for s in rows(db_url, Scan)] == ["ok", "ok"]
    for text in (dump_db(db_url), first.stdout, first.stderr, second.stderr):
        assert XMR_PASSWORD not in text


def test_wrong_password_is_a_clear_partial_failure(
    netns: Netns,
    monero_pair: tuple[Monerod, Monerod],
    litecoin_pair: Any,
    db_url: str,
    tmp_path: Path,
    watchlists: Path,
) -> None:
    a, _ = monero_pair
    ltc_a, _ = litecoin_pair
    wrong = "wrong-" + XMR_PASSWORD[::-1]
    config = write_config(
        tmp_path / "chainwatch.toml",
        {
            "name": "xmr-a",
            "kind": "monero",
            "url": a.url,
            "user": "chainwatch",
            "password_env": "XMR_RPC_PASSWORD",
        },
        {
            "name": "ltc-b",
            "kind": "litecoin",
            "url": litecoin_pair[1].url,
            "cookie": str(litecoin_pair[1].cookie),
        },
    )
    done = netns.chainwatch(
        "--db",
        netns_db_url(db_url),
        "--config",
        str(config),
        "--watchlists",
        str(watchlists),
        "scan",
        env={"XMR_RPC_PASSWORD": wrong, "BCL_DATA_DIR": str(tmp_path / "bcl")},
    )
    assert done.returncode == 3, (done.stdout, done.stderr)
    message = (
        f"watcher 'xmr-a': monerod at {a.url} refused the credentials (HTTP 401 "
        "Unauthorized); check user and the password in password_env against monerod's "
        "--rpc-login"
    )
    assert f"failed: {message}" in one_line(done.stderr)
    assert "ltc-b: litecoind" in done.stderr  # the other watcher still ran
    [record] = rows(db_url, Scan)
    assert record.status == "partial" and record.errors == [message]
    for text in (dump_db(db_url), done.stdout, done.stderr):
        assert wrong not in text and XMR_PASSWORD not in text
    del ltc_a
