"""Which Suricata alerts count, and as what: the signature mapping.

The mapping is data (``suricata_rules.toml``, shipped with chainwatch and documented there):
rules that match an alert by a regular expression on its signature text and/or by its
signature id, and give a category (``pool`` or ``p2p`` take the coin the text names, through
the ``[coins]`` words), a detector and so a confidence. A site adds rules, or replaces the
shipped ones, in its configuration::

    [suricata]
    mapping = "site-rules.toml"    # a file in the shipped file's format (rules and coins)
    replace = false                # true: the shipped rules are not used at all
    [[suricata.rules]]             # rules inline, same keys as the file's [[rules]]
    name = "local-miner"
    match = "^LOCAL MINER "
    category = "pool"

The first rule that matches wins: inline rules, then the mapping file's, then the shipped
ones. ``category = "none"`` makes matching alerts never count (a site switching a shipped rule
off). Errors name the file and the line of the entry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import tomli

from chainwatch.categories import (
    COIN_NAMES,
    CONFIDENCE,
    EVENT_CATEGORIES,
    Detector,
    coin_of,
    pool_category,
)
from chainwatch.errors import ConfigError

#: Categories a rule may give besides the events' own: completed with the text's coin, or off.
GENERIC = ("pool", "p2p", "none")
_RULE_KEYS = {"name", "match", "sids", "category", "coin", "detector"}
_DETECTORS = (Detector.PAYLOAD.value, Detector.ENDPOINT.value)
_SID_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


@dataclass(frozen=True)
class SignatureRule:
    """One mapping entry (see the module docstring); ``where`` is its ``file:line``."""

    name: str
    pattern: re.Pattern[str] | None
    sids: tuple[tuple[int, int], ...]
    category: str
    coin: str | None
    detector: str
    where: str

    def matches(self, sid: int | None, signature: str) -> bool:
        if sid is not None and any(lo <= sid <= hi for lo, hi in self.sids):
            return True
        return self.pattern is not None and self.pattern.search(signature) is not None


@dataclass(frozen=True)
class Verdict:
    """What an alert counts as: ``category``, ``detector``, ``confidence``, the rule's name,
    and where the coin came from (``rule``, ``signature`` or ``none``)."""

    category: str
    detector: str
    confidence: float
    rule: str
    coin_from: str


@dataclass(frozen=True)
class SuricataSettings:
    """The ``[suricata]`` table: the site's rules (inline first, then its mapping file's), its
    coin words, and whether the shipped mapping is dropped."""

    rules: tuple[SignatureRule, ...] = ()
    coins: tuple[tuple[str, re.Pattern[str]], ...] = ()
    replace: bool = False


class SignatureMap:
    """Judges alerts: ``judge(sid, signature)`` is the first matching rule's verdict, or None
    when no rule counts the alert. Verdicts are remembered per (sid, signature): a sensor
    repeats the same few signatures."""

    def __init__(
        self, rules: Sequence[SignatureRule], coins: Sequence[tuple[str, re.Pattern[str]]]
    ) -> None:
        self.rules = tuple(rules)
        self.coins = tuple(coins)
        self._memo: dict[tuple[int | None, str], Verdict | None] = {}

    def judge(self, sid: int | None, signature: str) -> Verdict | None:
        key = (sid, signature)
        if key not in self._memo:
            if len(self._memo) > 100_000:
                self._memo.clear()
            self._memo[key] = self._judge(sid, signature)
        return self._memo[key]

    def coin_named(self, text: str) -> str | None:
        """The one coin ``text`` names, or None when it names none or several."""
        named = {coin for coin, words in self.coins if words.search(text)}
        return named.pop() if len(named) == 1 else None

    def _judge(self, sid: int | None, signature: str) -> Verdict | None:
        for rule in self.rules:
            if not rule.matches(sid, signature):
                continue
            if rule.category == "none":
                return None
            coin, coin_from = rule.coin, "rule"
            if coin is None:
                coin = self.coin_named(signature)
                coin_from = "signature" if coin else "none"
            elif coin == "unknown":
                coin, coin_from = None, "none"
            category = rule.category
            if category == "pool":
                category = pool_category(coin)
            elif category == "p2p":
                if coin is None:
                    continue  # a peer-to-peer network of no coin we can tell: next rule
                category = f"{coin}-p2p"
            else:
                coin_from = "rule" if coin_of(category) else "none"
            return Verdict(category, rule.detector, CONFIDENCE[rule.detector], rule.name, coin_from)
        return None


def shipped() -> tuple[tuple[SignatureRule, ...], tuple[tuple[str, re.Pattern[str]], ...]]:
    """The rules and coin words of the shipped ``suricata_rules.toml``."""
    text = resources.files("chainwatch.sensors").joinpath("suricata_rules.toml").read_text()
    return parse_mapping(text, "chainwatch/sensors/suricata_rules.toml")


def signature_map(settings: SuricataSettings) -> SignatureMap:
    """The mapping a scan uses: the site's rules before the shipped ones (unless replaced);
    the site's coin words before the shipped ones (which stay, even when rules are replaced)."""
    rules, coins = shipped()
    site_coins = {coin for coin, _ in settings.coins}
    return SignatureMap(
        [*settings.rules, *(() if settings.replace else rules)],
        [*settings.coins, *((c, w) for c, w in coins if c not in site_coins)],
    )


def parse_mapping(
    text: str, where: str
) -> tuple[tuple[SignatureRule, ...], tuple[tuple[str, re.Pattern[str]], ...]]:
    """The rules and coin words of a mapping file's text; ``where`` names it in errors."""
    try:
        data = tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        raise ConfigError(where, f"not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"rules", "coins"})
    if unknown:
        raise ConfigError(where, f"unknown key {unknown[0]!r}", expected="[coins] and [[rules]]")
    rules = parse_rules(data.get("rules", []), where, _entry_lines(text, "rules"))
    return rules, _coins(data.get("coins", {}), where)


def load_suricata(table: Any, path: Path | str, text: str | None = None) -> SuricataSettings:
    """The configuration's ``[suricata]`` table, validated; ``text`` is the configuration
    file's text (for the lines of inline rules)."""
    if table is None:
        return SuricataSettings()
    if not isinstance(table, dict):
        raise ConfigError(path, "suricata is not a table", expected="a [suricata] table")
    unknown = sorted(set(table) - {"mapping", "replace", "rules"})
    if unknown:
        raise ConfigError(
            path,
            f"unknown key suricata.{unknown[0]}",
            expected="suricata.mapping, suricata.replace or [[suricata.rules]]",
        )
    replace = table.get("replace", False)
    if not isinstance(replace, bool):
        raise ConfigError(path, f"suricata.replace is {replace!r}", expected="true or false")
    lines = _entry_lines(text, "suricata.rules") if text is not None else []
    rules = parse_rules(table.get("rules", []), str(path), lines)
    coins: tuple[tuple[str, re.Pattern[str]], ...] = ()
    mapping = table.get("mapping")
    if mapping is not None:
        if not isinstance(mapping, str):
            raise ConfigError(path, f"suricata.mapping is {mapping!r}", expected="a file path")
        file = Path(mapping).expanduser()
        if not file.is_absolute():  # relative to the configuration file, as watchlists are
            file = Path(path).parent / file
        try:
            mapping_text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                path,
                f"suricata.mapping {str(file)!r} cannot be read: {exc.strerror or exc}",
                expected="a TOML file of [[rules]] (see suricata_rules.toml)",
            ) from None
        file_rules, coins = parse_mapping(mapping_text, str(file))
        rules = (*rules, *file_rules)
    if replace and not rules:
        raise ConfigError(
            path,
            "suricata.replace is true but no rules are given",
            expected="[[suricata.rules]] or suricata.mapping with rules",
        )
    return SuricataSettings(rules=rules, coins=coins, replace=replace)


def parse_rules(entries: Any, where: str, lines: Sequence[int]) -> tuple[SignatureRule, ...]:
    """Validated ``[[rules]]`` entries; ``lines`` holds each entry's header line, when known."""
    if not isinstance(entries, list):
        raise ConfigError(where, "rules is not an array of tables", expected="[[rules]] entries")
    return tuple(
        _rule(entry, where, lines[i] if i < len(lines) else None, i + 1)
        for i, entry in enumerate(entries)
    )


def _rule(entry: Any, where: str, line: int | None, number: int) -> SignatureRule:
    label = f"rule #{number}"

    def fail(problem: str, expected: str) -> ConfigError:
        return ConfigError(where, problem, line=line, entry=label, expected=expected)

    if not isinstance(entry, dict):
        raise fail("is not a table", "a [[rules]] table")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail(f"name is {name!r}", "a short name")
    label = f"rule {name!r}"
    unknown = sorted(set(entry) - _RULE_KEYS)
    if unknown:
        raise fail(f"unknown key {unknown[0]!r}", f"one of: {', '.join(sorted(_RULE_KEYS))}")
    pattern = None
    if "match" in entry:
        if not isinstance(entry["match"], str) or not entry["match"]:
            raise fail(f"match is {entry['match']!r}", "a regular expression")
        try:
            pattern = re.compile(entry["match"], re.IGNORECASE)
        except re.error as exc:
            problem = f"match is not a valid regular expression ({exc})"
            raise fail(problem, "Python re syntax") from None
    sids = _sids(entry.get("sids", []), fail)
    if pattern is None and not sids:
        raise fail("has neither match nor sids", "a signature pattern, SIDs, or both")
    category = entry.get("category")
    if category not in (*GENERIC, *EVENT_CATEGORIES):
        raise fail(
            f"category is {category!r}", f"one of: {', '.join((*GENERIC, *EVENT_CATEGORIES))}"
        )
    coin = entry.get("coin")
    if coin is not None and coin not in (*COIN_NAMES, "unknown"):
        raise fail(f"coin is {coin!r}", f"one of: {', '.join(COIN_NAMES)}, unknown")
    detector = entry.get("detector", Detector.PAYLOAD.value)
    if detector not in _DETECTORS:
        raise fail(f"detector is {detector!r}", f"one of: {', '.join(_DETECTORS)}")
    at = f"{where}:{line}" if line is not None else f"{where} ({label})"
    return SignatureRule(name, pattern, sids, str(category), coin, detector, at)


def _sids(values: Any, fail: Any) -> tuple[tuple[int, int], ...]:
    if not isinstance(values, list):
        raise fail(f"sids is {values!r}", 'a list of SIDs and "FIRST-LAST" ranges')
    out: list[tuple[int, int]] = []
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            out.append((value, value))
            continue
        found = _SID_RANGE.match(value) if isinstance(value, str) else None
        if found is None or int(found.group(1)) > int(found.group(2)):
            raise fail(f"sids holds {value!r}", 'SIDs (numbers) and "FIRST-LAST" ranges')
        out.append((int(found.group(1)), int(found.group(2))))
    return tuple(out)


def _coins(table: Any, where: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    if not isinstance(table, Mapping):
        raise ConfigError(where, "coins is not a table", expected='a [coins] table: xmr = "..."')
    out = []
    for coin, words in table.items():
        if coin not in COIN_NAMES:
            raise ConfigError(
                where, f"coins.{coin} is not a coin", expected=f"one of: {', '.join(COIN_NAMES)}"
            )
        try:
            out.append((coin, re.compile(str(words), re.IGNORECASE)))
        except re.error as exc:
            raise ConfigError(
                where, f"coins.{coin} is not a valid regular expression ({exc})"
            ) from None
    return tuple(out)


def _entry_lines(text: str, table: str) -> list[int]:
    """The line of each ``[[table]]`` header in the TOML ``text``, in order."""
    header = re.compile(r"^\s*\[\[\s*" + re.escape(table).replace(r"\.", r"\s*\.\s*") + r"\s*\]\]")
    return [n for n, line in enumerate(text.splitlines(), start=1) if header.match(line)]
