"""What ``--cluster`` (and the ``cluster`` configuration key) accepts: ``local:N`` for an
in-process Dask LocalCluster of N worker processes, ``tcp://HOST:PORT`` for a running
scheduler. No Dask here: the address is checked when the settings are loaded."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: What an address may be, as error messages say it.
EXPECTED = "local:N (N worker processes here, N >= 1) or tcp://HOST:PORT (a Dask scheduler)"
_LOCAL = re.compile(r"local:(\d+)")
_TCP = re.compile(r"tcp://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})")


@dataclass(frozen=True)
class Address:
    """A parsed address: ``workers`` local processes, or the scheduler at ``url``."""

    text: str
    workers: int = 0
    url: str | None = None

    @property
    def local(self) -> bool:
        return self.url is None


def parse(text: str) -> Address:
    """The address ``text`` names; ValueError (saying what is expected) when it names none."""
    text = text.strip()
    local = _LOCAL.fullmatch(text)
    if local is not None and int(local.group(1)) >= 1:
        return Address(text, workers=int(local.group(1)))
    tcp = _TCP.fullmatch(text)
    if tcp is not None and 0 < int(tcp.group(2)) < 65536:
        return Address(text, url=text)
    raise ValueError(EXPECTED)
