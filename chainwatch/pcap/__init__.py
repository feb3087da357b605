"""Packet captures: framing (``capture``), header decoding (``decode``), TCP stream starts
(``connections``), protocol recognition (``payload``) and connection records (``reader``)."""
