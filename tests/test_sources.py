"""The source-format registry: every format has a reader, detection names only registered
formats, and an unknown format is refused naming the known ones."""

from __future__ import annotations

import pytest

from chainwatch.errors import InputError
from chainwatch.flows import detect
from chainwatch.sources import FORMATS, choices, formats_of, reader

HEADS = {
    b"\x0c\xa5\x02\x00": "nfcapd",
    b"ts,te,td,sa,da,sp,dp,pr\n": "nfdump",
    b"#separator \\x09\n#path\tconn\n": "zeek",
    b"#separator \\x09\n#path\tdns\n": "zeek-dns",
    b'{"ts": 1, "uid": "C1", "id.orig_h": "192.0.2.1", "id.resp_h": "192.0.2.2", '
    b'"id.orig_p": 1, "id.resp_p": 2, "proto": "tcp"}\n': "zeek-json",
    b'{"timestamp": "2019-05-06T08:00:00Z", "event_type": "flow"}\n': "eve",
    b"ts,src_ip,dst_ip\n": "csv",
}


def test_every_format_has_a_reader_and_a_watcher() -> None:
    for fmt in FORMATS.values():
        assert callable(reader(fmt.name)), fmt.name
        assert fmt.name in formats_of(fmt.watcher)
    assert formats_of("pcap") == ["pcap"]
    assert formats_of("bitcoin") == []


@pytest.mark.parametrize(("head", "expected"), HEADS.items())
def test_detection_names_registered_formats(head: bytes, expected: str) -> None:
    found = detect.detect(head)
    assert found == expected
    assert found in FORMATS and FORMATS[found].watcher == "flows"


def test_choices_are_auto_and_the_choosable_formats_of_a_kind() -> None:
    assert choices("flows") == ("auto", "nfdump", "nfcapd", "zeek", "csv", "eve")
    assert choices("pcap") == ("auto", "pcap")


def test_an_unknown_format_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(InputError) as raised:
        reader("parquet", "flows.parquet")
    assert str(raised.value).startswith(
        "flows.parquet: format 'parquet' is not known; expected one of nfdump, nfcapd, zeek,"
    )
