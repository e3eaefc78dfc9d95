"""Media files (PDFs, images, audio, video) on the Files API: uploaded for requests to
refer to by `fileData.fileUri`, found again by the marker in their display name after
a crash, and listed for what they hold. Through the client's own SDK and retries.

A file lives 48 hours from its upload, then the service deletes it
(ai.google.dev/gemini-api/docs/files; shared/gemini-batch-api.md §2.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gembatch.gemini.client import GeminiClient


@dataclass(frozen=True)
class MediaFile:
    """An uploaded file as a request refers to it."""

    name: str  # files/ID
    uri: str  # what `fileData.fileUri` holds
    expires: str | None  # ISO time the service deletes it
    display_name: str = ""
    size: int = 0

    @classmethod
    def of(cls, file: Any) -> MediaFile:
        return cls(
            name=str(file.name),
            uri=str(file.uri or ""),
            expires=file.expiration_time.isoformat() if file.expiration_time else None,
            display_name=str(file.display_name or ""),
            size=int(file.size_bytes or 0),
        )


async def upload_media(
    client: GeminiClient, path: Path, mime_type: str, display_name: str
) -> MediaFile:
    """Upload one media file (8 MB at a time: memory stays flat)."""
    return MediaFile.of(await client.upload_as(path, mime_type, display_name))


async def listed_files(client: GeminiClient) -> list[MediaFile]:
    """Every file the key can see (100 a page, the most the service gives); the whole
    listing is retried as one call."""
    config = client._types.ListFilesConfig(page_size=100)

    async def every_page() -> list[MediaFile]:
        pager = await client._aio.files.list(config=config)
        return [MediaFile.of(file) async for file in pager]

    return await client._call("list files", every_page)
