"""A text reader's ``Layout``: where its lines hold the fields of the observation schema
(``chainwatch.observations``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from chainwatch.flows.limits import Limits


@dataclass(frozen=True)
class Layout:
    """How a reader's lines hold the fields: separator, number of fields (``at_least``: or
    more), where each schema column is (``index``), whether zone-less times are UTC."""

    sep: str
    width: int
    index: dict[str, int | None]
    naive_is_utc: bool
    at_least: bool = False
    quoting: bool = False  # RFC 4180 quotes (CSV); Zeek escapes instead and never quotes
    limits: Limits = field(default_factory=Limits)
