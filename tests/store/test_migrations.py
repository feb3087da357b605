"""Migrations: empty -> head on both backends, models agree with migrations, a database
created from the models is the one the migrations make, linear chain."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from chainwatch.store.db import (
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
    open_store,
    upgrade,
)
from chainwatch.store.models import Base
from tests.conftest import PgDatabases


def _migrated(url: str) -> Engine:
    """A fresh database brought to head by the migrations, one after another."""
    engine = make_engine(url)
    upgrade(engine, url, from_models=False)
    return engine


def test_empty_to_head_creates_every_table(db_url: str) -> None:
    engine = _migrated(db_url)
    try:
        assert current_revision(engine) == head_revision()
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
    finally:
        engine.dispose()


def test_models_and_migrations_agree(db_url: str) -> None:
    engine = _migrated(db_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
    finally:
        engine.dispose()


def _schema(engine: Engine) -> dict[str, Any]:
    """Every table as the database describes it: columns in order, with types and defaults,
    indexes with their conditions, constraints; and the revision."""
    found = inspect(engine)
    tables: dict[str, Any] = {"revision": current_revision(engine)}
    for name in found.get_table_names():
        tables[name] = (
            [
                (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                for c in found.get_columns(name)
            ],
            sorted(
                (
                    i["name"],
                    i["column_names"],
                    i["unique"],
                    {k: str(v) for k, v in i.get("dialect_options", {}).items()},
                )
                for i in found.get_indexes(name)
            ),
            sorted((u["name"], u["column_names"]) for u in found.get_unique_constraints(name)),
            sorted(
                (f["name"], f["constrained_columns"], f["referred_table"], f["options"])
                for f in found.get_foreign_keys(name)
            ),
            found.get_pk_constraint(name),
            found.get_check_constraints(name),
        )
    return tables


def test_created_from_models_as_migrated(
    db_url: str, tmp_path: Path, pg_databases: PgDatabases
) -> None:
    """An empty database is created from the models (``open_store``), not migrated: it must
    be the database the migrations make, to the order of the columns."""
    other = (
        f"sqlite:///{tmp_path / 'migrated.db'}"
        if db_url.startswith("sqlite")
        else pg_databases.new()
    )
    open_store(db_url).close()
    created, migrated = make_engine(db_url), _migrated(other)
    try:
        assert "events" in _schema(created)
        assert _schema(created) == _schema(migrated)
    finally:
        created.dispose()
        migrated.dispose()


def test_revision_chain_is_linear() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert len(scripts.get_heads()) == 1, "more than one head: the migration chain has branched"
    assert len(scripts.get_bases()) == 1
    revisions = list(scripts.walk_revisions())
    for revision in revisions:
        assert not revision.is_merge_point, f"{revision.revision} is a merge"
        assert not isinstance(revision.down_revision, tuple)


def test_open_is_idempotent_and_sqlite_uses_wal(db_url: str) -> None:
    open_store(db_url).close()
    store = open_store(db_url)  # second open: already at head, nothing to do
    try:
        with store.engine.connect() as connection:
            if store.dialect == "sqlite":
                assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
                assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        store.close()


def _downgrade(connection: Any, db_url: str, revision: str) -> None:
    from alembic import command

    config = alembic_config(db_url)
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


def test_downgrade_to_base_and_back(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        open_store(db_url).close()
        with engine.begin() as connection:
            _downgrade(connection, db_url, "base")
        assert current_revision(engine) is None
        assert "events" not in inspect(engine).get_table_names()
        open_store(db_url).close()
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_0003_folds_existing_hourly_addresses_into_days(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        open_store(db_url).close()
        with engine.begin() as connection:
            _downgrade(connection, db_url, "0002")
            # Two hours of one UTC day (one just before midnight) and one of the next day.
            for hour, ip in (
                ("2019-05-01 00:00:00", "175.45.176.5"),
                ("2019-05-01 23:00:00", "175.45.176.5"),
                ("2019-05-02 00:00:00", "175.45.176.6"),
            ):
                connection.execute(
                    text(
                        "INSERT INTO rollup_addresses (hour, watchlist, category, local_ip)"
                        " VALUES (:hour, 'kp', 'xmr-pool', :ip)"
                    ),
                    {"hour": dt.datetime.fromisoformat(hour).replace(tzinfo=dt.UTC), "ip": ip}
                    if engine.dialect.name == "postgresql"
                    else {"hour": hour + ".000000", "ip": ip},
                )
        open_store(db_url).close()  # migrates to head
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT day, local_ip FROM rollup_day_addresses ORDER BY day, local_ip")
            ).all()
        assert [(str(day), ip) for day, ip in rows] == [
            ("2019-05-01", "175.45.176.5"),
            ("2019-05-02", "175.45.176.6"),
        ]
    finally:
        engine.dispose()


# --- 0005: pools whose coin was only guessed ---------------------------------------------

T = dt.datetime(2019, 5, 16, 9, 46, 40, tzinfo=dt.UTC)
#: Zcash transparent address (a founders' reward address in zcashd's chainparams.cpp).
ZEC_ADDRESS = "t3Vz22vK5z2LcKEdg16Yv4FFneEL1zg9ojd"
BTC_ADDRESS = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"  # BIP 173's test vector


def _event(
    local_ip: str,
    minutes: int,
    detail: dict[str, Any],
    detector: str = "payload",
    category: str = "btc-pool",
) -> dict[str, Any]:
    """An event as 0004 stored a pool conversation: btc-pool for stratum whatever the coin."""
    return {
        "observed_at": T + dt.timedelta(minutes=minutes),
        "last_seen_at": None,
        "recorded_at": T,
        "watchlist": "kp",
        "matched_cidr": "175.45.176.0/22",
        "local_ip": local_ip,
        "local_port": 40001,
        "remote_ip": "203.0.113.20",
        "remote_port": 3333,
        "proto": "tcp",
        "direction": "outbound",
        "category": category,
        "coin": category.partition("-")[0],
        "detector": detector,
        "confidence": 0.95 if detector == "payload" else 0.9,
        "source": "span.pcap",
        "source_ref": f"span.pcap:{minutes + 4}",
        "input_id": None,
        "scan_id": None,
        "bytes": 1000 + minutes,
        "packets": 10,
        "detail": {"format": "pcap", **detail},
        "evidence_sha256": f"{minutes:064x}",
        "connection_key": None,
    }


OLD_EVENTS = [
    # The EWBF miner: its worker is a Zcash address.
    _event(
        "175.45.176.5",
        0,
        {"protocol": "stratum", "agent": "EWBF 0.3.4b", "worker": f"{ZEC_ADDRESS}.rig4"},
    ),
    # Nothing tells the coin: an unknown agent, a worker that is no address.
    _event("175.45.176.6", 1, {"protocol": "stratum", "agent": "minerd", "worker": "rig7"}),
    # Really Bitcoin: a checksummed bech32 address.
    _event(
        "175.45.176.6",
        2,
        {"protocol": "stratum", "agent": "cgminer/4.10.0", "worker": f"{BTC_ADDRESS}.s9"},
    ),
    # A catalog's btc-pool endpoint: not a guess, left alone.
    _event("175.45.176.7", 3, {"endpoint": "btcpool"}, detector="endpoint"),
    # XMRig mining Ravencoin: 0004 called Monero-style stratum xmr-pool whatever the job's
    # algorithm.
    _event(
        "175.45.176.8",
        4,
        {
            "protocol": "xmr-stratum",
            "message": "login",
            "wallet": "rig12",
            "agent": "XMRig/6.21.0",
            "algo": ["rx/0", "kawpow"],
            "job_algo": "kawpow",
            "coin_from": "protocol",
        },
        category="xmr-pool",
    )
    | {"confidence": 0.7},
    # Ethereum stratum stays Ethereum's, now with how that was decided.
    _event(
        "175.45.176.9",
        5,
        {"protocol": "eth-stratum", "agent": "ethminer/0.19.0"},
        category="eth-pool",
    ),
]


def _categories(connection: Any) -> dict[str, Any]:
    def pairs(sql: str) -> list[tuple[Any, ...]]:
        return sorted(tuple(str(v) for v in row) for row in connection.execute(text(sql)))

    return {
        "events": pairs("SELECT local_ip, category, coalesce(coin, '-'), confidence FROM events"),
        "rollups": pairs("SELECT category, records, bytes, packets, events FROM rollups"),
        "hours": pairs("SELECT category, local_ip FROM rollup_addresses"),
        "days": pairs("SELECT category, local_ip FROM rollup_day_addresses"),
    }


def test_0005_decides_guessed_pool_coins_and_moves_rollups(db_url: str) -> None:
    from chainwatch.store.writes import add_rollup_addresses, add_rollups, insert_events

    engine = make_engine(db_url)
    try:
        open_store(db_url).close()
        with engine.begin() as connection:
            _downgrade(connection, db_url, "0004")
            insert_events(connection, OLD_EVENTS)
            hour = T.replace(minute=0, second=0)
            add_rollups(
                connection,
                [
                    {
                        "hour": hour,
                        "watchlist": "kp",
                        "category": "btc-pool",
                        "records": 4,
                        "bytes": 4006,
                        "packets": 40,
                        "events": 4,
                    },
                    *(
                        {
                            "hour": hour,
                            "watchlist": "kp",
                            "category": c,
                            "records": 1,
                            "bytes": b,
                            "packets": 10,
                            "events": 1,
                        }
                        for c, b in (("xmr-pool", 1004), ("eth-pool", 1005))
                    ),
                    {
                        "hour": hour,
                        "watchlist": "kp",
                        "category": "other",
                        "records": 2,
                        "bytes": 10,
                        "packets": 2,
                        "events": 0,
                    },
                ],
            )
            add_rollup_addresses(
                connection,
                [
                    {"hour": hour, "watchlist": "kp", "category": c, "local_ip": ip}
                    for c, ip in [
                        ("btc-pool", "175.45.176.5"),
                        ("btc-pool", "175.45.176.6"),
                        ("btc-pool", "175.45.176.7"),
                        ("xmr-pool", "175.45.176.8"),
                        ("eth-pool", "175.45.176.9"),
                        ("other", "175.45.176.5"),
                    ]
                ],
            )
        open_store(db_url).close()  # migrates to head
        with engine.connect() as connection:
            after = _categories(connection)
            ewbf = connection.execute(
                text("SELECT detail FROM events WHERE local_ip = '175.45.176.5'")
            ).scalar_one()
        assert after["events"] == [
            ("175.45.176.5", "zec-pool", "zec", "0.95"),
            ("175.45.176.6", "btc-pool", "btc", "0.95"),
            ("175.45.176.6", "pool", "-", "0.95"),
            ("175.45.176.7", "btc-pool", "btc", "0.9"),
            ("175.45.176.8", "rvn-pool", "rvn", "0.9"),  # the job's algorithm: kawpow
            ("175.45.176.9", "eth-pool", "eth", "0.7"),  # the protocol alone
        ]
        ewbf = json.loads(ewbf) if isinstance(ewbf, str) else ewbf
        assert (ewbf["coin_from"], ewbf["wallet"], ewbf["agent"]) == (
            "wallet",
            ZEC_ADDRESS,
            "EWBF 0.3.4b",
        )
        # Each moved event took its record, bytes, packets and event along; totals are kept.
        assert after["rollups"] == [
            ("btc-pool", "2", "2005", "20", "2"),
            ("eth-pool", "1", "1005", "10", "1"),
            ("other", "2", "10", "2", "0"),
            ("pool", "1", "1001", "10", "1"),
            ("rvn-pool", "1", "1004", "10", "1"),
            ("zec-pool", "1", "1000", "10", "1"),
        ]
        # 175.45.176.6 still has a btc-pool event in that hour, 175.45.176.5 no longer.
        want = [
            ("btc-pool", "175.45.176.6"),
            ("btc-pool", "175.45.176.7"),
            ("eth-pool", "175.45.176.9"),
            ("other", "175.45.176.5"),
            ("pool", "175.45.176.6"),
            ("rvn-pool", "175.45.176.8"),
            ("zec-pool", "175.45.176.5"),
        ]
        assert after["hours"] == want and after["days"] == want

        with engine.begin() as connection:
            _downgrade(connection, db_url, "0004")
        with engine.connect() as connection:
            before = _categories(connection)
        assert [e[:3] for e in before["events"]] == [
            ("175.45.176.5", "btc-pool", "btc"),
            ("175.45.176.6", "btc-pool", "btc"),
            ("175.45.176.6", "btc-pool", "btc"),
            ("175.45.176.7", "btc-pool", "btc"),
            ("175.45.176.8", "xmr-pool", "xmr"),
            ("175.45.176.9", "eth-pool", "eth"),
        ]
        assert before["rollups"] == [
            ("btc-pool", "4", "4006", "40", "4"),
            ("eth-pool", "1", "1005", "10", "1"),
            ("other", "2", "10", "2", "0"),
            ("xmr-pool", "1", "1004", "10", "1"),
        ]
        assert (
            before["hours"]
            == before["days"]
            == [
                ("btc-pool", "175.45.176.5"),
                ("btc-pool", "175.45.176.6"),
                ("btc-pool", "175.45.176.7"),
                ("eth-pool", "175.45.176.9"),
                ("other", "175.45.176.5"),
                ("xmr-pool", "175.45.176.8"),
            ]
        )
    finally:
        engine.dispose()


def test_head_revision_is_alembics_head() -> None:
    """The head read from the scripts' text (no Alembic import at start-up) is Alembic's."""
    from alembic.script import ScriptDirectory

    from chainwatch.store.db import alembic_config, head_revision

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()
