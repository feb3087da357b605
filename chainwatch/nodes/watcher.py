"""The base of the node watcher kinds: poll with retries, record, report one line.

A subclass names its coin, its daemon and the hints for its faults, and implements ``poll``
(the RPC calls and parsing of one round). ``run`` does the rest the same way for every node:
each call is retried with backoff on transient faults, the last fault becomes a one-line
``WatcherError`` naming the watcher and what to check, and the watched findings are stored.

``fetch`` is also the one place where what a node sends is masked (``chainwatch.nodes.redact``):
every answer as it comes out of ``attempt`` and every fault's message, for every node kind,
before any of it reaches the console, the ``run`` log, ``status`` or the database.
"""

from __future__ import annotations

import abc
import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from chainwatch.errors import WatcherError
from chainwatch.nodes.auth import Credentials, credentials
from chainwatch.nodes.faults import (
    Endpoint,
    Hints,
    NodeFault,
    ShapeError,
    from_exception,
    with_retries,
)
from chainwatch.nodes.http import public_url
from chainwatch.nodes.observe import NodeSource
from chainwatch.nodes.record import Recorded, record_snapshot
from chainwatch.nodes.redact import Redactor
from chainwatch.nodes.snapshot import NodeSnapshot
from chainwatch.watchers.interface import ScanContext, Watcher, WatcherResult, utcnow

T = TypeVar("T")


@dataclass(frozen=True)
class Link:
    """How one round reaches the node: its URL, the endpoint faults are about (masking this
    round's credentials) and the credentials read for this round (None: none configured)."""

    url: str
    endpoint: Endpoint
    credentials: Credentials | None


class NodeWatcher(Watcher):
    """Polls one node's RPC for its peers and address book."""

    coin: ClassVar[str]
    daemon: ClassVar[str]
    hints: ClassVar[Hints]
    #: False for kinds whose nodes expose no address book (Ethereum).
    has_address_book: ClassVar[bool] = True

    @property
    def url(self) -> str:
        assert self.config.url is not None, "config validation requires url for node kinds"
        return self.config.url

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(
            daemon=self.daemon,
            url=public_url(self.url),
            timeout=self.config.timeout,
            hints=self.hints,
        )

    def credentials(self) -> Credentials | None:
        return credentials(self.config)

    @abc.abstractmethod
    def poll(
        self, link: Link, attempt: Callable[[Callable[[], T]], T], now: dt.datetime
    ) -> NodeSnapshot:
        """One round of RPC calls over ``link``. Wrap each call in ``attempt`` (retries with
        backoff, answers masked)."""

    def fetch(
        self,
        *,
        now: Callable[[], dt.datetime] = utcnow,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> NodeSnapshot:
        """Poll the node once, retrying transient faults; raises a one-line ``WatcherError``."""

        endpoint = self.endpoint
        redactor = endpoint.redactor

        def attempt(call: Callable[[], T]) -> T:
            answer = with_retries(call, retries=self.config.retries, should_stop=should_stop)
            masked: T = redactor.value(answer)
            return masked

        def failed(problem: str, hint: str | None) -> WatcherError:
            return WatcherError(self.name, redactor.text(problem), hint=redactor.optional(hint))

        try:
            # Read once per round (a rotated cookie is picked up) and masked in what comes back.
            credentials = self.credentials()
            redactor = Redactor([credentials])
            endpoint = dataclasses.replace(endpoint, redactor=redactor)
            return self.poll(Link(self.url, endpoint, credentials), attempt, now())
        except NodeFault as fault:
            raise failed(fault.problem, fault.hint) from None
        except ShapeError as exc:
            shape = from_exception(endpoint, exc.method, exc)
            raise failed(shape.problem, shape.hint) from None
        except (ValueError, TypeError, KeyError) as exc:
            # A parser met a shape its checks did not foresee: still one line, never a traceback.
            raise failed(
                f"unexpected answer from {self.daemon} at {self.endpoint.url} "
                f"({type(exc).__name__})",
                self.hints.not_a_node,
            ) from None

    def run(self, ctx: ScanContext) -> WatcherResult:
        snapshot = self.fetch(now=ctx.now, should_stop=ctx.should_stop)
        source = NodeSource(name=self.name, url=self.endpoint.url, coin=self.coin)
        recorded = record_snapshot(
            ctx.store, ctx.matcher, snapshot, source, now=ctx.now(), scan_id=ctx.scan_id
        )
        ctx.console.print(
            self.summary(snapshot, recorded), markup=False, highlight=False, soft_wrap=True
        )
        return WatcherResult(counts=recorded.counts())

    def summary(self, snapshot: NodeSnapshot, recorded: Recorded) -> str:
        label = snapshot.node.get("subversion") or snapshot.node.get("version") or ""
        who = f"{self.daemon} {label}".strip()
        line = (
            f"{self.name}: {who} at {self.endpoint.url}: {recorded.peers} peers, "
            f"{recorded.peers_watched} watched ({recorded.events_new} new, "
            f"{recorded.events_updated} still connected)"
        )
        if recorded.skipped:
            line += f", {recorded.skipped} mid-handshake skipped"
        if self.has_address_book:
            line += (
                f"; address book {recorded.book}, {recorded.book_watched} watched "
                f"({recorded.book_new} new)"
            )
        for note in snapshot.notes:
            line += f"; {note}"
        return line
