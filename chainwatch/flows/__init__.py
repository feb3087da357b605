"""Flow telemetry: nfcapd files (through nfdump), nfdump CSV, Zeek conn.log and generic CSV.

``inputs`` finds and opens the input files (directories, gzip, stdin), ``detect`` tells the
formats apart, ``readers`` turn each format into batches of one normalised schema, and
``chainwatch.match`` matches and classifies them and ``chainwatch.store.ingest`` stores them,
one transaction per input file.
"""
