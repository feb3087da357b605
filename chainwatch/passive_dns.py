"""Passive DNS: the answers that tie a catalog host name to an address, and when and where
each was seen.

An address belongs to a catalog host for a record at time t only when an answer for that
host with that address was seen within ``[catalogs] dns_horizon`` of t (the rule lives in
``chainwatch.classify``). Answers come from the traffic (DNS responses in captures, Zeek
``dns.log``, Suricata ``dns`` events) and from look-ups made when a scan runs
(``chainwatch.resolve``, seen at the scan's time, so they only speak for records near it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    """One DNS answer: ``host`` resolved to ``address``, seen at ``seen_at`` in ``seen_in``.

    Attributes:
        host: lower case, no trailing dot (the name asked for, or a name of the CNAME chain
            leading to the address: one Answer per name of the chain).
        address: canonical text (``str(ipaddress.ip_address(...))``).
        seen_at: UTC-aware; the packet's or log line's time, or the scan's for its look-ups.
        seen_in: where: ``"FILE:PACKET"``, ``"FILE:LINE"`` or ``"look-up at scan time"``.
    """

    host: str
    address: str
    seen_at: dt.datetime
    seen_in: str
