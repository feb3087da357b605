"""Settings: the TOML configuration file, its environment twins and the global options.

Precedence, highest first: command-line flag, environment variable, configuration file,
built-in default. Loading is explicit (``load_settings``); nothing is read at import time.
Secrets never live in the file itself: a watcher names an environment variable
(``password_env``) or a cookie file, and the value is read only when the watcher connects.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli

from chainwatch.categories import DEFAULT_PORT_RULES, EVENT_CATEGORIES
from chainwatch.classify import DNS_HORIZON
from chainwatch.errors import ConfigError
from chainwatch.flows.limits import Limits, load_limits
from chainwatch.passive_dns import load_horizon
from chainwatch.sensors.signatures import SuricataSettings, load_suricata

DEFAULT_DB = "sqlite:///chainwatch.db"
DEFAULT_CONFIG = "chainwatch.toml"
DEFAULT_WATCHLISTS = "watchlists"

#: Watcher kinds of DESIGN.md.
WATCHER_KINDS = ("bitcoin", "litecoin", "monero", "ethereum", "flows", "pcap")
FLOW_FORMATS = ("auto", "nfdump", "nfcapd", "zeek", "csv", "eve")
#: Checksum policies of packet captures (``chainwatch.pcap.checksums``), the default first.
CHECKSUM_POLICIES = ("auto", "validate", "ignore")

#: Keys every watcher entry may carry; anything else is a typo and refused.
_WATCHER_KEYS = {
    "name",
    "kind",
    "url",
    "user",
    "password_env",
    "cookie",
    "interval",
    "timeout",
    "path",
    "format",
    "retries",
    "checksums",
}
_TOP_KEYS = {
    "db",
    "watchlists",
    "resolve_hosts",
    "port_rules",
    "watchers",
    "report",
    "alerts",
    "limits",
    "catalogs",
    "suricata",
}
_PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "password", "secret", "xxx"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class Secret:
    """A secret value that never shows itself in ``repr``/``str`` (logs, tracebacks, output)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


def parse_duration(text: str | int | float, *, where: str, path: Path | str) -> float:
    """``"5m"`` -> 300.0 seconds; a bare number is seconds."""
    if isinstance(text, bool):
        raise ConfigError(path, f"{where} is {text!r}", expected='a duration such as "30s" or "5m"')
    if isinstance(text, int | float):
        value = float(text)
    else:
        match = _DURATION.match(text)
        if not match:
            raise ConfigError(
                path,
                f"{where} is {text!r}",
                expected='a duration such as "500ms", "30s", "5m", "1h"',
            )
        value = float(match.group(1)) * _UNITS[match.group(2)]
    if value <= 0:
        raise ConfigError(path, f"{where} is {text!r}", expected="a duration above zero")
    return value


@dataclass(frozen=True)
class WatcherConfig:
    """One ``[[watchers]]`` entry.

    Attributes:
        name: unique; becomes the ``source`` of the events it produces.
        kind: one of ``WATCHER_KINDS``.
        url: node RPC URL (node kinds); credentials never belong in it.
        user: RPC user name (node kinds).
        password_env: name of the environment variable holding the RPC password.
        cookie: path of a Bitcoin Core style ``.cookie`` file (user:password).
        interval: seconds between rounds under ``chainwatch run``.
        timeout: seconds one request may take.
        path: file or directory (``flows`` and ``pcap`` kinds).
        format: flow format (``flows`` kind).
        retries: attempts for transient errors before the watcher gives up a round.
        checksums: checksum policy (``pcap`` kind), one of ``CHECKSUM_POLICIES``.
    """

    name: str
    kind: str
    url: str | None = None
    user: str | None = None
    password_env: str | None = None
    cookie: Path | None = None
    interval: float = 300.0
    timeout: float = 10.0
    path: Path | None = None
    #: More files or directories read with ``path`` as one source (several ``--flows``), so
    #: that inputs of one scan can be joined (Zeek logs by uid).
    paths: tuple[Path, ...] = ()
    format: str = "auto"
    retries: int = 3
    checksums: str = "auto"
    source_file: str = ""

    def password(self) -> Secret | None:
        """The RPC password from ``password_env`` (read now, not at load time), or None."""
        if not self.password_env:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise ConfigError(
                self.source_file,
                f"environment variable {self.password_env} is not set",
                entry=f"watcher {self.name!r}, password_env",
                expected="the RPC password in that variable",
            )
        if value.strip().lower() in _PLACEHOLDER_SECRETS:
            raise ConfigError(
                self.source_file,
                f"environment variable {self.password_env} holds a placeholder password",
                entry=f"watcher {self.name!r}, password_env",
                expected="the node's real RPC password",
            )
        return Secret(value)


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know, resolved once by ``load_settings``.

    Attributes:
        db: SQLAlchemy URL of the store.
        watchlists: directory of watchlists (and ``endpoints/`` catalogs).
        config_path: the configuration file read, or None when there was none.
        watchers: the configured watchers, in file order.
        port_rules: port -> category, the built-in rules with the file's overrides applied.
        resolve_hosts: resolve catalog host names when a scan runs (off for air-gapped use).
        report: the file's ``[report]`` table, validated by the report package.
        alerts: the file's ``[alerts]`` table, validated by the scheduler.
        limits: what flow readers accept (``[limits]``, see ``chainwatch.flows.limits``).
        dns_horizon: how far from a DNS answer it attributes records to a catalog host
            (``[catalogs] dns_horizon``, see ``chainwatch.passive_dns``).
        suricata: the site's Suricata signature rules (``[suricata]``, see
            ``chainwatch.sensors.signatures``).
    """

    db: str = DEFAULT_DB
    watchlists: Path = Path(DEFAULT_WATCHLISTS)
    config_path: Path | None = None
    watchers: tuple[WatcherConfig, ...] = ()
    port_rules: Mapping[int, str] = field(default_factory=lambda: dict(DEFAULT_PORT_RULES))
    resolve_hosts: bool = True
    report: Mapping[str, Any] = field(default_factory=dict)
    alerts: Mapping[str, Any] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    dns_horizon: dt.timedelta = DNS_HORIZON
    suricata: SuricataSettings = field(default_factory=SuricataSettings)

    def watcher(self, name: str) -> WatcherConfig:
        for watcher in self.watchers:
            if watcher.name == name:
                return watcher
        known = ", ".join(w.name for w in self.watchers) or "none configured"
        where = self.config_path or "configuration"
        raise ConfigError(where, f"no watcher named {name!r}", expected=f"one of: {known}")


def _env_flag(name: str) -> bool | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"${name}", f"value {value!r}", expected="1/0, true/false, yes/no or on/off")


def load_settings(
    *,
    db: str | None = None,
    config: str | Path | None = None,
    watchlists: str | Path | None = None,
) -> Settings:
    """Resolve settings from flags (arguments), environment and the configuration file.

    ``config`` given explicitly (flag or ``CHAINWATCH_CONFIG``) must exist; the default
    ``chainwatch.toml`` is read only if present.
    """
    explicit = config if config is not None else os.environ.get("CHAINWATCH_CONFIG") or None
    path = Path(explicit) if explicit else Path(DEFAULT_CONFIG)
    data: dict[str, Any] = {}
    config_path: Path | None = None
    if explicit and not path.is_file():
        raise ConfigError(path, "configuration file not found", expected="a TOML file")
    if path.is_file():
        config_path = path
        data = _read_toml(path)

    file_db = data.get("db")
    if file_db is not None and not isinstance(file_db, str):
        raise ConfigError(path, f"db is {file_db!r}", expected="an SQLAlchemy URL string")
    file_lists = data.get("watchlists")
    if file_lists is not None and not isinstance(file_lists, str):
        raise ConfigError(path, f"watchlists is {file_lists!r}", expected="a directory path string")
    # A relative watchlists path in the file is relative to the file, not to where we run.
    if file_lists is not None and config_path is not None and not Path(file_lists).is_absolute():
        file_lists = str(config_path.parent / file_lists)

    resolve = data.get("resolve_hosts", True)
    if not isinstance(resolve, bool):
        raise ConfigError(path, f"resolve_hosts is {resolve!r}", expected="true or false")
    env_resolve = _env_flag("CHAINWATCH_RESOLVE_HOSTS")
    if env_resolve is not None:
        resolve = env_resolve

    for key in ("report", "alerts", "limits", "catalogs"):
        if key in data and not isinstance(data[key], dict):
            raise ConfigError(path, f"{key} is not a table", expected=f"a [{key}] table")

    return Settings(
        db=db or os.environ.get("CHAINWATCH_DB") or file_db or DEFAULT_DB,
        watchlists=Path(
            watchlists
            or os.environ.get("CHAINWATCH_WATCHLISTS")
            or file_lists
            or DEFAULT_WATCHLISTS
        ),
        config_path=config_path,
        watchers=_watchers(data.get("watchers", []), path),
        port_rules=_port_rules(data.get("port_rules", {}), path),
        resolve_hosts=resolve,
        report=data.get("report", {}),
        alerts=data.get("alerts", {}),
        limits=load_limits(data.get("limits"), os.environ, path),
        dns_horizon=load_horizon(data.get("catalogs"), os.environ, path, DNS_HORIZON),
        suricata=load_suricata(
            data.get("suricata"), path, path.read_text("utf-8") if "suricata" in data else None
        ),
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomli.load(handle)
    except tomli.TOMLDecodeError as exc:
        raise ConfigError(path, f"not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(path, f"cannot read: {exc.strerror}") from None
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ConfigError(
            path, f"unknown key {unknown[0]!r}", expected=f"one of: {', '.join(sorted(_TOP_KEYS))}"
        )
    return data


def _port_rules(table: Any, path: Path) -> dict[int, str]:
    if not isinstance(table, dict):
        raise ConfigError(
            path, "port_rules is not a table", expected='a table like {8333 = "btc-p2p"}'
        )
    rules = dict(DEFAULT_PORT_RULES)
    for key, category in table.items():
        if not str(key).isdigit() or not 0 < int(key) < 65536:
            raise ConfigError(path, f"port_rules key {key!r}", expected="a port number 1-65535")
        if category == "none":  # lets a site switch a built-in rule off
            rules.pop(int(key), None)
            continue
        if category not in EVENT_CATEGORIES:
            raise ConfigError(
                path,
                f"port_rules.{key} is {category!r}",
                expected=f'one of: {", ".join(EVENT_CATEGORIES)}, or "none"',
            )
        rules[int(key)] = category
    return rules


def _watchers(entries: Any, path: Path) -> tuple[WatcherConfig, ...]:
    if not isinstance(entries, list):
        raise ConfigError(
            path, "watchers is not an array of tables", expected="[[watchers]] entries"
        )
    seen: set[str] = set()
    result = []
    for number, entry in enumerate(entries, start=1):
        where = f"watchers #{number}"
        if not isinstance(entry, dict):
            raise ConfigError(path, "not a table", entry=where, expected="a [[watchers]] table")
        name = entry.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            raise ConfigError(
                path, f"name is {name!r}", entry=where, expected="a name of letters, digits, - _ ."
            )
        where = f"watchers #{number} {name!r}"
        if name in seen:
            raise ConfigError(path, "duplicate watcher name", entry=where, expected="unique names")
        seen.add(name)
        unknown = sorted(set(entry) - _WATCHER_KEYS)
        if unknown:
            hint = (
                " (put the password in an environment variable named by password_env)"
                if ("password" in unknown)
                else ""
            )
            raise ConfigError(
                path,
                f"unknown key {unknown[0]!r}{hint}",
                entry=where,
                expected=f"one of: {', '.join(sorted(_WATCHER_KEYS))}",
            )
        kind = entry.get("kind")
        if kind not in WATCHER_KINDS:
            raise ConfigError(
                path,
                f"kind is {kind!r}",
                entry=where,
                expected=f"one of: {', '.join(WATCHER_KINDS)}",
            )
        result.append(_watcher(entry, name, kind, where, path))
    return tuple(result)


def _watcher(entry: dict[str, Any], name: str, kind: str, where: str, path: Path) -> WatcherConfig:
    def text(key: str) -> str | None:
        value = entry.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(path, f"{key} is {value!r}", entry=where, expected="a string")
        return value

    url = text("url")
    if kind in {"bitcoin", "litecoin", "monero", "ethereum"}:
        if not url:
            raise ConfigError(path, "url is missing", entry=where, expected="the node's RPC URL")
        if not re.match(r"^https?://", url):
            raise ConfigError(
                path, f"url is {url!r}", entry=where, expected="an http:// or https:// URL"
            )
        if "@" in url.split("//", 1)[1].split("/", 1)[0]:
            raise ConfigError(
                path,
                "url carries credentials",
                entry=where,
                expected="user = ... and password_env = ... (or cookie = ...) instead",
            )
    if kind in {"flows", "pcap"} and not text("path"):
        raise ConfigError(path, "path is missing", entry=where, expected="a file or directory")
    fmt = text("format") or "auto"
    if fmt not in FLOW_FORMATS:
        raise ConfigError(
            path, f"format is {fmt!r}", entry=where, expected=f"one of: {', '.join(FLOW_FORMATS)}"
        )
    if entry.get("password_env") and entry.get("cookie"):
        raise ConfigError(
            path, "both password_env and cookie are set", entry=where, expected="one of them"
        )
    retries = entry.get("retries", 3)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 20:
        raise ConfigError(
            path, f"retries is {retries!r}", entry=where, expected="a whole number 0-20"
        )
    checksums = text("checksums")
    if checksums is not None and (kind != "pcap" or checksums not in CHECKSUM_POLICIES):
        raise ConfigError(
            path,
            f"checksums is {checksums!r}" + ("" if kind == "pcap" else f" on a {kind} watcher"),
            entry=where,
            expected=f"one of {', '.join(CHECKSUM_POLICIES)}, on pcap watchers only",
        )
    cookie = text("cookie")
    data_path = text("path")
    return WatcherConfig(
        name=name,
        kind=kind,
        url=url,
        user=text("user"),
        password_env=text("password_env"),
        cookie=Path(cookie).expanduser() if cookie else None,
        interval=parse_duration(entry.get("interval", "5m"), where=f"{where} interval", path=path),
        timeout=parse_duration(entry.get("timeout", "10s"), where=f"{where} timeout", path=path),
        path=Path(data_path).expanduser() if data_path else None,
        format=fmt,
        retries=retries,
        checksums=checksums or "auto",
        source_file=str(path),
    )
