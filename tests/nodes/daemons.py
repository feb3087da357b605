"""Real litecoind, monerod and ethereumjs for the node-watcher tests, in a network namespace.

The namespace has only ``lo`` up, so the daemons can reach nothing but each other (all of
127.0.0.0/8 is local there: one daemon binds 127.0.0.1, its peer 127.0.0.2). The test process
stays outside; it talks to the daemons by running short programs inside the namespace
(``Netns.rpc``) and runs the real ``chainwatch`` CLI there (``Netns.chainwatch``). Every
namespace is named after the test process and a random token, so runs never share one, and
``close`` stops the daemons it started (by process id) and deletes the namespace.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LITECOIND = "/usr/lib/litecoin/litecoind"
MONEROD = "monerod"
#: Where .ci/run installs the pinned @ethereumjs/client with npm (outside the repository).
ETHEREUMJS_HOME = Path(os.environ.get("CHAINWATCH_TEST_ETHEREUMJS", "/opt/ethjs"))
ETHEREUMJS_VERSION = "0.10.5"
ETHEREUMJS = ETHEREUMJS_HOME / "node_modules/@ethereumjs/client/dist/esm/bin/cli.js"
START_TIMEOUT = 60.0

# Runs inside the namespace: one JSON-RPC request, answer on stdout as JSON.
_RPC_SCRIPT = r"""
import json, sys
import requests
from requests.auth import HTTPBasicAuth, HTTPDigestAuth
req = json.load(sys.stdin)
auth = None
if req.get("auth"):
    user, password = req["auth"]
    auth = HTTPDigestAuth(user, password) if req.get("digest") else HTTPBasicAuth(user, password)
session = requests.Session()
session.trust_env = False
body = {"jsonrpc": "2.0", "id": 1, "method": req["method"], "params": req["params"]}
try:
    r = session.post(req["url"], json=body, auth=auth, timeout=10)
    out = {"status": r.status_code, "body": r.json() if r.content else None}
except Exception as exc:
    out = {"status": None, "error": type(exc).__name__ + ": " + str(exc)}
print(json.dumps(out))
"""


class RpcFailed(Exception):
    pass


def wait_for(what: str, check: Callable[[], Any], timeout: float = START_TIMEOUT) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except RpcFailed as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


@dataclass
class Netns:
    name: str = field(default_factory=lambda: f"cw-{os.getpid()}-{secrets.token_hex(3)}")
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def create(self) -> Netns:
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True)
        subprocess.run(self.argv("ip", "link", "set", "lo", "up"), check=True, capture_output=True)
        return self

    def argv(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def start(self, args: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            # `ip netns exec` execs the program, so this pid is the daemon's own.
            process = subprocess.Popen(
                self.argv(*args), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if process in self.processes:
            self.processes.remove(process)

    def rpc(
        self,
        url: str,
        method: str,
        params: Any = None,
        *,
        auth: tuple[str, str] | None = None,
        digest: bool = False,
    ) -> Any:
        """One JSON-RPC call from inside the namespace; returns ``result`` or raises."""
        request = {
            "url": url,
            "method": method,
            "params": [] if params is None else params,
            "auth": auth,
            "digest": digest,
        }
        done = subprocess.run(
            self.argv(sys.executable, "-c", _RPC_SCRIPT),
            input=json.dumps(request),
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if done.returncode != 0:
            raise RpcFailed(done.stderr.strip()[-500:])
        answer = json.loads(done.stdout)
        body = answer.get("body")
        if answer.get("status") != 200 or not isinstance(body, dict) or body.get("error"):
            raise RpcFailed(f"{method}: {answer}")
        return body["result"]

    def chainwatch(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        """The real CLI (``python -m chainwatch``) run inside the namespace."""
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINWATCH_")}
        full_env["CHAINWATCH_RESOLVE_HOSTS"] = "0"
        full_env.update(env or {})
        return subprocess.run(
            self.argv(sys.executable, "-m", "chainwatch", *args),
            capture_output=True,
            text=True,
            check=False,
            env=full_env,
            timeout=timeout,
        )

    def close(self) -> None:
        for process in list(self.processes):
            self.stop(process)
        subprocess.run(["ip", "netns", "del", self.name], check=False, capture_output=True)


@dataclass
class Litecoind:
    """One regtest litecoind. ``password`` None means cookie authentication."""

    netns: Netns
    datadir: Path
    p2p: tuple[str, int]
    rpc_port: int
    connect: str
    user: str | None = None
    password: str | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def cookie(self) -> Path:
        return self.datadir / "regtest" / ".cookie"

    def start(self) -> Litecoind:
        self.datadir.mkdir(parents=True, exist_ok=True)
        args = [
            LITECOIND,
            "-regtest",
            "-server",
            "-dnsseed=0",
            "-discover=0",
            "-upnp=0",
            "-listenonion=0",
            "-rpcbind=127.0.0.1",
            "-rpcallowip=127.0.0.1",
            "-listen=1",
            "-printtoconsole=0",
            f"-datadir={self.datadir}",
            f"-bind={self.p2p[0]}:{self.p2p[1]}",
            f"-port={self.p2p[1]}",
            f"-rpcport={self.rpc_port}",
            f"-connect={self.connect}",
        ]
        if self.password is not None:
            args += [f"-rpcuser={self.user}", f"-rpcpassword={self.password}"]
        self.process = self.netns.start(args, self.datadir / "stdout.log")
        wait_for(f"litecoind RPC on {self.url}", lambda: self.call("getnetworkinfo"))
        return self

    def auth(self) -> tuple[str, str]:
        if self.password is not None:
            assert self.user is not None
            return (self.user, self.password)
        user, _, password = self.cookie.read_text().strip().partition(":")
        return (user, password)

    def call(self, method: str, *params: Any) -> Any:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(
                f"litecoind exited ({self.process.returncode}); see {self.datadir}"
            )
        if self.password is None and not self.cookie.exists():
            raise RpcFailed("no cookie yet")
        return self.netns.rpc(self.url, method, list(params), auth=self.auth())

    def handshaken_peers(self) -> list[dict[str, Any]]:
        return [p for p in self.call("getpeerinfo") if p.get("version")]

    def stop(self) -> None:
        if self.process is not None:
            self.netns.stop(self.process)
            self.process = None


@dataclass
class Monerod:
    """One regtest monerod; ``login`` (user, password) turns on RPC digest authentication."""

    netns: Netns
    datadir: Path
    p2p: tuple[str, int]
    rpc_port: int
    exclusive: str
    add_peers: Sequence[str] = ()
    login: tuple[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    def start(self) -> Monerod:
        self.datadir.mkdir(parents=True, exist_ok=True)
        args = [
            MONEROD,
            "--regtest",
            "--fixed-difficulty",
            "1",
            "--no-igd",
            "--non-interactive",
            "--disable-dns-checkpoints",
            "--check-updates",
            "disabled",
            "--rpc-ssl",
            "disabled",
            "--allow-local-ip",
            "--no-zmq",
            "--data-dir",
            str(self.datadir),
            "--log-file",
            str(self.datadir / "monerod.log"),
            "--p2p-bind-ip",
            self.p2p[0],
            "--p2p-bind-port",
            str(self.p2p[1]),
            "--rpc-bind-ip",
            "127.0.0.1",
            "--rpc-bind-port",
            str(self.rpc_port),
            "--add-exclusive-node",
            self.exclusive,
        ]
        for peer in self.add_peers:
            args += ["--add-peer", peer]
        if self.login is not None:
            args += ["--rpc-login", f"{self.login[0]}:{self.login[1]}"]
        self.process = self.netns.start(args, self.datadir / "stdout.log")
        wait_for(f"monerod RPC on {self.url}", lambda: self.call("get_info"))
        return self

    def call(self, method: str, params: Any = None) -> Any:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"monerod exited ({self.process.returncode}); see {self.datadir}")
        return self.netns.rpc(
            f"{self.url}/json_rpc", method, params or {}, auth=self.login, digest=True
        )

    def normal_connections(self) -> list[dict[str, Any]]:
        connections = self.call("get_connections").get("connections", [])
        return [c for c in connections if c.get("state") == "normal"]

    def stop(self) -> None:
        if self.process is not None:
            self.netns.stop(self.process)
            self.process = None


@dataclass
class Ethereumjs:
    """One ``@ethereumjs/client`` in its ``--dev=poa`` mode. ``bootnode`` makes it dial that
    enode; ``mine`` False leaves sealing blocks to the other node. Its P2P port binds every
    address, which is why it only ever runs inside the namespace."""

    netns: Netns
    datadir: Path
    p2p_port: int
    rpc_port: int
    key_file: Path
    bootnode: str | None = None
    mine: bool = True
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    def start(self) -> Ethereumjs:
        self.datadir.mkdir(parents=True, exist_ok=True)
        args = [
            "node",
            str(ETHEREUMJS),
            "--dev=poa",
            f"--unlock={self.key_file}",
            "--rpc",
            "--rpcAddr=127.0.0.1",
            f"--rpcPort={self.rpc_port}",
            f"--port={self.p2p_port}",
            f"--dataDir={self.datadir}",
            "--discDns=false",
            "--discV4=false",
            "--extIP=127.0.0.1",
            f"--logFile={self.datadir / 'ethereumjs.log'}",
            "--logRotate=false",
        ]
        if not self.mine:
            args.append("--mine=false")
        if self.bootnode:
            args.append(f"--bootnodes={self.bootnode}")
        self.process = self.netns.start(args, self.datadir / "stdout.log")
        wait_for(f"ethereumjs RPC on {self.url}", lambda: self.call("admin_nodeInfo"))
        return self

    def enode(self) -> str:
        enode: str = self.call("admin_nodeInfo")["enode"]
        return enode

    def call(self, method: str, *params: Any) -> Any:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(
                f"ethereumjs exited ({self.process.returncode}); see {self.datadir}/stdout.log"
            )
        return self.netns.rpc(self.url, method, list(params))

    def stop(self) -> None:
        if self.process is not None:
            self.netns.stop(self.process, timeout=10)
            self.process = None
