"""SQLAlchemy 2.0 models of the store.

Times are timezone-aware UTC everywhere (``UtcDateTime``); a missing value is NULL, never a
made-up one. The schema is made and changed only by the Alembic migrations in ``migrations/``;
``tests/store/test_migrations.py`` fails when these models and the migrations disagree.

Tables:
    watchlists, watch_ranges   the watchlists as last loaded (name, source, ranges).
    scans                      one row per scan or run round: status, counts, errors.
    watcher_runs               one row per watcher per scan: the base of ``chainwatch status``.
    inputs                     every input file read (path, size, SHA-256, format): re-reads skip.
    events                     one per classified record or live peer connection, with provenance.
    address_book               node address-book entries in watched ranges (lower-weight evidence).
    rollups                    per hour, watchlist and category: records, bytes, packets, events.
    rollup_addresses           per hour, watchlist and category: the distinct local addresses.
    rollup_day_addresses       the same per UTC day: what reports count distinct sources from.
    host_resolutions           passive DNS: host -> address answers, when and where seen.
    run_locks                  the one ``chainwatch run`` allowed per database: who holds it.
    alerts                     shifts and onsets already announced, so each is sent once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, synonym

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY, so big ids are plain integers there.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite keeps no zone, so values are stored as naive UTC and given ``UTC`` back on load;
    naive datetimes are refused on the way in because their zone is unknowable.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError(f"naive or non-datetime value {value!r}: times must be UTC-aware")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UtcDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Watchlist(Base):
    __tablename__ = "watchlists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text)
    file_sha256: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[dt.datetime]


class WatchRange(Base):
    """A watched range as last loaded. One CIDR may stand several times with different
    validity windows (``valid_from``/``valid_to``: inclusive instants, NULL unbounded; a date
    ``valid_to`` in the file is stored as the last microsecond of that day)."""

    __tablename__ = "watch_ranges"
    __table_args__ = (Index(None, "watchlist_id", "cidr"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    watchlist_id: Mapped[int] = mapped_column(ForeignKey("watchlists.id", ondelete="CASCADE"))
    cidr: Mapped[str] = mapped_column(String(50))
    note: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text)
    valid_from: Mapped[dt.datetime | None]
    valid_to: Mapped[dt.datetime | None]


class Scan(Base):
    __tablename__ = "scans"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    #: running | ok | partial | failed | interrupted
    status: Mapped[str] = mapped_column(String(20))
    command: Mapped[str] = mapped_column(String(20))
    pid: Mapped[int | None]
    hostname: Mapped[str | None] = mapped_column(String(255))
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    errors: Mapped[list[Any]] = mapped_column(default=list)


class WatcherRun(Base):
    __tablename__ = "watcher_runs"
    __table_args__ = (Index(None, "watcher", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id", ondelete="SET NULL"))
    watcher: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    ok: Mapped[bool | None] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Input(Base):
    __tablename__ = "inputs"

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    format: Mapped[str] = mapped_column(String(20))
    read_at: Mapped[dt.datetime]
    scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id", ondelete="SET NULL"))
    records: Mapped[int] = mapped_column(BigInteger, default=0)
    watched: Mapped[int] = mapped_column(BigInteger, default=0)
    bad: Mapped[int] = mapped_column(BigInteger, default=0)


_LIVE: dict[str, Any] = {
    f"{dialect}_where": text("last_seen_at IS NOT NULL") for dialect in ("sqlite", "postgresql")
}


class Event(Base):
    """One classified record, or one live peer connection for as long as it lasts.

    ``observed_at`` is when it happened (the record's own time, or when a node first saw the
    connection); ``last_seen_at`` is the latest time it was still seen; ``recorded_at`` is
    when chainwatch stored it.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index(None, "watchlist", "observed_at"),
        Index(None, "observed_at"),
        Index(None, "source", "observed_at"),  # a source's latest event (flow pairing)
        Index(None, "input_id"),
        # Node peers (the only events with last_seen_at) are upserted by their connection key;
        # flow events, paired by source and time, need not keep this index up to date.
        Index("uq_events_live_connection", "source", "connection_key", unique=True, **_LIVE),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    observed_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime | None]
    recorded_at: Mapped[dt.datetime]
    watchlist: Mapped[str] = mapped_column(String(200))
    matched_cidr: Mapped[str] = mapped_column(String(50))
    local_ip: Mapped[str] = mapped_column(String(45))
    local_port: Mapped[int | None]
    remote_ip: Mapped[str | None] = mapped_column(String(45))
    remote_port: Mapped[int | None]
    proto: Mapped[str | None] = mapped_column(String(10))
    #: outbound (local side started it) | inbound | None when unknown
    direction: Mapped[str | None] = mapped_column(String(10))
    category: Mapped[str] = mapped_column(String(20))
    coin: Mapped[str | None] = mapped_column(String(10))
    detector: Mapped[str] = mapped_column(String(20))
    confidence: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(200))
    source_ref: Mapped[str] = mapped_column(Text)
    #: The input and scan that stored the event; not foreign keys: both rows are written
    #: first and never deleted, and checking them per event halved COPY's speed (0010).
    input_id: Mapped[int | None] = mapped_column(BigId)
    scan_id: Mapped[int | None] = mapped_column(BigId)
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    packets: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[dict[str, Any] | None]
    evidence_sha256: Mapped[str] = mapped_column(String(64))
    #: identifies a live connection across polls (node watchers: unique among the events with
    #: ``last_seen_at``), or a flow record's connection (pairing; NULL in the demo's events).
    connection_key: Mapped[str | None] = mapped_column(String(200))


class AddressBookEntry(Base):
    """A watched address a node knows of (``getnodeaddresses``, ``get_peer_list``).

    Weaker evidence than a connection: the node heard of the address, it did not talk to it.
    """

    __tablename__ = "address_book"
    __table_args__ = (
        UniqueConstraint("source", "ip", "port"),
        Index(None, "watchlist", "first_recorded_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    source_ref: Mapped[str] = mapped_column(Text)
    coin: Mapped[str] = mapped_column(String(10))
    watchlist: Mapped[str] = mapped_column(String(200))
    matched_cidr: Mapped[str] = mapped_column(String(50))
    ip: Mapped[str] = mapped_column(String(45))
    port: Mapped[int | None]
    #: white | gray (monerod) | None
    list_name: Mapped[str | None] = mapped_column(String(10))
    last_seen_at: Mapped[dt.datetime | None]
    first_recorded_at: Mapped[dt.datetime]
    last_recorded_at: Mapped[dt.datetime]
    scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id", ondelete="SET NULL"))
    detail: Mapped[dict[str, Any] | None]


class Rollup(Base):
    """Hourly totals of every watched record, classified or not (category ``other``)."""

    __tablename__ = "rollups"
    __table_args__ = (UniqueConstraint("hour", "watchlist", "category"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    hour: Mapped[dt.datetime]
    watchlist: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(20))
    records: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    packets: Mapped[int] = mapped_column(BigInteger, default=0)
    #: events stored for this hour and category (0 for ``other``)
    events: Mapped[int] = mapped_column(BigInteger, default=0)


class RollupAddress(Base):
    """The distinct local addresses behind a rollup row (so distinct counts add up exactly)."""

    __tablename__ = "rollup_addresses"
    __table_args__ = (UniqueConstraint("hour", "watchlist", "category", "local_ip"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    hour: Mapped[dt.datetime]
    watchlist: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(20))
    local_ip: Mapped[str] = mapped_column(String(45))


class RollupDayAddress(Base):
    """The distinct local addresses per UTC day, watchlist and category: ``rollup_addresses``
    folded to days, kept beside it so a year of daily (or weekly) distinct counts reads a few
    hundred thousand rows rather than millions of hourly ones."""

    __tablename__ = "rollup_day_addresses"
    __table_args__ = (UniqueConstraint("day", "watchlist", "category", "local_ip"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    day: Mapped[dt.date]
    watchlist: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(20))
    local_ip: Mapped[str] = mapped_column(String(45))


class HostResolution(Base):
    """One DNS answer (or failed look-up) as the passive DNS store keeps it.

    ``kind`` says where it came from: ``traffic`` (a DNS response in a capture or a sensor
    log: ``input_id`` names the input, ``seen_in`` the file and packet or line) or ``lookup``
    (a look-up made by scan ``scan_id`` at ``seen_at``, the scan's time). Answers of one
    (host, address) in one input are folded into rows of sightings less than an hour apart
    (``chainwatch.passive_dns.Sightings``): ``seen_at``/``seen_in`` is the first sighting,
    ``last_seen_at``/``last_seen_in`` the last (the same when seen once).
    """

    __tablename__ = "host_resolutions"
    __table_args__ = (Index(None, "host", "seen_at"), Index(None, "input_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    #: None when the name did not resolve (the error says why)
    address: Mapped[str | None] = mapped_column(String(45))
    seen_at: Mapped[dt.datetime]
    # In the order the migrations add them: a database created from the models is the same.
    scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(Text)
    seen_in: Mapped[str] = mapped_column(Text)
    last_seen_at: Mapped[dt.datetime]
    last_seen_in: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(10))
    input_id: Mapped[int | None] = mapped_column(ForeignKey("inputs.id", ondelete="SET NULL"))
    #: The name the column had before passive DNS (look-ups only: when it was resolved).
    resolved_at = synonym("seen_at")

    def __init__(self, **kwargs: Any) -> None:
        # A look-up's row, as before passive DNS, needs only host, address and its time.
        kwargs.setdefault("kind", "lookup")
        kwargs.setdefault("seen_in", "look-up at scan time")
        when = kwargs.get("seen_at", kwargs.get("resolved_at"))
        kwargs.setdefault("last_seen_at", when)
        kwargs.setdefault("last_seen_in", kwargs["seen_in"])
        super().__init__(**kwargs)


class RunLock(Base):
    """The ``chainwatch run`` lock: one row per lock name, naming the holder and its heartbeat.

    A lock whose holder is gone (a dead pid on this host, or no heartbeat for a long time from
    another host) is taken over; see ``store/runs.py``.
    """

    __tablename__ = "run_locks"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    pid: Mapped[int]
    hostname: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[dt.datetime]
    heartbeat_at: Mapped[dt.datetime]


class Alert(Base):
    """A shift or onset that was announced; ``key`` identifies it so it is announced once."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    watchlist: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime]
    #: the delivery errors (webhook, command); empty when every configured channel took it
    errors: Mapped[list[Any]] = mapped_column(default=list)


class ListProvenance(Base):
    """A watchlist or catalog file as some scan used it, once per (kind, name, sha256): where
    it came from (``sources``: the provenance header's files, or a TOML ``source``), when it
    was imported, and the span of its rows (NULL: unbounded). ``scan_lists`` says which scans
    used it; export manifests list them."""

    __tablename__ = "list_provenance"
    __table_args__ = (UniqueConstraint("kind", "name", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: watchlist | catalog
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    sources: Mapped[list[Any]] = mapped_column(default=list)
    imported_at: Mapped[dt.datetime | None]
    command: Mapped[str | None] = mapped_column(Text)
    span_from: Mapped[dt.datetime | None]
    span_to: Mapped[dt.datetime | None]
    first_used_at: Mapped[dt.datetime]


class ScanList(Base):
    """Which watchlists and catalogs (``list_provenance`` rows) a scan loaded."""

    __tablename__ = "scan_lists"
    __table_args__ = (Index(None, "list_id"),)

    scan_id: Mapped[int] = mapped_column(
        ForeignKey("scans.id", ondelete="CASCADE"), primary_key=True
    )
    list_id: Mapped[int] = mapped_column(
        ForeignKey("list_provenance.id", ondelete="CASCADE"), primary_key=True
    )
