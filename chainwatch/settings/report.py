"""The ``[report]`` table: the analysis thresholds, their defaults and their checks.

The keys are the shift test's ``DEFAULTS`` (``chainwatch.analysis.shifts``), the onset
thresholds below and ``pairs``; ``ReportTable`` is built from them, so a threshold added
there is a key the file may carry, and any other key is refused when the file is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo, create_model

from chainwatch.analysis.shifts import DEFAULTS
from chainwatch.categories import COINS, OBFUSCATION
from chainwatch.errors import ConfigError
from chainwatch.settings.fields import invalid

#: onset defaults, in days (converted to buckets for weekly reports)
ONSET_DEFAULTS: dict[str, Any] = {
    "onset_baseline_days": 14,  # silent days needed before an onset
    "onset_window_days": 7,  # the sustain window starting at the onset ...
    "onset_min_active": 0.5,  # ... in which at least this fraction of buckets are active
}
PAIR_DEFAULT = ("btc:xmr",)
OPTION_KEYS = {**DEFAULTS, **ONSET_DEFAULTS, "pairs": list(PAIR_DEFAULT)}
#: what a pair may name: the coins of the registry, tor and vpn (``analysis.series.GROUPS``)
PAIR_GROUPS: tuple[str, ...] = (*COINS, *OBFUSCATION)


def parse_pair(text: str, where: Path | str = "--pair") -> tuple[str, str]:
    """``"btc:xmr"`` -> (``btc``, ``xmr``); two different coins of the registry or tor/vpn."""
    parts = text.replace("->", ":").split(":")
    if (
        len(parts) != 2
        or parts[0] not in PAIR_GROUPS
        or parts[1] not in PAIR_GROUPS
        or parts[0] == parts[1]
    ):
        raise ConfigError(
            where, f"pair {text!r}", expected=f"FROM:TO, two of {', '.join(PAIR_GROUPS)}"
        )
    return parts[0], parts[1]


def _number(value: Any, info: ValidationInfo) -> Any:
    key = info.field_name or ""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise invalid(f"{key} = {value!r}", f"a non-negative {type(OPTION_KEYS[key]).__name__}")
    return value


def _pairs(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid("pairs", 'a list like ["btc:xmr"]')
    for number, pair in enumerate(value):
        try:
            parse_pair(pair)
        except ConfigError as exc:
            raise invalid(exc.problem, exc.expected, key=number) from None
    return value


_NUMBER = Annotated[Any, BeforeValidator(_number)]

_FIELDS: dict[str, Any] = {
    "pairs": (Annotated[list[str], BeforeValidator(_pairs)], list(PAIR_DEFAULT)),
    **{key: (_NUMBER, default) for key, default in OPTION_KEYS.items() if key != "pairs"},
}
if TYPE_CHECKING:
    ReportTable = BaseModel
else:
    #: The ``[report]`` table: the values given, each checked (the defaults are the report's).
    ReportTable = create_model(
        "ReportTable", __config__=ConfigDict(extra="forbid", frozen=True), **_FIELDS
    )
