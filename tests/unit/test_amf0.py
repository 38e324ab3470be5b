"""AMF0: round trips, the bytes RTMP peers expect, and the bounds on what a peer can send."""

from __future__ import annotations

import math
import struct

import pytest

from vidmesh_services.live import amf0
from vidmesh_services.live.amf0 import UNDEFINED, AmfError, AmfValue, EcmaArray


@pytest.mark.parametrize(
    "value",
    [
        0.0,
        -1.5,
        1e300,
        True,
        False,
        "",
        "live",
        "clé 🔑",
        "x" * 70_000,  # a long string
        None,
        UNDEFINED,
        {},
        {"app": "live", "tcUrl": "rtmp://127.0.0.1/live", "fpad": False, "audioCodecs": 3191.0},
        EcmaArray(duration=0.0, width=640.0, encoder="Lavf59.27.100"),
        [],
        [1.0, "two", None, [3.0, {"four": UNDEFINED}], EcmaArray(five=5.0)],
    ],
)
def test_round_trip(value: AmfValue) -> None:
    data = amf0.encode(value)
    decoded, end = amf0.decode(data)
    assert decoded == value
    assert type(decoded) is type(value)  # an ECMA array stays one, an object stays a dict
    assert end == len(data)


def test_nan_round_trips() -> None:
    decoded, _ = amf0.decode(amf0.encode(math.nan))
    assert isinstance(decoded, float) and math.isnan(decoded)


def test_the_bytes_of_a_command() -> None:
    data = amf0.encode("connect", 1, {"app": "live"}, None)
    assert data == (
        b"\x02\x00\x07connect"
        + b"\x00" + struct.pack(">d", 1.0)
        + b"\x03\x00\x03app\x02\x00\x04live\x00\x00\x09"
        + b"\x05"
    )  # fmt: skip
    assert amf0.decode_all(data) == ["connect", 1.0, {"app": "live"}, None]
    assert amf0.decode_all(data, offset=10) == [1.0, {"app": "live"}, None]


def test_markers() -> None:
    assert amf0.encode("x" * 65_535)[0] == amf0.STRING
    assert amf0.encode("x" * 65_536)[0] == amf0.LONG_STRING
    assert amf0.encode(EcmaArray(a=1.0)) == b"\x08\x00\x00\x00\x01\x00\x01a\x00" + struct.pack(">d", 1.0) + b"\x00\x00\x09"
    assert amf0.encode(7) == amf0.encode(7.0)  # an int is a number


def test_an_ecma_array_count_is_only_a_hint() -> None:
    # Encoders write 0 (or the wrong count): the end marker ends the array.
    data = b"\x08\x00\x00\x00\x00" + b"\x00\x01a\x01\x01" + b"\x00\x01b\x05" + b"\x00\x00\x09"
    assert amf0.decode(data) == (EcmaArray(a=True, b=None), len(data))


def test_a_date_decodes_as_its_milliseconds() -> None:
    data = b"\x0b" + struct.pack(">dh", 1.7e12, 60)
    assert amf0.decode(data) == (1.7e12, 11)


def test_an_empty_key_before_a_value_is_a_member() -> None:
    data = b"\x03\x00\x00\x02\x00\x01v\x00\x00\x09"
    assert amf0.decode(data) == ({"": "v"}, len(data))


def nested(depth: int) -> AmfValue:
    value: AmfValue = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def test_nesting_is_bounded() -> None:
    deepest = amf0.encode(nested(amf0.MAX_DEPTH))
    assert amf0.decode(deepest)[0] == nested(amf0.MAX_DEPTH)
    with pytest.raises(AmfError, match="deeper than 16"):
        amf0.encode(nested(amf0.MAX_DEPTH + 1))
    # Wrapped by hand: the decoder must refuse what the encoder would not write.
    with pytest.raises(AmfError, match="deeper than 16"):
        amf0.decode(b"\x0a\x00\x00\x00\x01" + deepest)


def test_entries_are_bounded() -> None:
    most: dict[str, AmfValue] = {str(i): float(i) for i in range(amf0.MAX_ENTRIES)}
    assert amf0.decode(amf0.encode(most))[0] == most
    with pytest.raises(AmfError, match="more than 1024 entries"):
        amf0.decode(amf0.encode({**most, "one more": 0.0}))
    # Across containers too: two arrays of 600 entries in one command.
    with pytest.raises(AmfError, match="more than 1024 entries"):
        amf0.decode_all(amf0.encode([0.0] * 600, [0.0] * 600))
    # A strict array's count is refused before anything is allocated for it.
    with pytest.raises(AmfError, match="more than 1024 entries"):
        amf0.decode(b"\x0a\xff\xff\xff\xff")


def test_every_truncation_is_an_amf_error() -> None:
    data = amf0.encode({"a": [1.0, "bc", True, None], "d": EcmaArray(e="f"), "g": "x" * 70_000})
    for end in range(len(data)):
        with pytest.raises(AmfError, match="truncated"):
            amf0.decode(data[:end])


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x07\x00\x01", "marker 0x07"),  # reference
        (b"\x10\x00\x01C\x00\x00\x09", "marker 0x10"),  # typed object
        (b"\x11\x01", "marker 0x11"),  # switch to AMF3
        (b"\x04", "marker 0x04"),  # movieclip, reserved
        (b"\x02\x00\x02\xff\xfe", "not UTF-8"),
        (b"\x03\x00\x01a", "truncated"),
    ],
)
def test_what_is_refused(data: bytes, match: str) -> None:
    with pytest.raises(AmfError, match=match):
        amf0.decode(data)


@pytest.mark.parametrize("value", [b"bytes", {1, 2}, 1j])
def test_what_cannot_be_encoded(value: object) -> None:
    with pytest.raises(AmfError, match="cannot encode"):
        amf0.encode(value)  # type: ignore[arg-type]
