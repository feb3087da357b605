"""One colour per report group and category, shared by the HTML and PNG charts.

Known coins keep their customary colours; a coin the registry gains later gets the next colour
of a fixed palette (by its place in the registry), so charts never need a change for it.
"""

from __future__ import annotations

from chainwatch.analysis.series import GROUPS

_KNOWN = {
    "btc": "#f7931a",
    "xmr": "#4c4c4c",
    "eth": "#627eea",
    "etc": "#3ab83a",
    "ltc": "#345d9d",
    "zec": "#c59a1a",
    "doge": "#ba9f33",
    "rvn": "#384182",
    "tor": "#7d4698",
    "vpn": "#2e8b57",
}
_PALETTE = ("#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#d62728", "#1f77b4")


def colour(group: str) -> str:
    """The colour of a group (a coin, tor or vpn), or of a category's group."""
    base = group.split("-", 1)[0]
    if base in _KNOWN:
        return _KNOWN[base]
    others = [g for g in GROUPS if g not in _KNOWN]
    i = others.index(base) if base in others else len(base)
    return _PALETTE[i % len(_PALETTE)]
