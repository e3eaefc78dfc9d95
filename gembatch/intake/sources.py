"""Requests from what people have: a folder of files and one prompt, a text file of
prompts (one per line), or a table (CSV) with a column or a template, as the request
lines `gembatch prepare` writes and `gembatch submit --prompt` submits.

- Files: one request per file, keyed by its path (relative to the job file's folder).
  Text goes in as text; PDFs, images, audio and video as a `fileData` part naming the
  local file (relative to the input file's folder), which `intake.media` uploads
  through the Files API when the part is created, and deletes after its results are
  saved. A file that cannot be used (unreadable, empty, a type Gemini does not read,
  over the Files API's 2 GB) is left out and named, and the rest go ahead.
- Lines: one request per non-empty line, keyed by its line number.
- CSV: one request per row, keyed by its row number (the header is not a row) or by
  `--key-column`; the text is a column, or a template filled from the row's columns.
"""

from __future__ import annotations

import csv
import mimetypes
import os
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gembatch.errors import BadInput
from gembatch.formatting import byte_size
from gembatch.intake.requests import Shared, request_lines

# The Files API's limit for one file (ai.google.dev/gemini-api/docs/files; shared table
# in docs/real-service.md).
MAX_MEDIA_BYTES = 2 * 1024**3

# What Gemini reads as media, by MIME type (ai.google.dev/gemini-api/docs: image, document,
# audio and video understanding pages list these formats).
MEDIA_TYPES = frozenset(
    {
        "application/pdf",
        *(f"image/{kind}" for kind in ("png", "jpeg", "webp", "heic", "heif")),
        *(f"audio/{kind}" for kind in ("wav", "x-wav", "mp3", "mpeg", "aiff", "x-aiff", "aac")),
        *(f"audio/{kind}" for kind in ("ogg", "flac", "x-flac")),
        *(f"video/{kind}" for kind in ("mp4", "mpeg", "quicktime", "x-msvideo", "x-flv")),
        *(f"video/{kind}" for kind in ("mpg", "webm", "x-ms-wmv", "3gpp")),
    }
)
TEXT_TYPES = frozenset({"application/json", "application/xml", "application/x-yaml"})
# Types `mimetypes` may not know on every machine.
EXTRA_TYPES = {".md": "text/markdown", ".jsonl": "application/json", ".yaml": "application/x-yaml",
               ".heic": "image/heic", ".heif": "image/heif", ".webp": "image/webp",
               ".flac": "audio/flac", ".aac": "audio/aac"}  # fmt: skip


@dataclass
class Built:
    """The request lines built, in the order given, and what was left out and why."""

    keys: list[str] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # "<file>: why"
    media: dict[str, int] = field(default_factory=dict)  # local media file -> bytes

    @property
    def data(self) -> bytes:
        return b"".join(self.lines)

    def summary(self) -> str:
        """`60 requests, 40 media files (12.3 MB) to upload; 2 files left out`."""
        text = f"{len(self.lines):,} requests"
        if self.media:
            text += f", {len(self.media):,} media files ({byte_size(sum(self.media.values()))})"
            text += " to upload when created"
        if self.left_out:
            text += f"; {len(self.left_out):,} left out"
        return text


@dataclass
class Recipe:
    """How each request is made: the prompt, and what every request shares."""

    prompt: str | None = None
    shared: Shared = field(default_factory=Shared)


def mime_of(path: Path) -> str:
    suffix = path.suffix.lower()
    return EXTRA_TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or ""


def expand(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as given; a folder stands for every file under it (hidden ones aside),
    in path order."""
    for path in paths:
        if path.is_dir():
            found = (p for p in sorted(path.rglob("*")) if p.is_file())
            yield from (p for p in found if not _hidden(p.relative_to(path)))
        else:
            yield path


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _posix(path: Path, base: Path) -> str:
    """`path` relative to `base` (with `..` where needed), in the JSONL's own spelling."""
    return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()


def file_part(path: Path, written_in: Path) -> tuple[dict[str, Any], int]:
    """The part a file becomes (text, or `fileData` naming it for upload) and the media
    bytes it brings (0 for text); BadInput when it cannot be used."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise BadInput(f"cannot be read ({error.strerror or error})") from None
    if size == 0:
        raise BadInput("empty")
    mime = mime_of(path)
    if mime in MEDIA_TYPES:
        if size > MAX_MEDIA_BYTES:
            raise BadInput(f"{byte_size(size)}, over the Files API's 2 GB for one file")
        uri = _posix(path, written_in)
        return {"fileData": {"mimeType": mime, "fileUri": uri}}, size
    if mime and not (mime.startswith("text/") or mime in TEXT_TYPES):
        raise BadInput(f"{mime}, a type Gemini does not read")
    try:
        return {"text": path.read_text(encoding="utf-8")}, 0
    except UnicodeDecodeError:
        raise BadInput("neither UTF-8 text nor a media type Gemini reads") from None
    except OSError as error:
        raise BadInput(f"cannot be read ({error.strerror or error})") from None


def _request(recipe: Recipe, part: dict[str, Any]) -> dict[str, Any]:
    parts = ([{"text": recipe.prompt}] if recipe.prompt else []) + [part]
    return {"contents": [{"role": "user", "parts": parts}]}


def _finish(built: Built, keyed: list[tuple[str, dict[str, Any]]], recipe: Recipe) -> Built:
    if not keyed:
        why = f" ({'; '.join(built.left_out[:3])})" if built.left_out else ""
        raise BadInput(f"no requests could be made{why}")
    keys, lines = request_lines([r for _, r in keyed], _keys(keyed), recipe.shared)
    built.keys, built.lines = keys, lines
    return built


def _keys(keyed: list[tuple[str, dict[str, Any]]]) -> Any:
    names = {id(request): key for key, request in keyed}
    return lambda request: names[id(request)]


def from_files(paths: Iterable[Path], recipe: Recipe, written_in: Path, keys_from: Path) -> Built:
    """One request per file: the prompt, then the file. `written_in`: the folder of the
    JSONL (its `fileUri`s are relative to it); `keys_from`: the job file's folder."""
    built = Built()
    keyed: list[tuple[str, dict[str, Any]]] = []
    paths = list(paths)
    found = list(expand(paths))
    if not found:
        raise BadInput(f"no files in {', '.join(str(p) for p in paths)}")
    for path in found:
        key = _posix(path, keys_from)
        try:
            part, media_bytes = file_part(path, written_in)
        except BadInput as why:
            built.left_out.append(f"{key}: {why}")
            continue
        if media_bytes:
            built.media[key] = media_bytes
        keyed.append((key, _request(recipe, part)))
    return _finish(built, keyed, recipe)


def from_lines(path: Path, recipe: Recipe) -> Built:
    """One request per non-empty line of a text file, keyed by its line number."""
    built = Built()
    keyed = [
        (str(number), _request(recipe, {"text": line.rstrip("\r\n")}))
        for number, line in enumerate(_text_of(path).splitlines(), start=1)
        if line.strip()
    ]
    return _finish(built, keyed, recipe)


def from_csv(
    path: Path, recipe: Recipe, column: str | None, template: str | None, key_column: str | None
) -> Built:
    """One request per row: its `column`, or `template` filled from its columns."""
    if (column is None) == (template is None):
        raise BadInput("with --csv give one of --column NAME or --template TEXT")
    csv.field_size_limit(MAX_MEDIA_BYTES)  # (a cell may hold a whole document)
    rows = csv.DictReader(_text_of(path).splitlines())
    header = rows.fieldnames or []
    wanted = [column] if column else _template_fields(template or "")
    wanted += [key_column] if key_column else []
    missing = [name for name in wanted if name not in header]
    if missing:
        raise BadInput(f"{path}: no column {', '.join(map(repr, missing))} (it has {header})")
    keyed = []
    try:
        for number, row in enumerate(rows, start=1):
            if any(row.get(name) is None for name in wanted):
                raise BadInput(f"{path}: row {number} has fewer columns than the header")
            text = row[column] if column else (template or "").format_map(row)
            keyed.append(
                (row[key_column] if key_column else str(number), _request(recipe, {"text": text}))
            )
    except csv.Error as error:
        raise BadInput(f"{path}: not a CSV file this can read ({error})") from None
    except (ValueError, IndexError) as error:
        raise BadInput(f"--template: {error}; write columns as {{name}}") from None
    return _finish(Built(), keyed, recipe)


def _template_fields(template: str) -> list[str]:
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        raise BadInput(f"--template: {error}") from None
    if "" in fields:
        raise BadInput("--template: name each column, as in {city}")
    return fields


def _text_of(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadInput(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(f"{path}: cannot be read as UTF-8 text ({error})") from None
