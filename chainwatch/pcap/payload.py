"""Recognising mining and peer-to-peer protocols from the first bytes of a TCP stream.

``recognise`` looks at the reassembled start of one direction of a connection, whatever the
port, and says what protocol it carries with the facts that prove it:

- Stratum v1 (``mining.subscribe``/``authorize``/``notify``/``submit``/``set_difficulty``,
  Zcash's ``set_target``), with the miner's user agent and worker name; EthereumStratum and
  ``eth_submitLogin`` style Ethereum pool traffic;
- Monero-style stratum (XMRig and friends: ``login`` with ``agent``/``algo``, ``job``,
  ``submit``, ``keepalived``), with the agent, algorithm and wallet;
- getwork / getblocktemplate over HTTP JSON-RPC (requests and their answers);
- Bitcoin-family P2P by network magic (Bitcoin, Litecoin, Dogecoin, Zcash, Ravencoin), with
  the ``version`` message's user agent; Monero's Levin protocol by its signature;
- a TLS ClientHello's server name (SNI), for the catalogs; OpenVPN and Tor's ClientHello by
  ``obfuscation`` (which also reads UDP).

Everything here reads attacker-controlled bytes: lengths are checked before use, text is cut
to ``MAX_TEXT`` characters, and what does not parse is not recognised. A JSON-RPC message
counts only when its method *and* the shape of its parameters fit, so ordinary JSON-RPC (a
``login`` with a user name, ``getblockchaininfo``) does not. ``coins.attribute`` decides a
pool's coin from the facts: ``pool`` when nothing tells it.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from typing import Any

import dpkt

from chainwatch.categories import POOLS
from chainwatch.coins import attribute
from chainwatch.pcap import obfuscation, openvpn

#: Longest text kept from a payload (user agents, worker names, wallets).
MAX_TEXT = 200
#: Largest binary message whose body is waited for before recognising it.
WAIT_FOR = 4096
#: Network magic (pchMessageStart) -> (coin, network), from each coin's chainparams.cpp. The
#: user agent tells Bitcoin's regtest magic from Litecoin's and Dogecoin's (``REGTEST_AGENTS``);
#: Zcash's forks (Zclassic, Horizen...) kept Zcash's magic.
MAGICS = {
    b"\xf9\xbe\xb4\xd9": ("btc", "mainnet"),
    b"\x0b\x11\x09\x07": ("btc", "testnet3"),
    b"\x1c\x16\x3f\x28": ("btc", "testnet4"),
    b"\x0a\x03\xcf\x40": ("btc", "signet"),
    b"\xfa\xbf\xb5\xda": ("btc", "regtest"),
    b"\xfb\xc0\xb6\xdb": ("ltc", "mainnet"),
    b"\xfd\xd2\xc8\xf1": ("ltc", "testnet"),
    b"\xc0\xc0\xc0\xc0": ("doge", "mainnet"),
    b"\xfc\xc1\xb7\xdc": ("doge", "testnet"),
    b"\x24\xe9\x27\x64": ("zec", "mainnet"),
    b"RAVN": ("rvn", "mainnet"),
    b"RVNT": ("rvn", "testnet"),
}
REGTEST_AGENTS = {"litecoin": "ltc", "shibetoshi": "doge", "dogecoin": "doge"}  # else btc
LEVIN = b"\x01\x21\x01\x01\x01\x01\x01\x01"
#: Monero's network ids, found in a Levin handshake's body.
MONERO_NETWORKS = {
    bytes.fromhex("1230f171610441611731008216a1a110"): "mainnet",
    bytes.fromhex("1230f171610441611731008216a1a111"): "testnet",
    bytes.fromhex("1230f171610441611731008216a1a112"): "stagenet",
}
STRATUM_METHODS = {
    "mining.subscribe",
    "mining.authorize",
    "mining.notify",
    "mining.submit",
    "mining.set_difficulty",
    "mining.set_extranonce",
    "mining.extranonce.subscribe",
    "mining.set_target",  # Zcash's stratum (ZIP 301)
}
ETH_POOL_METHODS = {"eth_submitLogin", "eth_getWork", "eth_submitWork", "eth_submitHashrate"}
_COMMAND = re.compile(rb"^[a-z]{1,12}\x00*$")


@dataclass(frozen=True)
class Verdict:
    """What a stream carries. ``end`` is the offset where the first recognised message ends
    (its packet is the evidence); ``sni`` is set for TLS, whose category the caller looks up."""

    category: str
    confidence: float
    facts: dict[str, Any]
    end: int
    sni: str | None = None


def merged(first: Verdict, other: Verdict) -> Verdict | None:
    """Both directions as one verdict: ``first``'s facts with what ``other`` adds, or None
    when they tell different stories. Mining seen from both sides is one conversation whose
    coin comes from all its facts; a handshake answering itself is surer (``paired``)."""
    facts = {**other.facts, **first.facts}
    if first.category in POOLS and other.category in POOLS:
        facts.pop("coin_from", None)
        category, confidence = attribute(facts)
        return Verdict(category, confidence, facts, first.end, first.sni)
    if first.category == other.category:
        confidence = obfuscation.paired(first.facts, other.facts, facts) or first.confidence
        return Verdict(first.category, confidence, facts, first.end, first.sni)
    return None


def plausible(start: bytes) -> bool:
    """Whether a stream starting so (however few bytes) could be recognised: else unbuffered."""
    text = start.lstrip()
    if not text or text[:1] in (b"{", b"["):
        return True
    head = start[:8]
    return openvpn.plausible(head) or any(
        prefix[: len(head)] == head[: len(prefix)]
        for prefix in (b"POST ", b"HTTP/", *MAGICS, LEVIN, b"\x16\x03")
    )


def recognise(stream: bytes, *, final: bool = True) -> Verdict | None:
    """The protocol that one direction of a TCP connection carries, from its first bytes.
    Until ``final`` (more bytes may follow), a binary message whose header is there but whose
    body is not yet waits, so that its facts (a user agent) can be read."""
    first = stream.lstrip()[:1]
    if first in (b"{", b"["):
        return _json_lines(stream)
    if stream.startswith((b"POST ", b"HTTP/")):
        return _http(stream)
    if stream[:4] in MAGICS:
        return _bitcoin(stream, final)
    if stream.startswith(LEVIN):
        return _levin(stream, final)
    if stream.startswith(b"\x16\x03"):
        return _tls(stream)
    return Verdict(*found) if (found := obfuscation.stream(stream)) else None


def _text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A string from the wire, fit to store: cut to ``limit``, and with what no database
    stores as text (NUL, lone surrogates from JSON ``\\ud800`` escapes) written as escapes."""
    if not isinstance(value, str):
        return None
    text: str = value[:limit].replace("\x00", "\\x00")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _decoded(raw: bytes) -> str:
    return _text(raw.decode("utf-8", "replace")) or ""  # never None: a str goes in


def _messages(value: Any) -> list[dict[str, Any]]:
    """A JSON-RPC message, or the messages of a batch (a list), as dicts."""
    items = value[:16] if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]


# --- JSON-RPC over TCP: stratum flavours -----------------------------------------------------


def _json_lines(stream: bytes) -> Verdict | None:
    verdict: Verdict | None = None
    facts: dict[str, Any] = {}
    at = 0
    while (cut := stream.find(b"\n", at)) >= 0:
        line, end, at = stream[at:cut], cut + 1, cut + 1
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            continue  # garbage that looks like JSON: not evidence of anything
        for message in _messages(value):
            found = _stratum(message, facts) or _xmr_stratum(message, facts)
            if found is not None and verdict is None:
                verdict = Verdict(found[0], found[1], facts, end)
    if verdict is None:
        return None
    category, confidence = attribute(facts)
    return Verdict(category, confidence, facts, verdict.end)


def _stratum(message: dict[str, Any], facts: dict[str, Any]) -> tuple[str, float] | None:
    method, params = message.get("method"), message.get("params")
    if not isinstance(method, str) or not isinstance(params, list):
        return None
    if method in ETH_POOL_METHODS:
        facts.setdefault("protocol", "eth-stratum")
        facts.setdefault("message", method)
        if method == "eth_submitLogin" and params and (wallet := _text(params[0])):
            facts["wallet"] = wallet
        if worker := _text(message.get("worker")):  # eth-proxy names the rig beside params
            facts.setdefault("worker", worker)
        return "pool", 0.95
    if method not in STRATUM_METHODS:
        return None
    ethereum = method == "mining.subscribe" and any(
        isinstance(p, str) and p.startswith("EthereumStratum") for p in params[:3]
    )
    facts.setdefault("protocol", "eth-stratum" if ethereum else "stratum")
    facts.setdefault("message", method)
    if method == "mining.subscribe" and params and (agent := _text(params[0])):
        facts.setdefault("agent", agent)
    if method in ("mining.authorize", "mining.submit") and params and (worker := _text(params[0])):
        facts.setdefault("worker", worker)
    return "pool", 0.95


def _xmr_stratum(message: dict[str, Any], facts: dict[str, Any]) -> tuple[str, float] | None:
    method, params = message.get("method"), message.get("params")
    if method is None and isinstance(message.get("result"), dict):
        # A pool's answer to login: {"result": {"id": ..., "job": {"blob": ..., ...}}}
        method, params = "job", message["result"].get("job")
    if not isinstance(method, str) or not isinstance(params, dict):
        return None
    if method == "login":
        if not isinstance(params.get("login"), str):
            return None
        if not isinstance(params.get("agent"), str) and "algo" not in params:
            return None
        facts.setdefault("protocol", "xmr-stratum")
        facts.setdefault("message", method)
        facts["wallet"] = _text(params["login"])
        if agent := _text(params.get("agent")):
            facts["agent"] = agent
        algo = params.get("algo")
        if isinstance(algo, list):
            facts["algo"] = [_text(a, 40) for a in algo[:32] if isinstance(a, str)]
        elif isinstance(algo, str):
            facts["algo"] = [algo[:40]]
        return "pool", 0.95
    if method == "job" and {"blob", "job_id", "target"} <= params.keys():
        facts.setdefault("protocol", "xmr-stratum")
        facts.setdefault("message", method)
        if algo := _text(params.get("algo")):
            facts.setdefault("job_algo", algo)
        return "pool", 0.95
    if method == "submit" and {"job_id", "nonce", "result"} <= params.keys():
        facts.setdefault("protocol", "xmr-stratum")
        facts.setdefault("message", method)
        return "pool", 0.95
    if method == "keepalived" and "id" in params:
        facts.setdefault("protocol", "xmr-stratum")
        facts.setdefault("message", method)
        return "pool", 0.95
    return None


# --- HTTP JSON-RPC: getwork and getblocktemplate ---------------------------------------------


def _http(stream: bytes) -> Verdict | None:
    head_end = stream.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    lines = stream[:head_end].split(b"\r\n")
    headers = {}
    for line in lines[1:64]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    try:
        size = int(headers.get(b"content-length", b"-1"))
    except ValueError:
        return None
    start = head_end + 4
    if size < 0 or start + size > len(stream):
        return None
    try:
        body = json.loads(stream[start : start + size])
    except (ValueError, RecursionError):
        return None
    facts: dict[str, Any] = {}
    if agent := headers.get(b"user-agent"):
        facts["agent"] = _decoded(agent)
    for message in _messages(body):
        found = (
            _work_request(message, facts)
            if stream.startswith(b"POST ")
            else _work_answer(message, facts)
        )
        if found is not None:
            category, confidence = attribute(facts, found)
            return Verdict(category, confidence, facts, start + size)
    return None


#: The work RPCs answer with the coins whose own RPC it is: () when many coins speak it.
_MONEROD = ("xmr",)


def _work_request(message: dict[str, Any], facts: dict[str, Any]) -> tuple[str, ...] | None:
    method, params = message.get("method"), message.get("params")
    if method in ("get_block_template", "getblocktemplate") and isinstance(params, dict):
        if wallet := _text(params.get("wallet_address")):  # monerod's json_rpc
            facts.update(protocol="getblocktemplate", message=method, wallet=wallet)
            return _MONEROD
        return None
    if method in ("getwork", "getblocktemplate") and isinstance(params, list | type(None)):
        facts.update(protocol=method, message=method)
        return ()  # Bitcoin Core's RPC, which its many forks speak too
    if method in ETH_POOL_METHODS:
        facts.update(protocol="eth-getwork", message=method)
        return ()
    return None


def _work_answer(message: dict[str, Any], facts: dict[str, Any]) -> tuple[str, ...] | None:
    result = message.get("result")
    if not isinstance(result, dict):
        return None
    if {"previousblockhash", "coinbasevalue"} <= result.keys():
        facts.update(protocol="getblocktemplate", message="result")
        return ()
    if {"data", "target"} <= result.keys() and ("midstate" in result or "hash1" in result):
        facts.update(protocol="getwork", message="result")
        return ()
    if {"blocktemplate_blob", "difficulty", "seed_hash"} <= result.keys():
        facts.update(protocol="getblocktemplate", message="result")
        return _MONEROD
    return None


# --- Binary peer-to-peer protocols -----------------------------------------------------------


def _bitcoin(stream: bytes, final: bool) -> Verdict | None:
    if len(stream) < 24 or not _COMMAND.match(stream[4:16]):
        return None
    coin, network = MAGICS[stream[:4]]
    command = stream[4:16].rstrip(b"\x00").decode()
    size = struct.unpack_from("<I", stream, 16)[0]
    if not final and len(stream) < 24 + size <= WAIT_FOR:
        return None
    facts: dict[str, Any] = {"protocol": f"{coin}-p2p", "network": network, "message": command}
    end = min(len(stream), 24 + size)
    if command == "version" and len(stream) >= 24 + size:
        version = _version_message(stream[24 : 24 + size])
        if version is not None:
            facts.update(version)
    agent = str(facts.get("user_agent", "")).lower()
    if network == "regtest":
        coin = next((c for word, c in REGTEST_AGENTS.items() if word in agent), coin)
        facts["protocol"] = f"{coin}-p2p"
    return Verdict(f"{coin}-p2p", 0.95, facts, end)


def _version_message(payload: bytes) -> dict[str, Any] | None:
    if len(payload) < 81:
        return None
    protocol_version = struct.unpack_from("<i", payload, 0)[0]
    size, at = _varint(payload, 80)
    if size is None or at + size > len(payload) or size > 256:
        return None
    agent = _decoded(payload[at : at + size])
    return {"protocol_version": protocol_version, "user_agent": agent}


def _varint(data: bytes, at: int) -> tuple[int | None, int]:
    first = data[at]
    if first < 0xFD:
        return first, at + 1
    width = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
    if at + 1 + width > len(data):
        return None, at
    return int.from_bytes(data[at + 1 : at + 1 + width], "little"), at + 1 + width


def _levin(stream: bytes, final: bool) -> Verdict | None:
    if len(stream) < 33:
        return None
    size, _, command, _, _, version = struct.unpack_from("<Q?IiII", stream, 8)
    if not final and len(stream) < 33 + size <= WAIT_FOR:
        return None
    facts: dict[str, Any] = {"protocol": "levin", "message": command, "levin_version": version}
    end = min(len(stream), 33 + size)
    body = stream[33:end]
    for network_id, name in MONERO_NETWORKS.items():
        if network_id in body:
            facts["network"] = name
    return Verdict("xmr-p2p", 0.95, facts, end)


def _tls(stream: bytes) -> Verdict | None:
    try:
        record = dpkt.ssl.TLSRecord(stream)
        handshake = dpkt.ssl.TLSHandshake(record.data)
        hello = handshake.data
        if not isinstance(hello, dpkt.ssl.TLSClientHello):
            return None
        extensions, suites = getattr(hello, "extensions", []), [s.code for s in hello.ciphersuites]
    except Exception:  # dpkt's TLS parser raises many kinds of error on malformed bytes
        return None
    if tor := obfuscation.tor_hello(extensions, suites, 5 + len(record.data)):
        return Verdict(*tor)
    for kind, data in extensions:
        if kind == 0 and len(data) >= 5 and data[2] == 0:  # server_name, host_name entry
            size = struct.unpack_from("!H", data, 3)[0]
            name = _decoded(data[5 : 5 + size])
            end = 5 + len(record.data)
            return Verdict("", 0.0, {"protocol": "tls", "sni": name}, end, sni=name)
    return None
