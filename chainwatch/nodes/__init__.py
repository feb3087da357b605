"""Node RPC clients and what they report: the machinery under the node watchers.

``bitcoin_rpc``, ``monero_rpc`` and ``ethereum_rpc`` talk to a node through the coin's usual
Python library (bitcoinlib, monero, web3) over a size- and time-capped HTTP layer (``http``);
``parse_*`` turn the answers into a ``NodeSnapshot`` of peers and address-book entries, refusing
unexpected shapes; ``faults`` says what went wrong in one line and which faults are worth a
retry; ``observe`` turns a snapshot's peers into observations (a ``Batch``) and ``record``
runs them through the match stage and the ingest path with the watched address-book entries;
``watcher`` is the base class the node watcher kinds share.
"""
