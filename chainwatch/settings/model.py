"""The configuration file's models and where their values come from.

``ConfigFile`` is a pydantic-settings model over three sources, highest first: the
command-line flags (init arguments), the environment (only the settings of
``chainwatch.config.ENVIRONMENT``: a table has no environment twin) and the file's table
(already parsed; tomli gives no positions, so the text comes along for the error lines).
Every table refuses keys it does not know; ``validate`` turns a failure into one
``ConfigError`` naming file and line (or ``$VARIABLE``) for each problem.
"""

from __future__ import annotations

import contextvars
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from chainwatch.categories import DEFAULT_PORT_RULES, EVENT_CATEGORIES
from chainwatch.config import (
    CHECKSUM_POLICIES,
    DEFAULT_DB,
    DEFAULT_WATCHLISTS,
    ENVIRONMENT,
    WATCHER_KINDS,
    WatcherConfig,
)
from chainwatch.flows.limits import ENVIRONMENT as LIMIT_KEYS
from chainwatch.passive_dns import HORIZON_KEY
from chainwatch.settings.errors import translate
from chainwatch.settings.fields import Duration, Secret, invalid
from chainwatch.settings.report import ReportTable
from chainwatch.sources import choices

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_NODE_KINDS = {"bitcoin", "litecoin", "monero", "ethereum"}
#: the keys of the tables whose values their own loaders check (``load_limits``,
#: ``load_horizon``, ``load_suricata``), refused here so that an unknown one has its line
_OWN_TABLES = {
    "limits": tuple(LIMIT_KEYS),
    "catalogs": (HORIZON_KEY,),
    "suricata": ("mapping", "replace", "rules"),
}
#: the file's parsed table for the model being built (a source cannot take arguments)
_FILE: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar("chainwatch_file")


class WatcherEntry(BaseModel):
    """One ``[[watchers]]`` entry, as ``chainwatch.config.WatcherConfig`` documents it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: StrictStr
    kind: StrictStr
    url: StrictStr | None = None
    user: StrictStr | None = None
    password_env: StrictStr | None = None
    cookie: StrictStr | None = None
    interval: Duration = 300.0
    timeout: Duration = 10.0
    path: StrictStr | None = None
    format: StrictStr = "auto"
    retries: StrictInt = 3
    checksums: StrictStr | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not _NAME.fullmatch(name):
            raise invalid(f"name is {name!r}", "a name of letters, digits, - _ .")
        return name

    @field_validator("kind")
    @classmethod
    def _kind(cls, kind: str) -> str:
        if kind not in WATCHER_KINDS:
            raise invalid(f"kind is {kind!r}", f"one of: {', '.join(WATCHER_KINDS)}")
        return kind

    @field_validator("retries")
    @classmethod
    def _retries(cls, retries: int) -> int:
        if not 0 <= retries <= 20:
            raise invalid(f"retries is {retries!r}", "a whole number 0-20")
        return retries

    @model_validator(mode="after")
    def _by_kind(self) -> WatcherEntry:
        if self.kind in _NODE_KINDS:
            if not self.url:
                raise invalid("url is missing", "the node's RPC URL")
            if not re.match(r"^https?://", self.url):
                raise invalid(f"url is {self.url!r}", "an http:// or https:// URL", key="url")
            if "@" in self.url.split("//", 1)[1].split("/", 1)[0]:
                # the URL itself is not quoted: it holds a password
                raise invalid(
                    "url carries credentials",
                    "user = ... and password_env = ... (or cookie = ...) instead",
                    key="url",
                )
        if self.format not in choices(self.kind):  # what the kind reads (chainwatch.sources)
            formats = ", ".join(choices(self.kind))
            raise invalid(f"format is {self.format!r}", f"one of: {formats}", key="format")
        if self.kind in {"flows", "pcap"} and not self.path:
            raise invalid("path is missing", "a file or directory")
        if self.password_env and self.cookie:
            raise invalid("both password_env and cookie are set", "one of them", key="cookie")
        if self.checksums is not None and (
            self.kind != "pcap" or self.checksums not in CHECKSUM_POLICIES
        ):
            raise invalid(
                f"checksums is {self.checksums!r}"
                + ("" if self.kind == "pcap" else f" on a {self.kind} watcher"),
                f"one of {', '.join(CHECKSUM_POLICIES)}, on pcap watchers only",
                key="checksums",
            )
        return self

    def config(self, source_file: str) -> WatcherConfig:
        """The runtime value (``~`` expanded in paths)."""
        return WatcherConfig(
            name=self.name,
            kind=self.kind,
            url=self.url,
            user=self.user,
            password_env=self.password_env,
            cookie=Path(self.cookie).expanduser() if self.cookie else None,
            interval=self.interval,
            timeout=self.timeout,
            path=Path(self.path).expanduser() if self.path else None,
            format=self.format,
            retries=self.retries,
            checksums=self.checksums or "auto",
            source_file=source_file,
        )


class AlertsTable(BaseModel):
    """The ``[alerts]`` table (``chainwatch.runner.alerts.AlertConfig`` documents it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook: Secret | None = None
    command: tuple[str, ...] | None = None
    timeout: Duration = 10.0
    retries: StrictInt = 3

    @field_validator("webhook", mode="before")
    @classmethod
    def _webhook(cls, webhook: Any) -> Any:
        if webhook is not None and (
            not isinstance(webhook, str) or not webhook.startswith(("http://", "https://"))
        ):
            raise invalid(f"webhook is {webhook!r}", "an http:// or https:// URL")
        return webhook

    @field_validator("command", mode="before")
    @classmethod
    def _command(cls, command: Any) -> Any:
        import shlex

        argv: tuple[str, ...] = ()
        if isinstance(command, str):
            argv = tuple(shlex.split(command))
        elif isinstance(command, list) and all(isinstance(a, str) for a in command):
            argv = tuple(command)
        if command is not None and not argv:
            raise invalid(f"command is {command!r}", "a command line or a list of arguments")
        return argv or None

    @field_validator("retries")
    @classmethod
    def _retries(cls, retries: int) -> int:
        if not 0 <= retries <= 10:
            raise invalid(f"retries is {retries!r}", "an integer from 0 to 10")
        return retries


class _Environment(EnvSettingsSource):
    """``CHAINWATCH_DB`` and the other twins; no other variable becomes a setting."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if field_name not in ENVIRONMENT:
            return None, field_name, False
        return super().get_field_value(field, field_name)


class _File(PydanticBaseSettingsSource):
    """The configuration file's table, parsed by ``chainwatch.config``."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return _FILE.get().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE.get())


class ConfigFile(BaseSettings):
    """The whole file, with the environment's and the flags' values over it."""

    model_config = SettingsConfigDict(
        env_prefix="CHAINWATCH_", env_ignore_empty=True, extra="forbid", frozen=True
    )

    db: Secret = Secret(DEFAULT_DB)
    watchlists: StrictStr = DEFAULT_WATCHLISTS
    # lax: the environment's "0"/"off" are booleans too
    resolve_hosts: bool = True
    port_rules: dict[int, str] = Field(default_factory=lambda: dict(DEFAULT_PORT_RULES))
    watchers: list[WatcherEntry] = Field(default_factory=list)
    report: ReportTable = Field(default_factory=ReportTable)
    alerts: AlertsTable = Field(default_factory=AlertsTable)
    # validated by their own loaders (chainwatch.flows.limits, passive_dns, sensors)
    limits: dict[str, Any] | None = None
    catalogs: dict[str, Any] | None = None
    suricata: dict[str, Any] | None = None
    cluster: StrictStr | None = None

    @field_validator("cluster", mode="before")
    @classmethod
    def _cluster(cls, value: Any) -> Any:
        from chainwatch.cluster.address import EXPECTED, parse

        if value is None:
            return value
        try:
            return parse(value).text if isinstance(value, str) else parse("")
        except ValueError:
            raise invalid(f"cluster is {value!r}", EXPECTED) from None

    @field_validator("db", "watchlists", mode="before")
    @classmethod
    def _text(cls, value: Any, info: Any) -> Any:
        if not isinstance(value, str | Secret):
            what = "an SQLAlchemy URL" if info.field_name == "db" else "a directory path"
            raise invalid(f"{info.field_name} is {value!r}", f"{what} string")
        return value

    @field_validator("resolve_hosts", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on"}:
            return True
        if isinstance(value, str) and value.strip().lower() in {"0", "false", "no", "off"}:
            return False
        if not isinstance(value, bool):
            raise invalid(f"resolve_hosts is {value!r}", "1/0, true/false, yes/no or on/off")
        return value

    @field_validator("port_rules", mode="before")
    @classmethod
    def _port_rules(cls, table: Any) -> dict[int, str]:
        if not isinstance(table, dict):
            raise invalid("port_rules is not a table", 'a table like {8333 = "btc-p2p"}')
        rules = dict(DEFAULT_PORT_RULES)
        for key, category in table.items():
            if not str(key).isdigit() or not 0 < int(key) < 65536:
                raise invalid(f"port_rules key {key!r}", "a port number 1-65535", key=key)
            if category == "none":  # lets a site switch a built-in rule off
                rules.pop(int(key), None)
                continue
            if category not in EVENT_CATEGORIES:
                raise invalid(
                    f"port_rules.{key} is {category!r}",
                    f'one of: {", ".join(EVENT_CATEGORIES)}, or "none"',
                    key=key,
                )
            rules[int(key)] = category
        return rules

    @field_validator("watchers", mode="before")
    @classmethod
    def _array(cls, entries: Any) -> Any:
        if not isinstance(entries, list):
            raise invalid("watchers is not an array of tables", "[[watchers]] entries")
        return entries

    @field_validator("watchers")
    @classmethod
    def _unique(cls, entries: list[WatcherEntry]) -> list[WatcherEntry]:
        seen: set[str] = set()
        for number, entry in enumerate(entries):
            if entry.name in seen:
                raise invalid("duplicate watcher name", "unique names", key=number)
            seen.add(entry.name)
        return entries

    @field_validator("limits", "catalogs", "suricata", mode="before")
    @classmethod
    def _table(cls, value: Any, info: Any) -> Any:
        name = info.field_name
        if value is not None and not isinstance(value, dict):
            raise invalid(f"{name} is not a table", f"a [{name}] table")
        unknown = sorted(set(value or ()) - set(_OWN_TABLES[name]))
        if unknown:  # worded as their loaders word it
            known = ", ".join(_OWN_TABLES[name])
            raise invalid(f"unknown key {name}.{unknown[0]}", f"one of: {known}", key=unknown[0])
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _Environment(settings_cls), _File(settings_cls)


def validate(
    data: Mapping[str, Any],
    *,
    text: str,
    path: Path,
    flags: Mapping[str, str | None],
) -> tuple[ConfigFile, bool]:
    """The file's table (``data``, parsed from ``text``) under the environment and the
    flags, validated, and whether ``watchlists`` came from the file (a relative path there
    is relative to the file); raises ``ConfigError`` with one line per problem."""
    given: dict[str, Any] = {key: value for key, value in flags.items() if value}
    # pydantic-settings reads os.environ itself; this only says which values came from it
    from_env = {key: var for key, var in ENVIRONMENT.items() if os.environ.get(var)}
    token = _FILE.set(data)
    try:
        model = ConfigFile(**given)
    except ValidationError as exc:
        where = {key: f"${var}" for key, var in from_env.items() if key not in given}
        raise translate(exc, text=text, path=path, data=data, where=where) from None
    finally:
        _FILE.reset(token)
    from_file = "watchlists" in data and "watchlists" not in given and "watchlists" not in from_env
    return model, from_file
