"""Importers: publishers' lists (Tor directory archives, blocklists, registries' statistics)
turned into chainwatch's CSV catalogs and watchlists.

``sources`` opens what a publisher ships (files, directories, tar/gzip/xz archives) as a
stream of members, each with the SHA-256 of the file it came from; ``output`` writes the CSV
with its provenance header, atomically, and reads that header back. Each format's importer
lives in a module of its own and is a function from sources to rows.
"""
