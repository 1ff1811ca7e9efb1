"""Container features of one image file: format, size, mode and what rides along the pixels.

Parsed from the file's bytes and Pillow's header reading (no pixel decode): which format,
dimensions, colour mode, EXIF, ICC profile, JPEG APP markers and comments, PNG text and other
ancillary chunks. Categorical values become one-hot columns over fixed vocabularies, so every
image gets the same columns without a fitted encoder.
"""

from __future__ import annotations

import math
import struct

from PIL import Image

FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")
MODES: tuple[str, ...] = ("L", "RGB", "RGBA", "P", "CMYK")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")

FEATURES: tuple[str, ...] = (
    *(f"format_{f.lower()}" for f in FORMATS),
    "format_other",
    *(f"mode_{m.lower()}" for m in MODES),
    "mode_other",
    "width",
    "height",
    "log_pixels",
    "aspect",
    "has_exif",
    "exif_bytes",
    "has_icc",
    "icc_bytes",
    "app_markers",
    "has_comment",
    "png_text_chunks",
    "png_text_bytes",
    "png_ancillary_chunks",
)


def png_chunks(data: bytes) -> list[tuple[bytes, int]]:
    """(type, length) of every chunk of a PNG byte string, in file order; [] if not a PNG."""
    if not data.startswith(PNG_SIGNATURE):
        return []
    out, pos = [], len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        out.append((ctype, length))
        pos += 12 + length  # length, type, data, CRC
        if ctype == b"IEND":
            break
    return out


def jpeg_app_markers(data: bytes) -> tuple[int, bool]:
    """(number of APPn segments, whether a COM segment exists), scanning headers up to SOS."""
    if not data.startswith(b"\xff\xd8"):
        return 0, False
    pos, apps, comment = 2, 0, False
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: headers are over
            break
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        apps += 0xE0 <= marker <= 0xEF
        comment |= marker == 0xFE
        pos += 2 + length
    return apps, comment


def container_features(img: Image.Image, data: bytes) -> dict[str, float]:
    """The container group for an opened (not necessarily decoded) image and its file bytes."""
    fmt = (img.format or "").upper()
    mode = img.mode
    w, h = img.size
    info = img.info
    exif = info.get("exif") or b""
    icc = info.get("icc_profile") or b""
    chunks = png_chunks(data)
    text = [length for ctype, length in chunks if ctype in PNG_TEXT_CHUNKS]
    apps, comment = jpeg_app_markers(data)
    row: dict[str, float] = {f"format_{f.lower()}": float(fmt == f) for f in FORMATS}
    row["format_other"] = float(fmt not in FORMATS)
    row.update({f"mode_{m.lower()}": float(mode == m) for m in MODES})
    row["mode_other"] = float(mode not in MODES)
    row.update(
        width=float(w),
        height=float(h),
        log_pixels=math.log(max(w * h, 1)),
        aspect=w / h if h else 0.0,
        has_exif=float(bool(exif)),
        exif_bytes=float(len(exif)),
        has_icc=float(bool(icc)),
        icc_bytes=float(len(icc)),
        app_markers=float(apps),
        has_comment=float(comment or bool(info.get("comment"))),
        png_text_chunks=float(len(text)),
        png_text_bytes=float(sum(text)),
        # ancillary = lower-case first letter (PNG spec); IDAT/IHDR/PLTE/IEND are critical
        png_ancillary_chunks=float(sum(1 for ctype, _ in chunks if ctype[:1].islower())),
    )
    return row
