"""Each event's ``detail`` JSON text, built column-wise for a batch of events.

``detail`` holds what the record and its classification say beyond the evidence columns: the
input's format, the catalog endpoint, the DNS answer through which the endpoint matched
(``resolution``: host, address, when and where it was seen), Zeek's uid, and the facts a
reader found in the record itself (pcap payloads, a JSON object). The text is assembled with
Arrow string kernels, one ``json.dumps`` only for values that need escaping and for the few
rows matched through an answer, so it is exactly what ``json.dumps`` would write.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Text that JSON writes as is between quotes: printable ASCII but ``"`` and ``\\``.
_JSON_PLAIN = r"^[ !#-\[\]-~]*$"


def json_member(name: str, values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``, "name": <value as JSON>`` per value, null where the value is null; values that
    need escaping go through ``json.dumps`` so the text is exactly what it writes."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    member = pc.binary_join_element_wise(f', "{name}": "', values, '"', "")
    plain = pc.fill_null(pc.match_substring_regex(values, _JSON_PLAIN), True)
    if not pc.all(plain).as_py():
        rows = pc.invert(plain)
        escaped = [f', "{name}": {json.dumps(v)}' for v in values.filter(rows).to_pylist()]
        member = pc.replace_with_mask(member, rows, pa.array(escaped, pa.string()))
    return member


def resolutions(answers: np.ndarray) -> pa.Array:
    """``, "resolution": {...}`` per event whose endpoint matched through a DNS answer
    (``ClassifiedBatch.answer``: a ``passive_dns.Answer`` or None), else null."""
    members: list[str | None] = []
    for answer in answers.tolist():
        if answer is None:
            members.append(None)
            continue
        cited = {
            "host": answer.host,
            "address": answer.address,
            "seen_at": answer.seen_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "seen_in": answer.seen_in,
        }
        members.append(f', "resolution": {json.dumps(cited, ensure_ascii=False)}')
    return pa.array(members, pa.string())


def details(
    fmt: str,
    endpoint: np.ndarray,
    answer: np.ndarray,
    uid: pa.Array,
    facts: pa.Array | None,
) -> pa.Array:
    """The ``detail`` text of each event: ``endpoint``, ``answer`` and ``uid`` per event,
    and ``facts`` (JSON object text per event, or None when the reader gives none)."""
    parts = [
        json_member("endpoint", pa.array(endpoint, pa.string())),
        resolutions(answer),
        json_member("uid", uid),
    ]
    if facts is not None:
        inner = pc.utf8_slice_codeunits(facts, 1, -1)
        parts.append(
            pc.if_else(pc.equal(inner, ""), "", pc.binary_join_element_wise(", ", inner, ""))
        )
    return pc.binary_join_element_wise(
        f'{{"format": "{fmt}"', *(pc.fill_null(p, "") for p in parts), "}", ""
    )
