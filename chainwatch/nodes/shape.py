"""Checked access to the fields of a node's answer: a wrong shape is a ``ShapeError`` that says
which method, which entry and which field, never a ``KeyError`` deep in a parser."""

from __future__ import annotations

from typing import Any, TypeVar

from chainwatch.nodes.faults import ShapeError

T = TypeVar("T")

_TYPE_NAMES = {
    str: "a string",
    int: "a whole number",
    bool: "true or false",
    list: "a list",
    dict: "an object",
    float: "a number",
}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def as_dict(value: Any, method: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ShapeError(method, f"{what} is {_kind(value)}, expected an object")
    return value


def as_list(value: Any, method: str, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ShapeError(method, f"{what} is {_kind(value)}, expected a list")
    return value


def field(record: dict[str, Any], key: str, kind: type[T], method: str, where: str) -> T:
    """``record[key]``, which must be present and of ``kind`` (bool is not an int here)."""
    if key not in record:
        raise ShapeError(method, f"{where} has no {key!r}")
    value = record[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ShapeError(
            method, f"{where}: {key!r} is {_kind(value)}, expected {_TYPE_NAMES.get(kind, kind)}"
        )
    return value


def optional(record: dict[str, Any], key: str, kind: type[T], method: str, where: str) -> T | None:
    """``record[key]`` if present and not null (then it must be of ``kind``), else None."""
    if record.get(key) is None:
        return None
    return field(record, key, kind, method, where)


def port_of(value: Any, method: str, where: str) -> int:
    """A port given as a number or as text (monerod sends ``"18080"``)."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ShapeError(method, f"{where}: port is {value!r}, expected a number 0-65535")
    return value
