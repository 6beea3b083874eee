"""The one encoding of the raw measurements: how their JSON text is compressed, and read back.

Since schema 2 the texts go into blocks: the measurements of one ingest batch, taken in order,
are compressed into frames (``raw_blocks.data``) of about ``BLOCK_BYTES`` of JSON each, and
a measurement row points at its text with ``raw_block``, ``raw_offset`` and ``raw_length``
(byte positions in the decompressed block). A block is one stream, so each text is compressed
with the texts before it as context: OONI measurements repeat their keys, headers and probe
fields. New blocks are zstd frames (level 1): 0.156 of the JSON's size against 0.226 for the
linked LZ4 frames written before, for 14.8 against 13.2 us of CPU a measurement (6,000
replanted measurements); a bulk load's one writer handles a third fewer bytes, which is most
of its work. Reading one measurement decompresses its block (~0.09 ms; LZ4 ~0.05).

A block says what it is by its first bytes (zstd frame ``28 B5 2F FD``, LZ4 frame
``04 22 4D 18``), so stores holding both read the same. Rows written before schema 2 hold
their own compressed text in ``measurements.raw``: an LZ4 frame, or a zlib stream in the
oldest stores (a zlib stream's first byte is ``0x?8``, never ``0x04``). Every reader of raw
measurements (the store, the dashboard) goes through this module.
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Iterable
from typing import Any, Final

import lz4.frame
import orjson
import pyarrow as pa
import zstandard

from blockwatch.errors import StoreError

CODEC: Final = "zstd-frame-blocks"  # what new rows use (meta key raw_codec)
LZ4_MAGIC: Final = b"\x04\x22\x4d\x18"
# Past ~256 KiB of context the ratio hardly improves (0.218 at 64 measurements against 0.224
# at 16), while every read of one measurement decompresses its whole block.
BLOCK_BYTES: Final = 256 * 1024
ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
# Levels 2 and 3 gained 1-4 % of size for 4-14 % more CPU; level -1 lost a fifth of the gain.
# The checksum (4 bytes a block) makes a changed byte an error, not another text.
_ZSTD: Final = zstandard.ZstdCompressor(level=1, write_checksum=True)
_UNZSTD: Final = zstandard.ZstdDecompressor()


class BlockBuilder:
    """Compresses texts one after another into one block (a zstd frame)."""

    def __init__(self) -> None:
        self._compressor = _ZSTD.compressobj()
        self._parts: list[bytes] = []
        self.size = 0  # bytes of text so far
        self.count = 0

    def add(self, text: bytes) -> tuple[int, int]:
        """Append one text; returns its (offset, length) in the decompressed block."""
        offset = self.size
        self._parts.append(self._compressor.compress(text))
        self.size += len(text)
        self.count += 1
        return offset, len(text)

    @property
    def full(self) -> bool:
        return self.size >= BLOCK_BYTES

    def finish(self) -> bytes:
        """The block's bytes (the builder is spent)."""
        self._parts.append(self._compressor.flush())
        data = b"".join(self._parts)
        self._parts = []
        return data

    def finish_into(self, blocks: BlockArray) -> None:
        """Append the block to ``blocks`` without joining its parts first (the builder is
        spent)."""
        self._parts.append(self._compressor.flush())
        blocks.append_parts(self._parts)
        self._parts = []


class BlockArray:
    """The finished blocks of one batch in one growing buffer, handed to the insert as an
    Arrow array over that same buffer: a batch's texts are held once, not as a list of bytes
    plus the Arrow copy of it."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._offsets = array("q", [0])

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @property
    def nbytes(self) -> int:
        return len(self._data)

    def append_parts(self, parts: Iterable[bytes]) -> None:
        for part in parts:
            self._data += part
        self._offsets.append(len(self._data))

    def block(self, number: int) -> bytes:
        """The bytes of block ``number`` (from 0)."""
        return bytes(self._data[self._offsets[number] : self._offsets[number + 1]])

    def append(self, block: bytes) -> None:
        self.append_parts((block,))

    def arrow(self) -> pa.Array:
        """The blocks as a large_binary array sharing this buffer (no copy)."""
        buffers = [None, pa.py_buffer(self._offsets), pa.py_buffer(self._data)]
        return pa.Array.from_buffers(pa.large_binary(), len(self), buffers)


def encode_raw(data: bytes) -> bytes:
    """One text compressed alone: the per-row format of schema 1 (kept for tests and tools)."""
    return lz4.frame.compress(data)


def decompress_block(data: bytes) -> bytes:
    """The texts of one raw block, concatenated."""
    try:
        if data[:4] == ZSTD_MAGIC:
            # A stream's decompressor: the frame does not record its size (written a text at
            # a time), which one-shot decompress needs.
            whole = _UNZSTD.decompressobj()
            text = whole.decompress(data)
            if not whole.eof:
                raise zstandard.ZstdError("the frame is cut short")
            return text
        return lz4.frame.decompress(data)
    except (RuntimeError, zstandard.ZstdError) as exc:  # lz4: RuntimeError on corrupt frames
        raise StoreError(f"raw block unreadable: {exc}") from exc


def decompress_raw(value: bytes) -> bytes:
    """The JSON text of a schema-1 ``measurements.raw`` value (LZ4 frame or zlib)."""
    try:
        if value[:4] == LZ4_MAGIC:
            return lz4.frame.decompress(value)
        return zlib.decompress(value)
    except (RuntimeError, zlib.error) as exc:
        raise StoreError(f"raw measurement unreadable: {exc}") from exc


def text_of(
    row_raw: bytes | None, block: bytes | None, offset: int | None, length: int | None
) -> bytes | None:
    """A measurement's JSON text from its row: its own schema-1 value, or its slice of the
    decompressed ``block``; None when it has neither (rows made by ``add_verdicts``)."""
    if row_raw is not None:
        return decompress_raw(row_raw)
    if block is None or offset is None or length is None:
        return None
    if offset < 0 or length < 0 or offset + length > len(block):
        raise StoreError(f"raw text at {offset}+{length} lies outside its block")
    return block[offset : offset + length]


def decode_text(text: bytes) -> dict[str, Any]:
    """The measurement dict of a stored JSON text."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise StoreError(f"raw measurement is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise StoreError("raw measurement is not a JSON object")
    return doc


def decode_raw(value: bytes) -> dict[str, Any]:
    """The measurement dict of a schema-1 ``measurements.raw`` value."""
    return decode_text(decompress_raw(value))
