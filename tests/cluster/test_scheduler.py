"""The README's "Scaling out" form: a scheduler and two workers started by hand with the
``dask`` command, the database URL in the workers' environment only, and ``chainwatch scan
--cluster tcp://HOST:PORT`` against them; it stores what a one-process scan stores.

Everything listens on 127.0.0.1, without dashboards; the processes are stopped (their whole
process groups) after the test, pass or fail.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.test_cluster_equal import (
    assert_same,
    connections,
    environment,
    scan,
    stored,
    write_csv_files,
    write_nfcapd_dir,
    write_watchlists,
)
from tests.conftest import PgDatabases, missing

pytestmark = pytest.mark.slow


def dask_command() -> str:
    """The ``dask`` program installed beside this Python (the README's commands use it)."""
    found = Path(sys.executable).with_name("dask")
    path = str(found) if found.exists() else shutil.which("dask")
    if path is None:
        missing("the dask command (pip install dask distributed)")
    assert path is not None
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """``dask scheduler`` and ``dask worker`` processes, each in a session of its own."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.processes: list[subprocess.Popen[bytes]] = []
        self.address = f"tcp://127.0.0.1:{free_port()}"

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        directory = self.work / name
        directory.mkdir(parents=True)
        self.processes.append(
            subprocess.Popen(
                argv,
                cwd=directory,
                env=env,
                stdout=(directory / "stdout.txt").open("wb"),
                stderr=(directory / "stderr.txt").open("wb"),
                start_new_session=True,
            )
        )

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.parent.name}\n{path.read_text()[-2000:]}"
            for path in sorted(self.work.glob("*/stderr.txt"))
        )

    def wait_for_workers(self, count: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(count, timeout=120)

    def transitions(self) -> dict[str, int]:
        """Per worker, how many task state transitions it went through (0: it ran nothing)."""
        from distributed import Client

        def count(dask_worker: Any) -> int:
            return int(dask_worker.state.transition_counter)

        with Client(self.address, timeout=60) as client:
            return dict(client.run(count))

    def stop(self) -> None:
        for process in reversed(self.processes):  # workers first, the scheduler last
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


@pytest.fixture
def cluster(tmp_path: Path, pg_databases: PgDatabases) -> Iterator[tuple[Cluster, str]]:
    """A scheduler and two two-thread workers (as the README starts them) whose environment holds the database URL."""
    db_url = pg_databases.new()
    dask = dask_command()
    found = Cluster(tmp_path / "dask")
    port = found.address.rsplit(":", 1)[1]
    try:
        found.start(
            "scheduler",
            [dask, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"],
            environment(),
        )
        for k in (1, 2):
            argv = [dask, "worker", found.address, "--nthreads", "2", "--no-dashboard"]
            argv += ["--host", "127.0.0.1", "--local-directory", str(tmp_path / f"scratch{k}")]
            found.start(
                f"worker{k}",
                argv,
                environment(db_url),
            )
        try:
            found.wait_for_workers(2)
        except Exception as exc:  # a timeout or refused connection: say what the logs say
            raise AssertionError(f"the cluster did not come up: {exc}\n{found.logs()}") from exc
        yield found, db_url
    finally:
        found.stop()


def test_scan_on_a_scheduler_started_by_hand_equals_one_process(
    cluster: tuple[Cluster, str], tmp_path: Path, pg_databases: PgDatabases
) -> None:
    dask, db_url = cluster
    f = connections(5_000, seed=3)
    watchlists = write_watchlists(tmp_path / "watchlists")
    csv = write_csv_files(tmp_path / "csv", f, 4)[0].parent
    nfcapd = write_nfcapd_dir(tmp_path / "nfcapd", f, tmp_path)
    reference = pg_databases.new()
    for path in (nfcapd, csv):
        scan(reference, watchlists, path, cwd=tmp_path / "one")
        try:
            scan(db_url, watchlists, path, cluster=dask.address, cwd=tmp_path / "client")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{dask.logs()}") from exc
    assert_same(stored(db_url), stored(reference))
    worked = dask.transitions()
    assert len(worked) == 2 and all(worked.values()), worked  # both workers ran its tasks
