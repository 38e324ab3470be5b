"""CRC32C (Castagnoli) of chunk bytes, also of a chunk still inside the message that carried it.

google_crc32c takes only `bytes`, and slicing a chunk out of its message would copy it. CRC
combination gets around that: for a message P + D + S (prefix, chunk data, suffix),
crc(P + D + S) = combine(combine(crc(P), crc(D), len(D)), crc(S), len(S)), and combine() is a
bijection in its second argument. So "crc(D) equals the expected value" is the same test as
"crc(whole message) equals the combination of the expected value with crc(P) and crc(S)", which
needs one pass over the message bytes in place (the same pass a check on D alone would cost)
and no copy. combine() is zlib's crc32_combine algorithm with the Castagnoli polynomial.
"""

from __future__ import annotations

import functools

import google_crc32c

_POLY = 0x82F63B78  # CRC32C, reflected


class Window:
    """Bytes [start, stop) of a bytes object (a chunk inside its message), without copying them."""

    __slots__ = ("buffer", "start", "stop")

    def __init__(self, buffer: bytes, start: int, stop: int):
        if not 0 <= start <= stop <= len(buffer):
            raise ValueError("window out of range")
        self.buffer = buffer
        self.start = start
        self.stop = stop

    def __len__(self) -> int:
        return self.stop - self.start

    def view(self) -> memoryview:
        return memoryview(self.buffer)[self.start : self.stop]

    def tobytes(self) -> bytes:
        return self.buffer[self.start : self.stop]


def _multmodp(a: int, b: int) -> int:
    """a(x) * b(x) modulo the CRC polynomial (reflected bit order)."""
    m = 1 << 31
    product = 0
    while True:
        if a & m:
            product ^= b
            if (a & (m - 1)) == 0:
                return product
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _x2n_table() -> list[int]:
    table = [1 << 30]  # x^1
    for _ in range(31):
        table.append(_multmodp(table[-1], table[-1]))  # x^(2^k)
    return table


_X2N = _x2n_table()


@functools.lru_cache(maxsize=64)
def _x8nmodp(length: int) -> int:
    """x^(8 * length) modulo the polynomial: what shifting a CRC past length bytes multiplies it by."""
    product = 1 << 31  # x^0
    k = 3
    while length:
        if length & 1:
            product = _multmodp(_X2N[k & 31], product)
        length >>= 1
        k += 1
    return product


def combine(crc1: int, crc2: int, length2: int) -> int:
    """CRC32C of A + B from crc1 = CRC32C(A), crc2 = CRC32C(B) and length2 = len(B)."""
    return _multmodp(_x8nmodp(length2), crc1) ^ crc2 if length2 else crc1


def crc32c(data: bytes | Window) -> int:
    """CRC32C of data (a Window is copied out first: use matches() to check one in place)."""
    return int(google_crc32c.value(data.tobytes() if isinstance(data, Window) else data))


def matches(data: bytes | Window, expected: int) -> bool:
    """Whether CRC32C(data) == expected; a Window is checked in place, without a copy."""
    if not isinstance(data, Window):
        return int(google_crc32c.value(data)) == expected
    buffer, start, stop = data.buffer, data.start, data.stop
    prefix = google_crc32c.value(buffer[:start]) if start else 0
    suffix = google_crc32c.value(buffer[stop:]) if stop < len(buffer) else 0
    wanted = combine(combine(prefix, expected & 0xFFFFFFFF, stop - start), suffix, len(buffer) - stop)
    return int(google_crc32c.value(buffer)) == wanted
