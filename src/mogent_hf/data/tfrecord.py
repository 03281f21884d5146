"""TFRecord files of `tf.train.Example`s, read and written without TensorFlow.

Framing per record: uint64 length, uint32 masked CRC-32C of the length, the bytes, uint32 masked CRC-32C of the
bytes (little endian); files may be GZIP-compressed. `tf.train.Example` is decoded from its protobuf wire format:
Example{features=1: Features{feature=1: map<string, Feature>}}, Feature{bytes_list=1 | float_list=2 |
int64_list=3}, each list a repeated field 1 (floats and ints packed).
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

_CRC_TABLE = []
for _byte in range(256):
    _crc = _byte
    for _ in range(8):
        _crc = (_crc >> 1) ^ 0x82F63B78 if _crc & 1 else _crc >> 1
    _CRC_TABLE.append(_crc)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _open_for_reading(path: Path):
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def read_records(path: str | Path, verify_checksums: bool = False) -> Iterator[bytes]:
    """Yields the raw records of a (GZIP-compressed or plain) TFRecord file; a truncated or corrupt file raises."""
    if not Path(path).exists():
        raise FileNotFoundError(f"TFRecord file not found: {path}")
    with _open_for_reading(Path(path)) as stream:
        while True:
            try:
                header = stream.read(12)
            except (OSError, EOFError) as error:
                raise ValueError(f"corrupt TFRecord file {path}: {error}") from error
            if not header:
                return
            if len(header) != 12:
                raise ValueError(f"corrupt TFRecord file {path}: truncated record header")
            length, length_crc = struct.unpack("<QI", header)
            if masked_crc(header[:8]) != length_crc:
                raise ValueError(f"corrupt TFRecord file {path}: bad length checksum")
            try:
                data, footer = stream.read(length), stream.read(4)
            except (OSError, EOFError) as error:
                raise ValueError(f"corrupt TFRecord file {path}: {error}") from error
            if len(data) != length or len(footer) != 4:
                raise ValueError(f"corrupt TFRecord file {path}: truncated record")
            if verify_checksums and masked_crc(data) != struct.unpack("<I", footer)[0]:
                raise ValueError(f"corrupt TFRecord file {path}: bad data checksum")
            yield data


def write_records(path: str | Path, records: list[bytes]) -> None:
    """Writes records as a TFRecord file (GZIP when the path ends in .gz)."""
    with gzip.open(path, "wb") if str(path).endswith(".gz") else open(path, "wb") as stream:
        for data in records:
            length = struct.pack("<Q", len(data))
            stream.write(length + struct.pack("<I", masked_crc(length)) + data + struct.pack("<I", masked_crc(data)))


def _varint(buffer: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buffer[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _fields(buffer: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """(field number, wire type, value) of a protobuf message; length-delimited values as bytes."""
    position = 0
    while position < len(buffer):
        key, position = _varint(buffer, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, position = _varint(buffer, position)
        elif wire == 2:
            size, position = _varint(buffer, position)
            value, position = buffer[position : position + size], position + size
        elif wire == 5:
            value, position = buffer[position : position + 4], position + 4
        elif wire == 1:
            value, position = buffer[position : position + 8], position + 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _single_bytes(payload: bytes) -> np.ndarray | None:
    """A bytes list whose items are all one byte long (0x0A 0x01 <byte> each) → uint8 array, else None."""
    raw = np.frombuffer(payload, np.uint8)
    if len(raw) % 3 or not len(raw) or (raw[0::3] != 0x0A).any() or (raw[1::3] != 1).any():
        return None
    return raw[2::3].copy()


def parse_example(record: bytes) -> dict[str, list[bytes] | np.ndarray]:
    """tf.train.Example bytes → {name: list of bytes | uint8 array | float32 array | int64 array}.

    Bytes lists of one-byte items (how multi-object-datasets stores pixels) come back as one uint8 array."""
    features: dict = {}
    for number, _, features_message in _fields(record):
        if number != 1:
            continue
        for _, _, entry in _fields(features_message):
            name, feature = "", b""
            for field, _, value in _fields(entry):
                if field == 1:
                    name = value.decode()
                elif field == 2:
                    feature = value
            for kind, _, payload in _fields(feature):
                if kind == 1:
                    features[name] = _single_bytes(payload)
                    if features[name] is None:
                        features[name] = [value for _, _, value in _fields(payload)]
                    continue
                values = [value for _, _, value in _fields(payload)]
                if kind == 2:  # packed floats (one bytes blob) or unpacked (4-byte items)
                    raw = b"".join(values)
                    features[name] = np.frombuffer(raw, "<f4").copy()
                elif kind == 3:
                    ints = []
                    for _, wire, value in _fields(payload):
                        if wire == 2:
                            position = 0
                            while position < len(value):
                                item, position = _varint(value, position)
                                ints.append(item)
                        else:
                            ints.append(value)
                    features[name] = np.array(ints, np.uint64).astype(np.int64)
    return features


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | 2) + _encode_varint(len(payload)) + payload


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def build_example(features: dict[str, list[bytes] | np.ndarray]) -> bytes:
    """{name: list of bytes | uint8 array (one-byte items) | float array | int array} → tf.train.Example bytes."""
    entries = b""
    for name, values in features.items():
        if isinstance(values, np.ndarray) and values.dtype == np.uint8:  # one-byte items, as pixels are stored
            items = np.empty(3 * values.size, np.uint8)
            items[0::3], items[1::3], items[2::3] = 0x0A, 1, values.ravel()
            feature = _length_delimited(1, items.tobytes())
        elif isinstance(values, list):
            feature = _length_delimited(1, b"".join(_length_delimited(1, value) for value in values))
        elif np.issubdtype(np.asarray(values).dtype, np.floating):
            feature = _length_delimited(2, _length_delimited(1, np.asarray(values, "<f4").tobytes()))
        else:
            packed = b"".join(_encode_varint(int(v) & 0xFFFFFFFFFFFFFFFF) for v in np.asarray(values).ravel())
            feature = _length_delimited(3, _length_delimited(1, packed))
        entry = _length_delimited(1, name.encode()) + _length_delimited(2, feature)
        entries += _length_delimited(1, entry)
    return _length_delimited(1, entries)
