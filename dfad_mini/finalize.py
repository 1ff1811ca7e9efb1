"""The single final step of every DFAD-Mini image, pristine or fake: one file format.

Real and fake files must not be separable by anything but their pixels. So every image is
written the same way: 64x64 RGB (8 bits per channel, no alpha, no palette), PNG with a fixed
zlib level and filter strategy, and nothing but the IHDR, IDAT and IEND chunks (no text, time,
gamma, colour profile or physical-size chunks). The header bytes and chunk list are therefore
identical for every file; only the compressed pixel data (and so the file size, which depends
on content) differ.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

from dfad_bench.errors import DfadError

FINAL_SIZE = 64
PNG_COMPRESS_LEVEL = 6
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ALLOWED_CHUNKS = ("IHDR", "IDAT", "IEND")


def finalize_image(img: np.ndarray) -> bytes:
    """Encode one uint8 (64, 64, 3) image as the benchmark's canonical PNG bytes.

    Refuses anything else (wrong shape, dtype, channels) instead of silently converting, so a
    generator that produced a different format is caught at build time.
    """
    arr = np.asarray(img)
    if arr.dtype != np.uint8 or arr.shape != (FINAL_SIZE, FINAL_SIZE, 3):
        raise DfadError(
            f"finalize_image: expected a uint8 array of shape ({FINAL_SIZE}, {FINAL_SIZE}, 3), "
            f"got {arr.dtype} {arr.shape}"
        )
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr), mode="RGB").save(
        buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL, optimize=False
    )
    data = buf.getvalue()
    chunks = png_chunk_types(data)
    if tuple(dict.fromkeys(chunks)) != ALLOWED_CHUNKS:
        raise DfadError(f"finalize_image: PNG encoder wrote chunks {chunks}, expected only {ALLOWED_CHUNKS}")
    return data


def decode_image(data: bytes) -> np.ndarray:
    """Decode canonical PNG bytes back to a uint8 (64, 64, 3) array."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def png_chunk_types(data: bytes) -> list[str]:
    """The chunk types of a PNG file in order (raises on anything that is not a PNG)."""
    if not data.startswith(PNG_SIGNATURE):
        raise DfadError("not a PNG file: bad signature")
    types: list[str] = []
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8].decode("latin-1")
        end = pos + 12 + length
        if end > len(data):
            raise DfadError(f"truncated PNG chunk {ctype!r} at byte {pos}")
        (crc,) = struct.unpack(">I", data[end - 4:end])
        if zlib.crc32(data[pos + 4:end - 4]) != crc:
            raise DfadError(f"PNG chunk {ctype!r} at byte {pos} has a bad CRC")
        types.append(ctype)
        pos = end
    return types
