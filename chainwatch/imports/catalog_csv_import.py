"""``csv``: catalog CSVs (INTERFACES.md section 3) merged into one, re-categorised or re-dated.

Rows keep their columns unless an option replaces them: ``--category``/``--coin`` set every
row's category and coin, ``--valid-from``/``--valid-to`` every row's window (re-dating a
catalog). Leading ``#`` lines (a provenance header) are skipped; the columns may come in any
order, unknown columns are refused (a misspelt ``valid_to`` must not silently widen a
window). An empty coin is written as the category's (``xmr-pool`` -> ``xmr``), so that rows
of one endpoint agree across files. A row that is wrong (no name, an unknown category,
neither or both of address and host, a bad port or date, a name already seen with another
category or coin) is skipped and named with its file:line; a row that appears twice
(across files, or after re-dating) is written once. A row without a ``source`` gets the name
of the file it came from.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from chainwatch.categories import CATEGORIES, COINS, OTHER, coin_of
from chainwatch.errors import InputError, UsageError
from chainwatch.imports.entries import (
    CATALOG_HEADER,
    Options,
    Report,
    Row,
    address_text,
    bound,
    host_name,
    parse_when,
)
from chainwatch.imports.sources import SourceMember


def _row_problem(values: dict[str, str]) -> str | None:
    """What is wrong with a row (values normalised in place), or None."""
    if not values["name"]:
        return "empty name"
    category = values["category"]
    if category not in CATEGORIES or category == OTHER:
        return f"unknown category {category!r}"
    coin = values["coin"]
    if coin and (coin not in COINS or coin_of(category) != coin):
        return f"coin {coin!r} does not agree with category {category!r}"
    # Written out, so that rows of one name agree whether or not their file spelt it.
    values["coin"] = coin_of(category) or ""
    address, host = values["address"], values["host"]
    if bool(address) == bool(host):
        return "needs one of address and host"
    if address:
        canonical = address_text(address)
        if canonical is None:
            return f"address {address!r} is not an IP or CIDR"
        values["address"] = canonical
    elif (name := host_name(host)) is None:
        return f"host {host!r} is not a host name"
    else:
        values["host"] = name
    port = values["port"]
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        return f"port {port!r} is not 1-65535"
    for key in ("valid_from", "valid_to"):
        if values[key]:
            try:
                values[key] = parse_when(values[key], key)
            except UsageError:
                return f"{key} {values[key]!r} is not a date or an ISO-8601 UTC time"
    start, end = values["valid_from"], values["valid_to"]
    if start and end and bound(start, last=False) > bound(end, last=True):
        return "valid_from is after valid_to"
    return None


def _header(member: SourceMember, line: int, row: list[str]) -> list[str]:
    names = [name.strip().lower() for name in row]
    unknown = [name for name in names if name not in CATALOG_HEADER]
    if unknown or len(set(names)) != len(names) or not {"name", "category"} <= set(names):
        problem = f"unknown column {unknown[0]!r}" if unknown else "header lacks name or category"
        if not unknown and {"name", "category"} <= set(names):
            problem = "a column is named twice"
        raise InputError(
            member.name, problem, line=line, expected=f"a header of {','.join(CATALOG_HEADER)}"
        )
    if "address" not in names and "host" not in names:
        raise InputError(
            member.name, "header has neither address nor host", line=line, expected="either"
        )
    return names


def csv_rows(members: Iterator[SourceMember], options: Options, report: Report) -> Iterator[Row]:
    """Rows of ``csv`` (see the module docstring)."""
    seen: set[Row] = set()
    kinds: dict[str, tuple[str, str, str]] = {}  # name -> category, coin, where first seen
    for member in report.members(members):
        text = io.TextIOWrapper(member.data, encoding="utf-8-sig", newline="")
        reader = csv.reader(text, strict=True)
        names: list[str] | None = None
        line = 1
        try:
            for raw in reader:
                where = f"{member.name}:{line}"
                start, line = line, reader.line_num + 1
                if names is None:
                    if not raw or raw[0].lstrip().startswith("#"):
                        continue
                    names = _header(member, start, raw)
                    continue
                if not raw:
                    report.skip(where, "blank line")
                    continue
                if len(raw) != len(names):
                    report.skip(where, f"{len(raw)} fields, expected {len(names)} as in the header")
                    continue
                values = dict.fromkeys(CATALOG_HEADER, "")
                values.update((k, v.strip()) for k, v in zip(names, raw, strict=True))
                if options.category:
                    values["category"] = options.category
                    values["coin"] = options.coin or ""
                if options.valid_from is not None:
                    values["valid_from"] = options.valid_from
                if options.valid_to is not None:
                    values["valid_to"] = options.valid_to
                values["source"] = values["source"] or member.source.name
                problem = _row_problem(values)
                if problem:
                    report.skip(where, problem)
                    continue
                kind = (values["category"], values["coin"], where)
                first = kinds.setdefault(values["name"], kind)
                if first[:2] != kind[:2]:  # the loader keeps one category and coin per name
                    report.skip(
                        where,
                        f"{values['name']!r} is {kind[0]}/{kind[1] or '-'} here but "
                        f"{first[0]}/{first[1] or '-'} at {first[2]}",
                    )
                    continue
                row: Row = tuple(values[k] for k in CATALOG_HEADER)  # type: ignore[assignment]
                if row in seen:
                    continue
                seen.add(row)
                report.names.add(values["name"])
                report.addresses.add(values["address"] or values["host"])
                yield row
        except csv.Error as exc:
            raise InputError(member.name, f"not CSV: {exc}", line=line) from None
        except UnicodeDecodeError:
            raise InputError(member.name, "not UTF-8 text", line=line) from None
        finally:
            text.detach()
        if names is None:
            raise InputError(member.name, "no header row", expected=",".join(CATALOG_HEADER))
