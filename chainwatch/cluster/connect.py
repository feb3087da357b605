"""Opening the Dask cluster of a scan: a LocalCluster of N worker processes on 127.0.0.1, or a
client of a running scheduler (``tcp://HOST:PORT``), told in one line when it cannot be
reached.

The database URL's password never travels in a task: tasks carry the URL without it
(``public_url``), and a worker takes the full URL from its own environment (``CHAINWATCH_DB``;
``chainwatch.cluster.tasks``). A LocalCluster's worker processes are given it there, by their
nanny, when they start.

Workers started by hand (``dask worker tcp://HOST:PORT``) need chainwatch and nfdump installed,
the inputs at the same paths, and best two threads each (``--nthreads 2``): a unit's write
runs on the worker that read it, and on a single thread it waits behind that worker's next
read.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from chainwatch.cluster.address import Address
from chainwatch.errors import ChainwatchError

if TYPE_CHECKING:
    from distributed import Client

#: Seconds a scheduler (and its first worker) has to answer.
CONNECT_SECONDS = 5
#: The worker resource a reading task takes (one per worker of our LocalCluster).
READING = "chainwatch-reading"
#: Dask settings of our LocalCluster's workers: no statistical profiler (it samples every
#: thread's stack 100 times a second, for a dashboard we do not open); worker processes
#: forked from one server process that imported what a worker runs once (``PRELOAD``), not
#: each spawned anew to import it all again (about 2 CPU seconds a worker).
LOCAL_CONFIG: dict[str, object] = {
    "distributed.worker.profile.enabled": False,
    "distributed.worker.multiprocessing-method": "forkserver",
}
#: What the fork server imports before it forks a worker.
PRELOAD = [
    "distributed",
    "chainwatch.cluster.tasks",
    "chainwatch.classify",
    "chainwatch.watchlists",
]


def public_url(url: str) -> str:
    """The database URL without its password (what tasks carry)."""
    return make_url(url)._replace(password=None).render_as_string(hide_password=False)


@dataclass
class Cluster:
    """An open cluster: the client, and the LocalCluster when it is ours to close."""

    address: Address
    client: Client
    local: Any = None
    #: what a reading task asks of a worker: on our LocalCluster, each worker reads one unit
    #: at a time on one thread and writes on its other (a write never waits behind a read
    #: on the worker that holds its data); a scheduler's own workers are taken as they are
    reading: dict[str, float] | None = None
    closed: bool = False

    @property
    def workers(self) -> int:
        return max(len(self.client.scheduler_info().get("workers", {})), 1)

    def close(self) -> None:
        """Close the client, and our LocalCluster with its worker processes (a write in
        progress there dies with its process: its transaction rolls back)."""
        if self.closed:
            return
        self.closed = True
        try:
            self.client.close(timeout=CONNECT_SECONDS)  # type: ignore[no-untyped-call]
        finally:
            if self.local is not None:
                self.local.close(timeout=CONNECT_SECONDS)


def open_cluster(address: Address, db_url: str) -> Cluster:
    """Start or reach the cluster ``address`` names; ChainwatchError (one line) when the
    scheduler does not answer, or has no worker, within ``CONNECT_SECONDS``."""
    # Dask's own log lines (a worker restarted, a connection closed) are not the user's
    # business; failures reach the user as chainwatch's one-line errors. Not even its
    # errors: a worker that loses a peer mid-transfer logs one with a traceback, though the
    # scan goes on and ends well (the unit is computed again).
    for name in ("distributed", "dask"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    from distributed import Client

    if address.local:
        # The scheduler's own HTTP endpoint (no dashboard) listens on 127.0.0.1, on another
        # port when 8787 is taken (another scan's): that is no news for the user.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            local = _local(address.workers, db_url)
        client = Client(local, set_as_default=False)  # type: ignore[no-untyped-call]
        return Cluster(address, client, local, reading={READING: 1})
    try:
        client = Client(  # type: ignore[no-untyped-call]
            address.url, timeout=CONNECT_SECONDS, set_as_default=False
        )
    except (OSError, TimeoutError) as exc:
        raise ChainwatchError(
            f"--cluster {address.text}: no Dask scheduler answered within {CONNECT_SECONDS} s "
            f"({type(exc).__name__}); expected a running `dask scheduler` there"
        ) from None
    try:
        client.wait_for_workers(1, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError):
        client.close()  # type: ignore[no-untyped-call]
        raise ChainwatchError(
            f"--cluster {address.text}: the scheduler has no worker; expected at least one "
            "`dask worker` connected to it"
        ) from None
    return Cluster(address, client)


def _local(workers: int, db_url: str) -> Any:
    """A LocalCluster of ``workers`` processes on 127.0.0.1, no dashboard, each with one
    reading slot and two threads (``Cluster.reading``); each worker has the database URL,
    password and all, in its environment only."""
    import dask
    from distributed import LocalCluster
    from distributed.utils import get_mp_context

    # Each nanny hands its worker the configuration in force when it is made. Dask sets its
    # fork server's list once, on first use: ours replaces it (the server starts later).
    with dask.config.set(LOCAL_CONFIG):
        get_mp_context().set_forkserver_preload(PRELOAD)  # type: ignore[no-untyped-call]
        return LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers,
            threads_per_worker=2,
            resources={READING: 1},
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
            env={"CHAINWATCH_DB": db_url},
        )
