"""Resolving endpoint-catalog host names, once per scan, with every answer stored.

Pool addresses move, so catalogs name hosts and a scan looks them up when it runs. Each name is
resolved once per scan (the first watcher that asks does it; the others reuse the stored
answers), all names in parallel within a short total budget (``BUDGET``), and every answer or
failure is stored in ``host_resolutions`` with the time, so the evidence says which address a
name had when. When no resolver answers at all (offline), the look-ups are given up after
``PROBE`` seconds rather than each waiting out the resolver's own timeout: a scan never stalls
for seconds.
With ``resolve_hosts = false`` (``CHAINWATCH_RESOLVE_HOSTS=0``, air-gapped sites, the tests)
nothing is looked up and only catalog ``ips``/``cidrs`` identify endpoints.
"""

from __future__ import annotations

import datetime as dt
import queue
import socket
import threading
import time
from collections.abc import Callable, Sequence

from chainwatch.store.db import Store
from chainwatch.store.resolutions import (
    Resolution,
    add_resolutions,
    as_mapping,
    resolutions_for_scan,
)
from chainwatch.watchlists import Endpoint

#: Seconds all the look-ups of a scan may take together; unanswered names count as failed.
BUDGET = 2.0
#: Seconds to wait for the first look-up to finish: if none has (no resolver answers, as
#: offline), the rest are not waited for.
PROBE = 0.5
#: Look-ups running at once.
PARALLEL = 16

#: A look-up: host name -> its addresses; raises OSError (or UnicodeError) when it fails.
Lookup = Callable[[str], list[str]]


def system_lookup(host: str) -> list[str]:
    """The addresses of ``host`` from the system resolver (getaddrinfo), in its order."""
    answers = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in answers:
        address = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone index
        if address not in addresses:
            addresses.append(address)
    return addresses


def lookup_hosts(
    hosts: Sequence[str],
    *,
    budget: float = BUDGET,
    probe: float = PROBE,
    lookup: Lookup = system_lookup,
) -> list[Resolution]:
    """Resolve the hosts in parallel within ``budget`` seconds in all; one ``Resolution`` per
    answer or failure, in the hosts' order.

    getaddrinfo cannot be cancelled, so look-ups run in daemon threads and are abandoned, not
    stopped, when the budget ends (a stuck one must not keep the process alive). When not one
    look-up has finished after ``probe`` seconds, no resolver is answering (offline, a
    firewalled resolver: each look-up would wait out the resolver timeout, 5 s or more), and
    the others are not waited for."""
    pending: queue.Queue[str] = queue.Queue()
    for host in hosts:
        pending.put(host)
    done: dict[str, list[Resolution]] = {}
    finished = threading.Condition()

    def worker() -> None:
        while True:
            try:
                host = pending.get_nowait()
            except queue.Empty:
                return
            try:
                result = [Resolution(host, address) for address in lookup(host)]
                if not result:
                    result = [Resolution(host, None, "no addresses")]
            except (OSError, UnicodeError) as exc:
                result = [Resolution(host, None, str(getattr(exc, "strerror", None) or exc))]
            with finished:
                done[host] = result
                finished.notify_all()

    for _ in range(min(PARALLEL, len(hosts))):
        threading.Thread(target=worker, daemon=True).start()
    start = time.monotonic()
    with finished:
        finished.wait_for(lambda: len(done) == len(hosts) or bool(done), timeout=probe)
        if done:
            finished.wait_for(
                lambda: len(done) == len(hosts),
                timeout=max(0.0, budget - (time.monotonic() - start)),
            )
        answered = dict(done)
    reason = (
        f"not answered within the {budget:g} s budget"
        if answered
        else f"no resolver answered within {probe:g} s; look-ups skipped"
    )
    results: list[Resolution] = []
    for host in hosts:
        results.extend(answered.get(host, [Resolution(host, None, reason)]))
    return results


def resolve_catalog_hosts(
    endpoints: Sequence[Endpoint],
    store: Store,
    scan_id: int,
    *,
    enabled: bool,
    now: dt.datetime,
    lookup: Lookup = system_lookup,
) -> dict[str, list[str]]:
    """Host name -> addresses for every catalog host, resolved once per scan and stored.

    Returns {} when ``enabled`` is False (nothing looked up, nothing stored).
    """
    if not enabled:
        return {}
    stored = resolutions_for_scan(store, scan_id)
    if stored is not None:
        return stored
    # "*." patterns stand for the names below them and are never looked up.
    hosts = sorted({h.lower() for e in endpoints for h in e.hosts if not h.startswith("*.")})
    if not hosts:
        return {}
    results = lookup_hosts(hosts, lookup=lookup)
    add_resolutions(store, scan_id, results, now=now)
    return dict(as_mapping(results))
