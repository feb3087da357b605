"""Scans on a Dask distributed cluster (``chainwatch scan --cluster ADDRESS``).

A flow scan's inputs are split into units (one input, or an nfcapd group read by one nfdump),
as a one-process scan splits them. Each unit is prepared on a worker (read, matched and
classified: ``tasks.prepare``, no database) in parallel; the units are written one after the
other, in the one-process order, each in its own transaction (``tasks.write``: on the worker
that holds the prepared unit, on PostgreSQL; by the client, on SQLite), so that the store
pairs the two records of a connection across inputs exactly as one process does.

Modules: ``address`` (what --cluster accepts), ``connect`` (the Dask client), ``shipped``
(what every worker gets once per scan), ``units`` (planning), ``tasks`` (worker functions),
``loop`` (the client's side: one progress bar, one result). Dask is imported only here, and
only when a scan runs on a cluster.
"""
