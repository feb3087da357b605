"""Verdicts of the names Suricata's ``tls`` and ``http`` events show: a server name (SNI, HTTP
Host) that a catalog lists (``Classifier.match_host``: exact or ``*.suffix``, within the
endpoint's dates) is that endpoint (detector ``endpoint``, with the name that matched); a
miner's user agent (``coins.agent_coins``) is mining with the agent's coin (detector
``payload``), or the catalog endpoint's coin when the host is a pool of one."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from chainwatch import coins
from chainwatch.categories import CONFIDENCE, POOL, POOLS, Detector, coin_of, pool_category
from chainwatch.classify import Classifier

#: category, detector, confidence, endpoint name, facts (JSON object text)
Verdict = tuple[str, str, float, str | None, str]


class Malformed(Exception):
    """A line that is not a usable EVE record: the reason."""


def facts_text(**values: Any) -> str:
    """The ``facts`` column's JSON object, without the values that are None."""
    return json.dumps(
        {k: v for k, v in values.items() if v is not None}, ensure_ascii=False, sort_keys=True
    )


def _host(classifier: Classifier, name: Any, when: dt.datetime) -> tuple[str, str, str] | None:
    """(category, endpoint name, matched pattern) of a catalog host name, within the
    endpoint's dates."""
    if not isinstance(name, str) or not name.strip():
        return None
    found = classifier.match_host(name, when)
    if found is None:
        return None
    endpoint = found.endpoint
    category = endpoint.category
    if category == POOL and endpoint.coin:  # a pool whose coin the catalog names
        category = pool_category(endpoint.coin)
    return category, endpoint.name, found.pattern


def tls_verdict(
    classifier: Classifier, record: dict[str, Any], when: dt.datetime
) -> Verdict | None:
    """The verdict of a ``tls`` event: its SNI a catalog host name."""
    tls = record.get("tls")
    if not isinstance(tls, dict):
        raise Malformed("tls event has no tls object")
    sni = tls.get("sni")
    matched = _host(classifier, sni, when)
    if matched is None:
        return None
    category, endpoint, pattern = matched
    facts = facts_text(event_type="tls", sni=sni, matched_host=pattern)
    return (category, Detector.ENDPOINT.value, CONFIDENCE[Detector.ENDPOINT], endpoint, facts)


def http_verdict(
    classifier: Classifier, record: dict[str, Any], when: dt.datetime
) -> Verdict | None:
    """The verdict of an ``http`` event: a miner's user agent (payload), else its host a
    catalog host name."""
    http = record.get("http")
    if not isinstance(http, dict):
        raise Malformed("http event has no http object")
    host, agent = http.get("hostname"), http.get("http_user_agent")
    matched = _host(classifier, host, when)
    if coins.agent_coins(agent):
        facts: dict[str, Any] = {"agent": agent}
        category, confidence = coins.attribute(facts)
        if matched is not None and coin_of(matched[0]) and matched[0] in POOLS:
            category, facts["coin_from"] = matched[0], "endpoint"
            confidence = coins.CONFIDENCE["endpoint"]
        text = facts_text(
            event_type="http",
            http_host=host,
            user_agent=agent,
            matched_host=matched[2] if matched else None,
            coin_from=facts["coin_from"],
        )
        return (
            category,
            Detector.PAYLOAD.value,
            confidence,
            matched[1] if matched else None,
            text,
        )
    if matched is None:
        return None
    category, endpoint, pattern = matched
    text = facts_text(event_type="http", http_host=host, matched_host=pattern)
    return (category, Detector.ENDPOINT.value, CONFIDENCE[Detector.ENDPOINT], endpoint, text)
