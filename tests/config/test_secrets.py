"""Secrets (database passwords, webhook tokens, RPC passwords) never reach a repr, a log
line or a stored row."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from chainwatch.config import Secret, load_settings
from chainwatch.runner.alerts import alert_config
from chainwatch.runner.loop import Runner
from chainwatch.store.db import open_store
from chainwatch.store.runs import list_alerts

TOKEN = "T0KEN-9f8e7d"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_secret_is_pydantic_secretstr() -> None:
    from pydantic import SecretStr

    secret = Secret(TOKEN)
    assert isinstance(secret, SecretStr) and secret.get() == TOKEN
    assert TOKEN not in repr(secret) and TOKEN not in str(secret) and TOKEN not in f"{secret}"


def test_db_password_not_in_settings_repr() -> None:
    settings = load_settings(db=f"postgresql://cw:{TOKEN}@127.0.0.1/test")
    assert settings.db.endswith("@127.0.0.1/test")
    assert TOKEN not in repr(settings)


def test_webhook_token_not_in_repr_log_or_database(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/hooks/{TOKEN}?key={TOKEN}"
    Path("chainwatch.toml").write_text(
        f'[alerts]\nwebhook = "{url}"\nretries = 0\ntimeout = "1s"\n'
    )
    db = f"sqlite:///{tmp_path / 'a.db'}"
    (tmp_path / "wl").mkdir()
    settings = load_settings(db=db, watchlists=tmp_path / "wl")
    assert isinstance(settings.alerts["webhook"], Secret)
    assert TOKEN not in repr(settings) and TOKEN not in repr(alert_config(settings))
    open_store(db).close()
    shift: dict[str, Any] = {"from": "btc", "to": "xmr", "changepoint": "2019-05-06"}
    with caplog.at_level(logging.INFO, logger="test.secrets"):
        Runner(
            settings,
            [],
            logging.getLogger("test.secrets"),
            finder=lambda s: [("shift", "kp", shift)],
        ).check_alerts()
    store = open_store(db)
    try:
        (stored,) = list_alerts(store)
    finally:
        store.close()
    assert len(stored.errors) == 1 and "127.0.0.1" in stored.errors[0]  # the failure is kept ...
    assert TOKEN not in stored.errors[0]  # ... without the token
    logged = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    assert "127.0.0.1" in logged and TOKEN not in logged


def test_rpc_password_read_when_used_as_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    Path("chainwatch.toml").write_text(
        '[[watchers]]\nname = "btc"\nkind = "bitcoin"\nurl = "http://127.0.0.1:8332"\n'
        'user = "cw"\npassword_env = "CW_TEST_RPC_PASSWORD"\n'
    )
    (watcher,) = load_settings().watchers  # not set yet: loading does not read it
    monkeypatch.setenv("CW_TEST_RPC_PASSWORD", TOKEN)
    secret = watcher.password()
    assert isinstance(secret, Secret) and secret.get() == TOKEN
    assert TOKEN not in repr(watcher) and TOKEN not in repr(secret)
