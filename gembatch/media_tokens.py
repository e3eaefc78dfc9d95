"""What a media file bills in tokens, by the documented rules: one place for the dry
run's estimate and the simulator's usage.

- An image: 258 tokens when both sides are at most 384 px; larger images are cut into
  768x768 tiles of 258 tokens each (ai.google.dev/gemini-api/docs/tokens, "Multimodal
  tokens"). PNG and JPEG sizes are read from their headers; other images count one tile.
- A PDF: 258 tokens a page (ai.google.dev/gemini-api/docs/document-processing, "each
  document page is equivalent to 258 tokens"); pages counted by their page objects.
- Audio (32 tokens a second) and video (263 a second) would need decoding to know their
  length: counted as one second each, a floor the dry run says it is.
"""

from __future__ import annotations

import math
import re
import struct
from pathlib import Path
from typing import BinaryIO

TOKENS_PER_TILE = 258
SMALL_IMAGE_PX = 384
TILE_PX = 768
TOKENS_PER_PDF_PAGE = 258
AUDIO_TOKENS_PER_S = 32
VIDEO_TOKENS_PER_S = 263
_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def pdf_pages(data: bytes) -> int:
    return max(1, len(_PAGE.findall(data)))


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG or a baseline/progressive JPEG, from its header."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:2] == b"\xff\xd8":
        at = 2
        while at + 9 < len(data) and data[at] == 0xFF:
            marker, length = data[at + 1], struct.unpack(">H", data[at + 2 : at + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2):
                height, width = struct.unpack(">HH", data[at + 5 : at + 9])
                return int(width), int(height)
            at += 2 + length
    return None


def image_tokens(data: bytes) -> int:
    size = image_size(data)
    if size is None or max(size) <= SMALL_IMAGE_PX:
        return TOKENS_PER_TILE
    width, height = size
    return TOKENS_PER_TILE * math.ceil(width / TILE_PX) * math.ceil(height / TILE_PX)


def file_tokens(mime_type: str, path: Path) -> int:
    """`media_tokens` of a file on disk, reading what the rule needs: the header of an
    image, every byte of a PDF (streamed), nothing of audio or video."""
    if mime_type.startswith(("audio/", "video/")):
        return media_tokens(mime_type, b"")
    with path.open("rb") as handle:
        if mime_type.startswith("image/"):
            return image_tokens(handle.read(1 << 20))
        if mime_type == "application/pdf":
            return TOKENS_PER_PDF_PAGE * max(1, _pages_streamed(handle))
    return max(1, path.stat().st_size // 4)


def _pages_streamed(handle: BinaryIO, overlap: int = 64) -> int:
    """`pdf_pages` over a stream: a match is counted in the chunk where it starts, one
    starting in a chunk's last bytes waits for the next (where it is whole)."""
    pages, carry = 0, b""
    while chunk := handle.read(1 << 20):
        window = carry + chunk
        cut = len(window) - overlap
        pages += sum(1 for found in _PAGE.finditer(window) if found.start() < cut)
        carry = window[max(cut, 0) :]
    return pages + len(_PAGE.findall(carry))


def media_tokens(mime_type: str, data: bytes) -> int:
    """The tokens one media file bills (see the module's rules)."""
    if mime_type == "application/pdf":
        return TOKENS_PER_PDF_PAGE * pdf_pages(data)
    if mime_type.startswith("image/"):
        return image_tokens(data)
    if mime_type.startswith("audio/"):
        return AUDIO_TOKENS_PER_S
    if mime_type.startswith("video/"):
        return VIDEO_TOKENS_PER_S
    return max(1, len(data) // 4)  # text sent as a file: a token per 4 characters
