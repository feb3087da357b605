"""Settings: the TOML configuration file, its environment twins and the global options.

Precedence, highest first: command-line flag, environment variable, configuration file,
built-in default. Loading is explicit (``load_settings``); nothing is read at import time.
The file is validated as a whole when it is loaded, by the pydantic-settings model in
``chainwatch.settings`` (imported only then: pydantic costs ~100 ms, which ``--help`` and
modules that only need these types should not pay); an error names the file and line.
This module holds what the rest of chainwatch uses: the frozen ``Settings`` and
``WatcherConfig`` values, ``parse_duration`` and the names of kinds and formats.
Secrets never live in the file itself: a watcher names an environment variable
(``password_env``) or a cookie file, and the value is read only when the watcher connects,
as a ``Secret`` (pydantic's ``SecretStr``, which never prints itself). The ``[alerts]``
webhook is a ``Secret`` too (such URLs carry tokens), and ``Settings.db`` (which may hold a
database password) stays out of ``repr``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli

from chainwatch.categories import DEFAULT_PORT_RULES
from chainwatch.classify import DNS_HORIZON
from chainwatch.errors import ConfigError
from chainwatch.flows.limits import Limits, load_limits
from chainwatch.passive_dns import load_horizon
from chainwatch.sensors.signatures import SuricataSettings, load_suricata
from chainwatch.sources import choices
from chainwatch.watchers import REGISTRY as KINDS

if TYPE_CHECKING:
    from chainwatch.settings.fields import Secret as Secret

DEFAULT_DB = "sqlite:///chainwatch.db"
DEFAULT_CONFIG = "chainwatch.toml"
DEFAULT_WATCHLISTS = "watchlists"

#: Watcher kinds (``chainwatch.watchers.REGISTRY``) and what a ``flows`` watcher's ``format``
#: may be (``chainwatch.sources``): the registries are the one list.
WATCHER_KINDS = tuple(KINDS)
FLOW_FORMATS = choices("flows")
#: Checksum policies of packet captures (``chainwatch.pcap.checksums``), the default first.
CHECKSUM_POLICIES = ("auto", "validate", "ignore")
#: The settings with an environment twin (``CHAINWATCH_`` + the name in capitals); the
#: ``[limits]`` and ``[catalogs]`` twins are read by their own loaders.
ENVIRONMENT = {
    "db": "CHAINWATCH_DB",
    "watchlists": "CHAINWATCH_WATCHLISTS",
    "resolve_hosts": "CHAINWATCH_RESOLVE_HOSTS",
    "cluster": "CHAINWATCH_CLUSTER",
}

_PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "password", "secret", "xxx"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def __getattr__(name: str) -> Any:
    # ``Secret`` is pydantic's SecretStr: imported on first use, not with this module.
    if name == "Secret":
        from chainwatch.settings.fields import Secret

        return Secret
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
        from chainwatch.settings.fields import Secret

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
        db: SQLAlchemy URL of the store (it may hold a password: kept out of ``repr``;
            messages show it through ``chainwatch.store.db.redact``).
        watchlists: directory of watchlists (and ``endpoints/`` catalogs).
        config_path: the configuration file read, or None when there was none.
        watchers: the configured watchers, in file order.
        port_rules: port -> category, the built-in rules with the file's overrides applied.
        resolve_hosts: resolve catalog host names when a scan runs (off for air-gapped use).
        report: the file's ``[report]`` table, validated at load (the keys given; the
            report package fills in its defaults).
        alerts: the file's ``[alerts]`` table, validated at load, defaults filled in
            (``webhook`` a ``Secret``: its URL may hold a token).
        limits: what flow readers accept (``[limits]``, see ``chainwatch.flows.limits``).
        dns_horizon: how far from a DNS answer it attributes records to a catalog host
            (``[catalogs] dns_horizon``, see ``chainwatch.passive_dns``).
        suricata: the site's Suricata signature rules (``[suricata]``, see
            ``chainwatch.sensors.signatures``).
        cluster: the Dask cluster a scan reads flow inputs on (``local:N`` or
            ``tcp://HOST:PORT``, see ``chainwatch.cluster``), or None: in this process.
    """

    db: str = field(default=DEFAULT_DB, repr=False)
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
    cluster: str | None = None

    def watcher(self, name: str) -> WatcherConfig:
        for watcher in self.watchers:
            if watcher.name == name:
                return watcher
        known = ", ".join(w.name for w in self.watchers) or "none configured"
        where = self.config_path or "configuration"
        raise ConfigError(where, f"no watcher named {name!r}", expected=f"one of: {known}")


def load_settings(
    *,
    db: str | None = None,
    config: str | Path | None = None,
    watchlists: str | Path | None = None,
) -> Settings:
    """Resolve settings from flags (arguments), environment and the configuration file.

    ``config`` given explicitly (flag or ``CHAINWATCH_CONFIG``) must exist; the default
    ``chainwatch.toml`` is read only if present. Every table is validated now, so a typo
    anywhere in the file stops the command before it starts work.
    """
    from chainwatch.settings.model import validate

    explicit = config if config is not None else os.environ.get("CHAINWATCH_CONFIG") or None
    path = Path(explicit) if explicit else Path(DEFAULT_CONFIG)
    data: dict[str, Any] = {}
    text = ""
    config_path: Path | None = None
    if explicit and not path.is_file():
        raise ConfigError(path, "configuration file not found", expected="a TOML file")
    if path.is_file():
        config_path = path
        text, data = _read_toml(path)
    flags = {"db": db or None, "watchlists": str(watchlists) if watchlists else None}
    model, lists_in_file = validate(data, text=text, path=path, flags=flags)
    lists = Path(model.watchlists)
    # A relative watchlists path in the file is relative to the file, not to where we run.
    if lists_in_file and config_path is not None and not lists.is_absolute():
        lists = config_path.parent / lists
    return Settings(
        db=model.db.get(),
        watchlists=lists,
        config_path=config_path,
        watchers=tuple(entry.config(str(path)) for entry in model.watchers),
        port_rules=model.port_rules,
        resolve_hosts=model.resolve_hosts,
        report=model.report.model_dump(exclude_unset=True),
        alerts=model.alerts.model_dump(),
        limits=load_limits(data.get("limits"), os.environ, path),
        dns_horizon=load_horizon(data.get("catalogs"), os.environ, path, DNS_HORIZON),
        suricata=load_suricata(data.get("suricata"), path, text if "suricata" in data else None),
        cluster=model.cluster,
    )


def _read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(path, "is not UTF-8 text", expected="a TOML file") from None
    try:
        return text, tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        raise ConfigError(path, f"not valid TOML: {exc}") from None
