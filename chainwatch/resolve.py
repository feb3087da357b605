"""Resolving endpoint-catalog host names, once per scan, with every answer stored.

Pool addresses move, so catalogs name hosts and a scan looks them up when it runs. Each name is
resolved once per scan (the first watcher that asks does it; the others reuse the stored
answers), each look-up gets a short timeout, and every answer or failure is stored in
``host_resolutions`` with the time, so the evidence says which address a name had when.
With ``resolve_hosts = false`` (``CHAINWATCH_RESOLVE_HOSTS=0``, air-gapped sites, the tests)
nothing is looked up and only catalog ``ips``/``cidrs`` identify endpoints.
"""

from __future__ import annotations

import datetime as dt
import queue
import socket
import threading
from collections.abc import Sequence

from chainwatch.store.db import Store
from chainwatch.store.resolutions import (
    Resolution,
    add_resolutions,
    as_mapping,
    resolutions_for_scan,
)
from chainwatch.watchlists import Endpoint

#: Seconds one look-up may take before it counts as failed.
LOOKUP_TIMEOUT = 5.0
#: Look-ups running at once.
PARALLEL = 8


def _lookup(host: str) -> list[str]:
    answers = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in answers:
        address = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone index
        if address not in addresses:
            addresses.append(address)
    return addresses


def lookup_hosts(hosts: Sequence[str], *, timeout: float = LOOKUP_TIMEOUT) -> list[Resolution]:
    """Resolve each host (in parallel daemon threads: getaddrinfo cannot be cancelled, so a
    stuck look-up must not keep the process alive); one ``Resolution`` per answer or failure."""
    pending: queue.Queue[str] = queue.Queue()
    for host in hosts:
        pending.put(host)
    done: dict[str, list[Resolution]] = {}
    lock = threading.Lock()

    def worker() -> None:
        while True:
            try:
                host = pending.get_nowait()
            except queue.Empty:
                return
            try:
                result = [Resolution(host, address) for address in _lookup(host)]
                if not result:
                    result = [Resolution(host, None, "no addresses")]
            except (OSError, UnicodeError) as exc:
                result = [Resolution(host, None, str(getattr(exc, "strerror", None) or exc))]
            with lock:
                done[host] = result

    threads = [
        threading.Thread(target=worker, daemon=True) for _ in range(min(PARALLEL, len(hosts)))
    ]
    for thread in threads:
        thread.start()
    # Every host gets at least ``timeout``; with a queue the whole set gets proportionally more.
    deadline = timeout * max(1, -(-len(hosts) // max(1, len(threads))))
    for thread in threads:
        thread.join(deadline)
    with lock:
        answered = dict(done)
    results: list[Resolution] = []
    for host in hosts:
        results.extend(
            answered.get(host, [Resolution(host, None, f"timed out after {timeout:g} s")])
        )
    return results


def resolve_catalog_hosts(
    endpoints: Sequence[Endpoint],
    store: Store,
    scan_id: int,
    *,
    enabled: bool,
    now: dt.datetime,
) -> dict[str, list[str]]:
    """Host name -> addresses for every catalog host, resolved once per scan and stored.

    Returns {} when ``enabled`` is False (nothing looked up, nothing stored).
    """
    if not enabled:
        return {}
    stored = resolutions_for_scan(store, scan_id)
    if stored is not None:
        return stored
    hosts = sorted({host.lower() for endpoint in endpoints for host in endpoint.hosts})
    if not hosts:
        return {}
    results = lookup_hosts(hosts)
    add_resolutions(store, scan_id, results, now=now)
    return dict(as_mapping(results))
