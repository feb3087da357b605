"""Fixtures of the node-watcher tests: a network namespace, real litecoind, monerod and
ethereumjs pairs, watchlists and configuration files, and a look at everything a scan left
behind.

The daemon pairs start once per test session (about two seconds each) and are shared; tests
that stop a daemon start their own. With CI=true a missing daemon, ``ip`` or root fails the
test (``tests/conftest.py``'s ``missing``) instead of skipping it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from chainwatch.store.models import Base
from tests.conftest import missing, require_binary
from tests.nodes.daemons import (
    ETHEREUMJS,
    ETHEREUMJS_HOME,
    ETHEREUMJS_VERSION,
    LITECOIND,
    MONEROD,
    Ethereumjs,
    Litecoind,
    Monerod,
    Netns,
    wait_for,
)

PG_SOCKET_DIR = os.environ.get("CHAINWATCH_TEST_PG_SOCKET", "/var/run/postgresql")
LTC_PASSWORD = "ltc-" + secrets.token_hex(12)
XMR_PASSWORD = "xmr-" + secrets.token_hex(12)
#: Address-book entries put into the polled nodes: one watched (kp), one not.
LTC_BOOK = (("175.45.176.10", 9333), ("210.52.109.5", 9333))
XMR_BOOK = ("175.45.176.20:18080", "210.52.109.6:18080")


class Ports:
    """Ports for this test run: a random base, then one after another."""

    def __init__(self) -> None:
        self.next = 20000 + secrets.randbelow(20000)

    def take(self) -> int:
        self.next += 1
        return self.next


@pytest.fixture(scope="session", autouse=True)
def _bitcoinlib_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """bitcoinlib writes ~/.bitcoinlib on import; tests give it a directory of their own."""
    home = tmp_path_factory.mktemp("bitcoinlib")
    patch = pytest.MonkeyPatch()
    patch.setenv("BCL_DATA_DIR", str(home))
    yield home
    patch.undo()


@pytest.fixture(scope="session")
def ports() -> Ports:
    return Ports()


@pytest.fixture(scope="session")
def netns() -> Iterator[Netns]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        missing("root and the ip command (network namespaces)")
    namespace = Netns()
    try:
        namespace.create()
    except subprocess.CalledProcessError as exc:
        missing(f"network namespaces (ip netns add: {exc.stderr!r})")
    yield namespace
    namespace.close()


@pytest.fixture(scope="session")
def litecoin_pair(
    netns: Netns, ports: Ports, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Litecoind, Litecoind]]:
    """litecoind A (127.0.0.1, user/password; the one polled) and B (127.0.0.2, cookie), each
    told to connect only to the other. A dials B at 127.0.0.2 (watched in the tests); B's
    connection to A comes from 127.0.0.1 (not watched)."""
    require_binary(LITECOIND)
    base = tmp_path_factory.mktemp("litecoin")
    port_a, port_b = ports.take(), ports.take()
    b = Litecoind(netns, base / "b", ("127.0.0.2", port_b), ports.take(), f"127.0.0.1:{port_a}")
    a = Litecoind(
        netns,
        base / "a",
        ("127.0.0.1", port_a),
        ports.take(),
        f"127.0.0.2:{port_b}",
        user="chainwatch",
        password=LTC_PASSWORD,
    )
    try:
        b.start()
        a.start()
        for ip, port in LTC_BOOK:
            assert a.call("addpeeraddress", ip, port) == {"success": True}
        wait_for(
            "litecoind A and B to finish their handshakes", lambda: len(a.handshaken_peers()) >= 2
        )
        yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.fixture(scope="session")
def monero_pair(
    netns: Netns, ports: Ports, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Monerod, Monerod]]:
    """monerod A (127.0.0.1, RPC login; the one polled, with two --add-peer entries) and B
    (127.0.0.2), each with only the other as exclusive node."""
    require_binary(MONEROD)
    base = tmp_path_factory.mktemp("monero")
    port_a, port_b = ports.take(), ports.take()
    b = Monerod(netns, base / "b", ("127.0.0.2", port_b), ports.take(), f"127.0.0.1:{port_a}")
    a = Monerod(
        netns,
        base / "a",
        ("127.0.0.1", port_a),
        ports.take(),
        f"127.0.0.2:{port_b}",
        add_peers=XMR_BOOK,
        login=("chainwatch", XMR_PASSWORD),
    )
    try:
        b.start()
        a.start()
        wait_for(
            "monerod A's connections to reach state normal",
            lambda: len(a.normal_connections()) >= 2,
        )
        yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.fixture(scope="session")
def ethereumjs_pair(
    netns: Netns, ports: Ports, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Ethereumjs, Ethereumjs]]:
    """Two ``@ethereumjs/client`` nodes on one dev PoA chain (same unlock key): A seals
    blocks; B only follows and dials A at 127.0.0.2 (A's P2P port listens on every address),
    so B's peer is A at 127.0.0.2 and A's peer is B from 127.0.0.1."""
    require_binary("node")
    package = ETHEREUMJS_HOME / "node_modules/@ethereumjs/client/package.json"
    version = json.loads(package.read_text())["version"] if package.is_file() else None
    if not ETHEREUMJS.is_file() or version != ETHEREUMJS_VERSION:
        missing(f"@ethereumjs/client {ETHEREUMJS_VERSION} in {ETHEREUMJS_HOME} (found {version})")
    base = tmp_path_factory.mktemp("ethereumjs")
    key = base / "dev.key"
    key.write_text(secrets.token_hex(32))  # a throw-away dev chain's sealing key
    a = Ethereumjs(netns, base / "a", ports.take(), ports.take(), key)
    b = Ethereumjs(netns, base / "b", ports.take(), ports.take(), key, mine=False)
    try:
        a.start()
        host, _, port = a.enode().rpartition("@")[2].rpartition(":")
        assert host == "127.0.0.1", a.enode()
        b.bootnode = a.enode().replace(f"@{host}:{port}", f"@127.0.0.2:{port}")
        b.start()
        wait_for(
            "ethereumjs A and B to peer",
            lambda: len(a.call("admin_peers")) >= 1 and len(b.call("admin_peers")) >= 1,
        )
        yield a, b
    finally:
        b.stop()
        a.stop()


@pytest.fixture
def watchlists(tmp_path: Path) -> Path:
    """``lo`` watches 127.0.0.2 only; ``kp`` the Star JV block (address-book data)."""
    directory = tmp_path / "watchlists"
    directory.mkdir()
    (directory / "lo.txt").write_text("# the polled nodes' peer at 127.0.0.2\n127.0.0.2/32\n")
    (directory / "kp.toml").write_text(
        'description = "North Korea: Star JV block"\n[[ranges]]\ncidr = "175.45.176.0/22"\n'
    )
    return directory


def write_config(path: Path, *watchers: dict[str, Any]) -> Path:
    """A chainwatch.toml with these ``[[watchers]]`` entries (strings and numbers only)."""
    lines: list[str] = []
    for watcher in watchers:
        lines.append("[[watchers]]")
        for key, value in watcher.items():
            lines.append(f"{key} = {value!r}" if isinstance(value, int) else f'{key} = "{value}"')
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def netns_db_url(db_url: str) -> str:
    """The same database as seen from inside a namespace: PostgreSQL over its unix socket."""
    url = make_url(db_url)
    if url.get_backend_name() != "postgresql":
        return db_url
    return url.set(host=None, port=None, query={"host": PG_SOCKET_DIR}).render_as_string(
        hide_password=False
    )


def dump_db(db_url: str) -> str:
    """Every row of every table as text: what a secret must never be found in."""
    engine = create_engine(db_url)
    parts: list[str] = []
    try:
        with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                for row in conn.execute(select(table)):
                    parts.append(f"{table.name}: {tuple(row)!r}")
    finally:
        engine.dispose()
    return "\n".join(parts)


def read_tree(directory: Path) -> str:
    """The text of every file under a directory (logs), for secret checks."""
    texts = []
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(texts)
