"""Readers of the logs that network sensors already write (Suricata's eve.json), and the data
that says which of their alerts count (``signatures``, ``suricata_rules.toml``)."""
