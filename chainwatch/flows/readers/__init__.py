"""Format readers: each turns one input into batches of the observation schema
(``chainwatch.observations``).

The schema (``SCHEMA``): ``ts`` (UTC), ``src_ip``, ``dst_ip``, ``src_port``, ``dst_port``,
``proto``, ``bytes``, ``packets``, ``uid`` (Zeek's connection id, else null). Each batch also
keeps, per row, its line (or record) number and its raw text, so events can cite and hash the
record exactly as read (as byte ranges of the block they came in, so a record is hashed only
when an event cites it).

A block of text (a few MiB of whole lines) is read at once. Lines and fields are found with
numpy on the block's bytes, and each field's common values are converted straight from them
(``columns.plain_*``); the rows those do not accept (a wrong number of fields, a value with
white space around it, a bad value, a NUL byte, bytes that are not UTF-8) go through the exact
Arrow converters, which give the same values and a reason for every bad row. Only those rows
get Python attention.

CSV (generic and nfdump) is RFC 4180 (``dialect``): a block holding a quote has its records
found quote-aware, each regular record's fields found as above with the quotes around a field
dropped, and the rest (a field over several lines, a doubled quote, a stray quote) split in
Python. Zeek's TSV is never quoted.

Why not pyarrow.csv: it gives each row's values but neither its line number nor its bytes
(which events cite and hash), and reading its strings with the exact converters is slower
than this reader anyway. ``python benchmarks/csv_reader.py`` (1,000,000 flows, reading only;
2 shared cores): generic CSV 3,221,058 records/s here against 1,559,953 for pyarrow.csv strings
plus the exact converters (2.06x); nfdump CSV 1,139,918 against 744,777 (1.53x); the same CSV
with every field quoted 803,075 against 1,444,931 (0.56x, still without line numbers or raw
records; end to end into SQLite a quoted file scans at 0.92x the speed of the unquoted one).

The text readers (CSV, nfdump CSV, Zeek TSV and JSON) also read one piece of an input
(``chainwatch.flows.ranges``): the header from the file's start, as a resumed read does, then
the bytes from ``FlowInput.start`` to ``end``, numbered from ``first_line``.

Every reader holds to ``chainwatch.flows.limits`` (record length, gzip expansion, time
window, counts); callers pass ``Settings.limits``, else the defaults with the environment's.

The schema and ``Batch`` are ``chainwatch.observations``'s. Modules: ``batch`` (``Layout``),
``text`` (blocks of lines, headers), ``convert`` (lines to a batch) over ``plain`` and
``exact`` (the two paths), and one module per format family: ``csv_readers``, ``zeek``,
``nfcapd``.
"""

from chainwatch.flows.readers.csv_readers import (
    GENERIC_REQUIRED,
    NFDUMP_FMT,
    read_csv,
    read_nfdump_csv,
)
from chainwatch.flows.readers.nfcapd import nfdump_binary, read_nfcapd
from chainwatch.flows.readers.text import BLOCK
from chainwatch.flows.readers.zeek import read_zeek, read_zeek_json

__all__ = [
    "BLOCK",
    "GENERIC_REQUIRED",
    "NFDUMP_FMT",
    "nfdump_binary",
    "read_csv",
    "read_nfcapd",
    "read_nfdump_csv",
    "read_zeek",
    "read_zeek_json",
]
