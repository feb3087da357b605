"""Scans on a Dask cluster (issue 19): equal to one process, workers killed, a scheduler
started by hand."""
