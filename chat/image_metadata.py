"""Metadata out of a PNG, JPEG or WebP picture before it is stored, without Pillow (not a dependency).

A phone's JPEG carries EXIF: where it was taken (GPS), when, with which device, often a thumbnail of
the uncropped photo; PNG and WebP can carry text, EXIF and XMP too. The file's structure is walked
and only what draws the picture is copied; the image data itself is copied byte for byte, never
re-encoded. A structure that does not add up (a length past the end, a bad checksum, no image data,
no end) is refused with Malformed: a browser might still draw it, but we could not tell what it hides.
So is one of more than MAX_PARTS segments or chunks: the walk costs Python time per part, and a
crafted file of empty segments (4 bytes each) would otherwise take seconds to walk; real pictures
have tens of segments (JPEG) or a few thousand chunks at most (PNG's image data in 8 kB chunks).
"""

import re
import struct
import zlib


MAX_PARTS = 10_000


class Malformed(ValueError):
    pass


def _counted(parts):
    if parts > MAX_PARTS:
        raise Malformed("too many segments or chunks")
    return parts + 1


def strip(ext, data):
    """`data`, the bytes of a picture of one of FORMATS, without its metadata."""
    return _WALKS[ext](bytes(data))


# --- JPEG ------------------------------------------------------------------------------------------

SOI, EOI, SOS, APP0, APP2, APP14, COM = 0xD8, 0xD9, 0xDA, 0xE0, 0xE2, 0xEE, 0xFE
NO_LENGTH = {0x01, *range(0xD0, 0xD8)}  # TEM and RST0-7 are bare markers
SCAN_END = re.compile(rb"\xff(?=[^\x00\xd0-\xd7])")  # in a scan, 0xff 0x00 is a stuffed 0xff and RSTn a restart


def _jpeg(data):
    """Every segment up to the end of the image, except APP1-APP15 (EXIF, XMP, maker notes, Photoshop's
    IPTC, MPF's index of further pictures) and comments. Kept: JFIF (APP0, without its thumbnail), the
    ICC colour profile (APP2) and Adobe's colour transform (APP14), which decoders need for the right
    colours and which say nothing about the photo. Scans are copied as they are. Whatever follows the
    end marker is dropped: phones append further pictures there (MPF, depth maps) with their own EXIF."""
    if data[:2] != b"\xff\xd8":
        raise Malformed("no start of image")
    out, i, n, scanned, parts = [data[:2]], 2, len(data), False, 0
    while True:
        parts = _counted(parts)
        if i >= n or data[i] != 0xFF:
            raise Malformed("expected a marker")
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            raise Malformed("truncated")
        marker = data[i]
        i += 1
        if marker == EOI:
            if not scanned:
                raise Malformed("no image data")
            out.append(b"\xff\xd9")
            return b"".join(out)
        if marker in NO_LENGTH:
            out.append(bytes((0xFF, marker)))
            continue
        if marker in (0x00, SOI):
            raise Malformed("unexpected marker")
        if i + 2 > n:
            raise Malformed("truncated")
        (length,) = struct.unpack(">H", data[i:i + 2])
        if length < 2 or i + length > n:
            raise Malformed("segment past the end")
        payload = data[i + 2:i + length]
        i += length
        if marker == APP0:
            out.append(_jfif(payload))
        elif APP0 < marker <= 0xEF or marker == COM:
            if (marker == APP2 and payload.startswith(b"ICC_PROFILE\x00")) or (marker == APP14 and payload.startswith(b"Adobe")):
                out.append(bytes((0xFF, marker)) + data[i - length:i])
        else:
            out.append(bytes((0xFF, marker)) + data[i - length:i])
        if marker == SOS:  # entropy-coded data, copied up to the next marker (or its fill bytes)
            scanned, found = True, SCAN_END.search(data, i)
            if found is None:
                raise Malformed("no end of image")
            out.append(data[i:found.start()])
            i = found.start()


def _jfif(payload):
    """A JFIF header without its thumbnail (0 × 0); any other APP0 (JFXX: only thumbnails) is dropped."""
    if not payload.startswith(b"JFIF\x00") or len(payload) < 14:
        return b""
    kept = payload[:12] + b"\x00\x00"
    return b"\xff\xe0" + struct.pack(">H", len(kept) + 2) + kept


# --- PNG -------------------------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_CRITICAL = {b"IHDR", b"PLTE", b"IDAT", b"IEND"}
# Ancillary chunks that change how the picture looks (colour, transparency, animation). Every other
# one is dropped: tEXt, zTXt, iTXt and eXIf carry metadata, tIME when it was made, and a chunk we do
# not know could carry anything.
PNG_KEPT = {b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB", b"cICP", b"mDCV", b"mDCv", b"cLLI", b"cLLi",
            b"bKGD", b"hIST", b"pHYs", b"sPLT", b"acTL", b"fcTL", b"fdAT"}


def _png(data):
    """The kept chunks from IHDR to IEND, each copied whole (its CRC still right); after IEND: nothing."""
    if not data.startswith(PNG_SIGNATURE):
        raise Malformed("no PNG signature")
    out, i, n, seen, parts = [PNG_SIGNATURE], len(PNG_SIGNATURE), len(data), set(), 0
    while True:
        parts = _counted(parts)
        if i + 12 > n:
            raise Malformed("no end chunk")
        (length,) = struct.unpack(">I", data[i:i + 4])
        kind, end = data[i + 4:i + 8], i + 12 + length
        if end > n or not kind.isalpha():
            raise Malformed("chunk past the end or unnamed")
        if struct.unpack(">I", data[end - 4:end])[0] != zlib.crc32(data[i + 4:end - 4]) & 0xFFFFFFFF:
            raise Malformed("bad chunk checksum")
        if (kind == b"IHDR") != (i == len(PNG_SIGNATURE)):
            raise Malformed("IHDR is not first")
        if kind[:1].isupper() and kind not in PNG_CRITICAL:
            raise Malformed("unknown critical chunk")
        if kind in PNG_CRITICAL or kind in PNG_KEPT:
            out.append(data[i:end])
        seen.add(kind)
        i = end
        if kind == b"IEND":
            if b"IDAT" not in seen:
                raise Malformed("no image data")
            return b"".join(out)


# --- WebP ------------------------------------------------------------------------------------------

WEBP_KEPT = {b"VP8X", b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ANMF", b"ICCP"}  # EXIF, XMP and unknown chunks go
WEBP_IMAGE = {b"VP8 ", b"VP8L", b"ANMF"}
VP8X_EXIF, VP8X_XMP = 0x08, 0x04  # the extended header's flags announcing those chunks


def _webp(data):
    """The RIFF container's kept chunks (with their padding), the extended header's EXIF and XMP flags
    cleared and the RIFF size made right; anything after the container is dropped."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise Malformed("no WebP header")
    end = 8 + struct.unpack("<I", data[4:8])[0]
    if end > len(data):
        raise Malformed("container past the end")
    chunks, i, parts = [], 12, 0
    while i < end:
        parts = _counted(parts)
        if i + 8 > end:
            raise Malformed("truncated chunk header")
        kind, (length,) = data[i:i + 4], struct.unpack("<I", data[i + 4:i + 8])
        stop = i + 8 + length
        if stop > end:
            raise Malformed("chunk past the end")
        if kind == b"VP8X" and (chunks or length < 10):
            raise Malformed("misplaced extended header")
        if kind in WEBP_KEPT:
            chunk = data[i:stop] + (b"\x00" if length % 2 else b"")  # padded to an even size, as the format wants
            if kind == b"VP8X":
                chunk = chunk[:8] + bytes((chunk[8] & ~(VP8X_EXIF | VP8X_XMP),)) + chunk[9:]
            chunks.append(chunk)
        i = stop + length % 2
    if not any(chunk[:4] in WEBP_IMAGE for chunk in chunks):
        raise Malformed("no image data")
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


_WALKS = {"png": _png, "jpg": _jpeg, "webp": _webp}
FORMATS = frozenset(_WALKS)  # the extensions (chat.uploads') strip() takes
