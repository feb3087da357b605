"""A failed validation, for people: one ``file:line`` line per problem.

tomli gives no positions, so ``key_line`` finds the line of a setting by reading the text
again: it follows the table headers (``[alerts]``, each ``[[watchers]]`` entry counted) and
the keys, dotted or not, and gives the line of the key itself, or else of the nearest
table or entry that holds it (a missing key is reported at its table's header). A value
that came from the environment is named by its variable (``$CHAINWATCH_DB``) instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chainwatch.errors import ConfigError

_KEY = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED})\s*\]")
_ASSIGN = re.compile(rf"^\s*({_DOTTED})\s*=")
#: what pydantic's own error types expect, in our words
_EXPECTED = {
    "string_type": "a string",
    "int_type": "a whole number",
    "bool_type": "true or false",
    "float_type": "a number",
    "list_type": "a list",
    "tuple_type": "a list",
}
_TABLES = {"model_type", "dict_type", "model_attributes_type"}
#: a word of help for keys people are known to try
_HINTS = {"password": " (put the password in an environment variable named by password_env)"}


class ConfigErrors(ConfigError):
    """Several problems in one configuration: the first one's fields, a line for each."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        first = errors[0]
        super().__init__(
            first.path, first.problem, line=first.line, entry=first.entry, expected=first.expected
        )
        self.errors = list(errors)
        self.message = "\n".join(error.message for error in errors)
        self.args = (self.message,)


def translate(
    exc: ValidationError,
    *,
    text: str,
    path: Path,
    data: Mapping[str, Any],
    where: Mapping[str, str],
) -> ConfigError:
    """``exc`` as one ``ConfigError`` (a ``ConfigErrors`` when there are several problems);
    ``where`` maps the settings taken from the environment to their variable's name."""
    errors = [_one(error, text, path, data, where) for error in exc.errors(include_url=False)]
    errors.sort(key=lambda error: (error.path, error.line or 0))  # as they stand in the file
    return errors[0] if len(errors) == 1 else ConfigErrors(errors)


def _one(
    error: Any, text: str, path: Path, data: Mapping[str, Any], where: Mapping[str, str]
) -> ConfigError:
    context = error.get("ctx") or {}
    loc: tuple[Any, ...] = tuple(error["loc"])
    if "key" in context:
        loc += (context["key"],)
    top = str(loc[0]) if loc else ""
    entry = None
    prefix = ""
    key = top
    if top == "watchers" and len(loc) > 1 and isinstance(loc[1], int):
        entry = _entry_label(data, loc[1])
        key = str(loc[2]) if len(loc) > 2 else ""
    elif top in {"alerts", "report"} and len(loc) > 1:
        prefix, key = f"[{top}] ", str(loc[1])
    kind = error["type"]
    if kind == "chainwatch":
        problem, expected = context["problem"], context.get("expected")
    elif kind == "extra_forbidden":
        problem = f"unknown key {key!r}{_HINTS.get(key, '')}"
        expected = f"one of: {', '.join(_known(loc))}"
    elif kind == "missing":
        problem, expected = f"{key} is missing", None
    elif kind in _TABLES:
        problem = "not a table" if entry and not key else f"{key} is not a table"
        expected = "a [[watchers]] table" if entry else f"a [{key}] table"
    else:
        problem = f"{key} is {error['input']!r}"
        expected = _EXPECTED.get(kind) or error["msg"][:1].lower() + error["msg"][1:]
    if top in where:
        return ConfigError(where[top], prefix + problem, expected=expected)
    return ConfigError(
        path, prefix + problem, line=key_line(text, loc), entry=entry, expected=expected
    )


def _entry_label(data: Mapping[str, Any], index: int) -> str:
    entries = data.get("watchers")
    entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"watchers #{index + 1}" + (f" {name!r}" if isinstance(name, str) else "")


def _known(loc: tuple[Any, ...]) -> list[str]:
    """The keys the table at ``loc`` (an unknown key's location) knows."""
    from chainwatch.settings.model import AlertsTable, ConfigFile, WatcherEntry
    from chainwatch.settings.report import ReportTable

    table: Any = {"watchers": WatcherEntry, "alerts": AlertsTable, "report": ReportTable}.get(
        str(loc[0]) if len(loc) > 1 else "", ConfigFile
    )
    return sorted(table.model_fields)


def _parts(dotted: str) -> tuple[str, ...]:
    return tuple(part.strip("\"'") for part in re.findall(_KEY, dotted))


def key_line(text: str, loc: Sequence[Any]) -> int | None:
    """The line of the setting at ``loc`` (keys, and entry indexes of arrays of tables) in
    the TOML ``text``, or of the nearest table holding it; None when nothing holds it."""
    want = tuple(str(part) for part in loc)
    table: tuple[str, ...] = ()
    entries: dict[tuple[str, ...], int] = {}
    best, best_length = None, 0
    in_string = False
    for number, line in enumerate(text.splitlines(), start=1):
        quotes = (line.count('"""') + line.count("'''")) % 2 == 1
        if in_string:  # inside a multi-line string: no key here
            in_string = not quotes
            continue
        header = _HEADER.match(line)
        assign = None if header else _ASSIGN.match(line)
        if header:
            name = _parts(header.group(2))
            if header.group(1) == "[[":
                index = entries[name] = entries.get(name, -1) + 1
                name = (*name, str(index))
            table = found = name
        elif assign:
            found = (*table, *_parts(assign.group(1)))
            in_string = quotes
        else:
            continue
        if found == want:
            return number
        if len(found) > best_length and want[: len(found)] == found:
            best, best_length = number, len(found)
    return best
