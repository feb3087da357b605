"""chainwatch: track cryptocurrency activity tied to watched IP ranges.

The package is a library under a thin command line (``chainwatch.cli``). Data flows
watchers -> observations -> watchlist matching -> classification -> store -> analysis ->
report/export; see the README for the evidence model.
"""

__version__ = "0.1.0"
