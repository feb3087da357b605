"""Passive DNS: folding an input's sightings loses no attribution for any horizon of at least
``SPAN``, and ``[catalogs] dns_horizon`` with its environment twin, validated with the file and
line of the key (through ``load_settings`` and the CLI)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainwatch.config import load_settings
from chainwatch.errors import ConfigError
from chainwatch.passive_dns import SPAN, Answer, Sightings

T0 = dt.datetime(2019, 5, 16, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("CHAINWATCH_CONFIG", "CHAINWATCH_DNS_HORIZON"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


@settings(max_examples=300, deadline=None)
@given(
    offsets=st.lists(st.integers(0, 40 * 86400), min_size=1, max_size=60),
    probes=st.lists(st.integers(-10 * 86400, 50 * 86400), min_size=1, max_size=20),
    horizon=st.integers(int(SPAN.total_seconds()), 20 * 86400),
    batch=st.integers(1, 7),
)
def test_folded_rows_attribute_exactly_as_every_sighting(
    offsets: list[int], probes: list[int], horizon: int, batch: int
) -> None:
    """A record is within the horizon of some sighting exactly when it is within the horizon
    of an end of some stored row, whatever the order the sightings come in."""
    sightings = [
        Answer("pool.example.org", "192.0.2.1", T0 + dt.timedelta(seconds=o), f"f:{i}")
        for i, o in enumerate(offsets)
    ]
    folding = Sightings()
    clusters = []
    for at in range(0, len(sightings), batch):
        clusters += folding.add(sightings[at : at + batch])
    clusters += folding.close()
    kept = [a.seen_at for c in clusters for a in c.answers()]
    assert len(clusters) <= len(sightings)
    for c in clusters:
        assert c.last.seen_at - c.first.seen_at < SPAN
    window = dt.timedelta(seconds=horizon)
    for probe in probes:
        t = T0 + dt.timedelta(seconds=probe)
        every = any(abs(s.seen_at - t) <= window for s in sightings)
        folded = any(abs(k - t) <= window for k in kept)
        assert every == folded, (t, window)


def test_one_row_per_hour_of_repeated_answers() -> None:
    answers = [
        Answer("pool.example.org", "192.0.2.1", T0 + dt.timedelta(minutes=m), f"f:{m}")
        for m in range(0, 180, 5)
    ]
    folding = Sightings()
    clusters = folding.add(answers) + folding.close()
    assert [(c.first.seen_in, c.last.seen_in) for c in clusters] == [
        ("f:0", "f:55"),
        ("f:60", "f:115"),
        ("f:120", "f:175"),
    ]


def test_horizon_default_file_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().dns_horizon == dt.timedelta(days=7)
    Path("chainwatch.toml").write_text('[catalogs]\ndns_horizon = "36h"\n')
    assert load_settings().dns_horizon == dt.timedelta(hours=36)
    monkeypatch.setenv("CHAINWATCH_DNS_HORIZON", "2d")
    assert load_settings().dns_horizon == dt.timedelta(days=2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '# site\ndb = "sqlite:///x.db"\n\n[catalogs]\ndns_horizon = "soon"\n',
            "chainwatch.toml:5: dns_horizon is 'soon'",
        ),
        ('[catalogs]\n# short\ndns_horizon = "10m"\n', "chainwatch.toml:3: dns_horizon is '10m'"),
        ("[catalogs]\ndns_horizon = 0\n", "chainwatch.toml:2: dns_horizon is 0"),
        ('[catalogs]\nhorizon = "7d"\n', "chainwatch.toml:2: unknown key catalogs.horizon"),
        ('catalogs = "7d"\n', "catalogs is not a table"),
    ],
)
def test_bad_horizons_name_file_and_line(text: str, message: str) -> None:
    Path("chainwatch.toml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(message) or message in str(caught.value), caught.value


def test_bad_environment_horizon_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAINWATCH_DNS_HORIZON", "a week")
    with pytest.raises(ConfigError, match=r"^\$CHAINWATCH_DNS_HORIZON: dns_horizon is 'a week'"):
        load_settings()


def test_cli_reports_a_bad_horizon_in_one_line(cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text('[catalogs]\ndns_horizon = "-3d"\n')
    result = cli("--config", config, "--db", f"sqlite:///{tmp_path / 'x.db'}", "status")
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"{config}:2: dns_horizon is '-3d'" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
