"""Tor relays from an Onionoo ``details`` document (https://metrics.torproject.org/onionoo.html).

Each relay object's ``or_addresses`` (``"192.0.2.1:9001"``, ``"[2001:db8::1]:9001"``), its
``dir_address`` (``"192.0.2.1:9030"``) and its ``exit_addresses`` (addresses alone: any
destination port) are valid from its ``first_seen`` to its ``last_seen``
(``"YYYY-MM-DD hh:mm:ss"``, UTC). Onionoo keeps only a relay's current addresses, so a relay
that moved is dated by its whole life under the address it has now: an approximation, which
is why consensus archives (``tor-consensus``) are the better source for past years.

Bridges carry no addresses and are left out. A relay without a fingerprint or dates, or an
address that does not parse, is skipped and named as ``FILE (relays[N])``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from collections.abc import Iterator
from typing import Any

from chainwatch.errors import InputError
from chainwatch.imports.entries import Options, Report, Row, relay_name, seconds_of, stamp
from chainwatch.imports.sources import SourceMember

_FORMAT = "%Y-%m-%d %H:%M:%S"


def _split(text: str) -> tuple[str, int] | None:
    """``"192.0.2.1:9001"`` or ``"[2001:db8::1]:9001"`` -> (canonical address, port)."""
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host)), int(port)
    except ValueError:
        return None


def _time(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return seconds_of(dt.datetime.strptime(value, _FORMAT))
    except ValueError:
        return None


def onionoo_rows(
    members: Iterator[SourceMember], options: Options, report: Report
) -> Iterator[Row]:
    """Rows of ``onionoo`` (see the module docstring)."""
    lo, hi = options.start, options.end
    coin = options.coin or ""
    for member in report.members(members):
        try:
            document = json.load(member.data)
        except json.JSONDecodeError as exc:
            raise InputError(
                member.name,
                f"not JSON: {exc.msg}",
                line=exc.lineno,
                expected="an Onionoo details document",
            ) from None
        except UnicodeDecodeError:
            raise InputError(
                member.name, "not UTF-8 text", expected="an Onionoo details document"
            ) from None
        relays = document.get("relays") if isinstance(document, dict) else None
        if not isinstance(relays, list):
            raise InputError(
                member.name,
                "no 'relays' list",
                expected='an Onionoo details document ({"version": ..., "relays": [...]})',
            )
        source = member.source.name
        for number, relay in enumerate(relays):
            where = f"{member.name} (relays[{number}])"
            if not isinstance(relay, dict):
                report.skip(where, "not a JSON object")
                continue
            fingerprint = relay.get("fingerprint")
            first, last = _time(relay.get("first_seen")), _time(relay.get("last_seen"))
            if not isinstance(fingerprint, str) or len(fingerprint) != 40:
                report.skip(where, f"no 40-digit fingerprint ({fingerprint!r})")
                continue
            if first is None or last is None or last < first:
                report.skip(where, "first_seen/last_seen missing or not 'YYYY-MM-DD hh:mm:ss'")
                continue
            start, end = (
                max(first, lo) if lo is not None else first,
                min(last, hi) if hi is not None else last,
            )
            nickname = relay.get("nickname")
            name = relay_name(
                options.name, fingerprint, nickname if isinstance(nickname, str) else None
            )
            endpoints: list[tuple[str, str]] = []
            texts = list(relay.get("or_addresses") or [])
            if isinstance(relay.get("dir_address"), str):
                texts.append(relay["dir_address"])
            for text in texts:
                split = _split(text) if isinstance(text, str) else None
                if split is None:
                    report.skip(where, f"bad address {text!r}; expected ADDRESS:PORT")
                    continue
                endpoints.append((split[0], str(split[1])))
            for text in relay.get("exit_addresses") or []:
                try:
                    endpoints.append((str(ipaddress.ip_address(text)), ""))
                except (ValueError, TypeError):
                    report.skip(where, f"bad exit address {text!r}")
            if not endpoints:
                report.skip(where, "no usable address")
                continue
            report.names.add(name)
            seen: set[tuple[str, str]] = set()
            for address, port in endpoints:
                if (address, port) in seen:  # an exit address that is also the OR address
                    continue
                seen.add((address, port))
                report.addresses.add(address)
                if start <= end:
                    yield (
                        name,
                        options.category,
                        coin,
                        address,
                        "",
                        port,
                        stamp(start),
                        stamp(end),
                        source,
                    )
