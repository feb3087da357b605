"""The DNS answers of Suricata's ``dns`` events, as passive DNS ``Answer``s.

Suricata has written three forms (its EVE format documentation, "Event type: DNS"):

- version 1: one event per answer record, ``{"type": "answer", "rrname": OWNER, "rrtype":
  "A", "rdata": ADDRESS}``; a CNAME is an event of its own, before the addresses it leads to;
- version 2 (Suricata 5 to 7): one event per response, ``{"version": 2, "type": "answer",
  "rrname": ASKED, "rcode": "NOERROR", "answers": [{"rrname", "rrtype", "ttl", "rdata"}]}``,
  or ``"grouped": {"A": [...], "CNAME": [...]}`` instead of ``answers``;
- version 3 (Suricata 8): ``"type": "response"`` with the asked name in ``queries[0]``.

Only A and AAAA answers count, each for the name asked and every name of the CNAME chain that
leads from it to the address (INTERFACES: one ``Answer`` per name). Version 1 events carry no
asked name: a CNAME seen shortly before (``CnameMemo``) links its owner to the addresses of
its target.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
from collections import OrderedDict
from typing import Any

from chainwatch.passive_dns import Answer, host_name

_ADDRESS_TYPES = ("A", "AAAA")
#: CNAMEs of version 1 events remembered (the oldest forgotten first).
MEMO = 10_000
#: How long a version 1 CNAME links its owner to the target's addresses.
MEMO_SECONDS = 60.0


class CnameMemo:
    """Recent version 1 CNAME answers: target -> (owner, when seen)."""

    def __init__(self) -> None:
        self.owners: OrderedDict[str, list[tuple[str, dt.datetime]]] = OrderedDict()

    def add(self, owner: str, target: str, when: dt.datetime) -> None:
        self.owners.setdefault(target, []).append((owner, when))
        self.owners.move_to_end(target)
        while len(self.owners) > MEMO:
            self.owners.popitem(last=False)

    def chain(self, name: str, when: dt.datetime) -> list[str]:
        """``name`` and the owners of recent CNAMEs leading to it, nearest first."""
        names, todo = [name], [name]
        while todo:
            for owner, seen in self.owners.get(todo.pop(), []):
                if abs((when - seen).total_seconds()) <= MEMO_SECONDS and owner not in names:
                    names.append(owner)
                    todo.append(owner)
        return names


def dns_answers(
    dns: Any, when: dt.datetime, seen_in: str, memo: CnameMemo
) -> tuple[list[Answer], str | None]:
    """The answers of one ``dns`` object, and None; or no answers and the reason the object
    is malformed. A query, an error response or a response without addresses has none."""
    if not isinstance(dns, dict):
        return [], "has no dns object"
    kind = dns.get("type")
    if kind not in ("answer", "response"):
        return [], None  # a query
    if dns.get("rcode", "NOERROR") != "NOERROR":
        return [], None
    version = dns.get("version", 1)
    if "answers" in dns or "grouped" in dns or kind == "response" or version != 1:
        return _response(dns, when, seen_in)
    return _single(dns, when, seen_in, memo)


def _address(text: Any) -> str | None:
    try:
        return str(ipaddress.ip_address(str(text)))
    except ValueError:
        return None


def _single(
    dns: dict[str, Any], when: dt.datetime, seen_in: str, memo: CnameMemo
) -> tuple[list[Answer], str | None]:
    """Version 1: one answer record."""
    owner, rrtype, rdata = dns.get("rrname"), dns.get("rrtype"), dns.get("rdata")
    if not isinstance(owner, str):
        return [], None  # v1 writes answer events without rrname for empty answers
    owner = host_name(owner)
    if rrtype == "CNAME" and isinstance(rdata, str):
        memo.add(owner, host_name(rdata), when)
        return [], None
    if rrtype not in _ADDRESS_TYPES or rdata is None:  # None: an answer with no records
        return [], None
    address = _address(rdata)
    if address is None:
        return [], f"dns rdata {rdata!r} is not an address"
    return [Answer(name, address, when, seen_in) for name in memo.chain(owner, when)], None


def _response(
    dns: dict[str, Any], when: dt.datetime, seen_in: str
) -> tuple[list[Answer], str | None]:
    """Versions 2 and 3: a whole response."""
    asked = dns.get("rrname")
    queries = dns.get("queries")
    if asked is None and isinstance(queries, list) and queries and isinstance(queries[0], dict):
        asked = queries[0].get("rrname")
    if not isinstance(asked, str):
        return [], "dns answer has no rrname (the name asked)"
    asked = host_name(asked)
    cnames: dict[str, str] = {}
    addresses: dict[str, list[str]] = {}
    answers = dns.get("answers")
    if isinstance(answers, list):
        for item in answers:
            if not isinstance(item, dict):
                return [], "dns answers hold a value that is not an object"
            owner = host_name(str(item.get("rrname", asked)))
            rdata = item.get("rdata")
            if item.get("rrtype") == "CNAME" and isinstance(rdata, str):
                cnames[owner] = host_name(rdata)
            elif item.get("rrtype") in _ADDRESS_TYPES:
                address = _address(rdata)
                if address is None:
                    return [], f"dns rdata {rdata!r} is not an address"
                addresses.setdefault(owner, []).append(address)
    grouped = dns.get("grouped")
    if isinstance(grouped, dict):
        # Grouped answers name no owners: the chain is the CNAMEs in the order given.
        chain = [asked, *(host_name(str(c)) for c in grouped.get("CNAME", []) or [])]
        for previous, following in itertools.pairwise(chain):
            cnames.setdefault(previous, following)
        for rrtype in _ADDRESS_TYPES:
            for rdata in grouped.get(rrtype, []) or []:
                address = _address(rdata)
                if address is None:
                    return [], f"dns rdata {rdata!r} is not an address"
                addresses.setdefault(chain[-1], []).append(address)
    out: list[Answer] = []
    names: list[str] = [asked]
    name: str | None = asked
    # Along the chain from the asked name: each name on it so far gets the addresses found.
    while name is not None:
        for address in addresses.get(name, []):
            out.extend(Answer(n, address, when, seen_in) for n in names)
        name = cnames.get(name)
        if name in names:
            break
        if name is not None:
            names.append(name)
    return out, None
