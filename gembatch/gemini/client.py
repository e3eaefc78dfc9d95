"""The one place that talks to the Gemini API, through google-genai's async client.

Everything else sees `RemoteJob` and `GeminiError`; nothing else imports the SDK.
Batch jobs are read as the raw operation JSON through the SDK's own API client,
because the typed `BatchJob` drops `batchStats` (python-genai#1323) and its
validation rejects some real error bodies; auth, base URL and transport stay the SDK's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from gembatch.config import Config
from gembatch.gemini.download_watch import LocalWriteFailed, download_watched, rewind
from gembatch.gemini.errors import RetryPolicy, classify
from gembatch.gemini.inline import create_call
from gembatch.gemini.remote import (
    AuthError,
    BatchStats,
    CreateUnconfirmed,
    GeminiError,
    NotFoundError,
    RemoteJob,
    RequestError,
    TransientError,
    UnmanageableFile,
    iso_time,
    one_line,
)
from gembatch.gemini.upload_progress import CountedReader

# The errors and wire shapes live in `remote`; they are part of this module's face.
__all__ = [
    "AuthError",
    "BatchStats",
    "CreateUnconfirmed",
    "GeminiClient",
    "GeminiError",
    "NotFoundError",
    "RemoteJob",
    "RequestError",
    "RetryPolicy",
    "TransientError",
    "UnmanageableFile",
    "api_key_from_env",
    "iso_time",
    "one_line",
]

T = TypeVar("T")
DEFAULT_TIMEOUT_S = Config.request_timeout  # (the config's default, written once there)
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
# Stated, not left to the SDK: its default moved to `v1` in 3.4, and the environment
# (`GOOGLE_GENAI_API_VERSION`) would rewrite every path (§0.13). `v1beta` is the version
# every page of the Batch API's documentation uses.
API_VERSION = "v1beta"
# `application/json` is what the cookbook ends up using; `jsonl` and `application/jsonl`
# are each reported refused at times (shared/gemini-batch-api.md §0.2).
UPLOAD_MIME_TYPES = ("application/json", "jsonl", "application/jsonl", "text/plain")
# Each 8 MiB upload chunk gets this long (the default per-call timeout would fail a
# slow link on a big file); downloads have a stall watchdog instead.
UPLOAD_CHUNK_TIMEOUT_S = 600.0


def api_key_from_env() -> str | None:
    """The key the SDK itself would pick: GOOGLE_API_KEY first, then GEMINI_API_KEY."""
    return os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY") or None


class GeminiClient:
    """Async access to batch jobs and files, with retries and one-line errors."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        on_retry: Callable[[GeminiError], None] | None = None,
        create_grace_s: float = Config.create_grace,
    ) -> None:
        self._key = api_key or api_key_from_env()
        if not self._key:
            raise AuthError(
                "no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY), or run `gembatch demo`"
            )
        self._timeout_s = timeout_s
        # How long a create that got no reply may still land (see `creates`).
        self.create_grace_s = create_grace_s
        self.base_url = base_url or os.environ.get("GOOGLE_GEMINI_BASE_URL") or DEFAULT_BASE_URL
        # The SDK takes half a second to import: built on first use, so the monitor can
        # show the job file at once (`prepare` does the import off the event loop).
        self._sdk_client: Any = None
        self.retry = retry or RetryPolicy()
        self.on_retry = on_retry
        self.calls = 0
        self._working_mime: str | None = None

    @staticmethod
    def prepare() -> None:
        """Import the SDK (in a worker thread, so the screen keeps drawing meanwhile)."""
        from google.genai import errors, types  # noqa: F401

    @property
    def sdk(self) -> Any:
        """The google-genai client every call goes through, made on first use."""
        if self._sdk_client is None:
            from google import genai
            from google.genai import types

            # One attempt per SDK call: retries are ours (RetryPolicy). Without
            # retry_options the SDK's aiohttp path would also sleep 1-10 s and retry
            # connection errors. The backend, server and version are stated, so that
            # GOOGLE_GENAI_USE_VERTEXAI, GOOGLE_GENAI_USE_ENTERPRISE or
            # GOOGLE_GENAI_API_VERSION cannot send us elsewhere (§0.13).
            options = types.HttpOptions(
                base_url=self.base_url,
                api_version=API_VERSION,
                timeout=int(self._timeout_s * 1000),
                retry_options=types.HttpRetryOptions(attempts=1),
            )
            self._sdk_client = genai.Client(vertexai=False, api_key=self._key, http_options=options)
        return self._sdk_client

    @property
    def _aio(self) -> Any:
        return self.sdk.aio

    @property
    def _types(self) -> Any:
        from google.genai import types

        return types

    async def close(self) -> None:
        if self._sdk_client is not None:
            await self._sdk_client.aio.aclose()

    # --- batches --------------------------------------------------------------------
    async def get_batch(self, name: str) -> RemoteJob:
        return self._job(await self._call(f"get {name}", lambda: self._get_raw(name), name))

    def _job(self, operation: dict[str, Any]) -> RemoteJob:
        """A job as the server described it, with the key taken out of every text
        (a server error message may quote the request, key and all)."""
        job = RemoteJob.from_operation(operation)
        if self._key and self._key in repr(job):
            job = dataclasses.replace(
                job,
                display_name=self.redact(job.display_name),
                error_message=self.redact(job.error_message) if job.error_message else None,
            )
        return job

    async def _get_raw(self, name: str) -> dict[str, Any]:
        return await self._raw_get(f"batches/{_batch_id(name)}")

    async def list_batch_pages(self, page_size: int = 100) -> AsyncIterator[list[RemoteJob]]:
        """The project's batch jobs, a page at a time, with state and batchStats.

        One call covers up to `page_size` jobs, where `get` costs a call per job; the
        typed pager would drop batchStats, so the raw list is read like `get_batch`.
        """
        token = ""
        while True:
            # Page tokens are opaque and may hold `+`, `/` or `=` (§0.6): encode them.
            query = f"batches?pageSize={page_size}"
            if token:
                query += f"&pageToken={urllib.parse.quote(token, safe='')}"
            body = await self._call("list batches", partial(self._raw_get, query))
            operations = body.get("operations") or []
            yield [self._job(op) for op in operations if isinstance(op, dict)]
            token = str(body.get("nextPageToken") or "")
            if not token or not operations:
                return

    async def _raw_get(self, path: str) -> dict[str, Any]:
        response = await self._aio._api_client.async_request("get", path, {})
        return json.loads(response.body) if response.body else {}

    async def cancel_batch(self, name: str) -> None:
        await self._call(f"cancel {name}", lambda: self._aio.batches.cancel(name=name), name)

    async def delete_batch(self, name: str) -> None:
        await self._call(f"delete {name}", lambda: self._aio.batches.delete(name=name), name)

    async def create_batch(
        self,
        model: str,
        file_name: str | None,
        display_name: str,
        wait_when_refused: bool = True,
        *,
        inline: list[dict[str, Any]] | None = None,
        embeddings: bool = False,
    ) -> RemoteJob:
        """Create a batch job; never sent twice when the first may have reached the server.

        Create is not idempotent (shared/gemini-batch-api.md §0.3): a reply lost after
        the server acted, or a server that acts after we stopped waiting, then a second
        create, bills two jobs. So only a call that surely never arrived (connection
        refused) or was refused (429, when `wait_when_refused`) is sent again here; any
        other failure raises `CreateUnconfirmed`, and the caller looks for the job by
        its display-name marker over a grace window (`creates`) before anything else.
        """
        create = create_call(
            self._aio, self._types, model, file_name, display_name, inline, embeddings
        )
        what = f"create a batch for {file_name or display_name}"
        attempt = 0
        while True:
            try:
                job = await self._call(what, create, attempts=1)
            except TransientError as error:
                await self._before_creating_again(error, attempt, wait_when_refused)
                attempt += 1
                continue
            return await self.get_batch(job.name) if job.name else RemoteJob(name="", state="")

    async def _before_creating_again(
        self, error: TransientError, attempt: int, wait_when_refused: bool
    ) -> None:
        """Wait before a create is sent again, when it surely made nothing; else raise."""
        if not (error.code == 429 or not error.reached_server):
            raise CreateUnconfirmed(f"{error}; the server may still create it", error.code)
        if error.code == 429 and not wait_when_refused:
            raise error
        delay = self.retry.delay(attempt, error)
        if delay is None or attempt + 1 >= self.retry.attempts:
            raise error
        await asyncio.sleep(delay)

    async def marked_jobs(self, max_pages: int = 20) -> AsyncIterator[RemoteJob]:
        """Every job the key can see (newest first, as the service lists them), with
        state and display name: where a create's marker is looked for."""
        pages = 0
        async for page in self.list_batch_pages():
            for job in page:
                yield job
            pages += 1
            if pages >= max_pages:
                return

    # --- files ----------------------------------------------------------------------
    async def count_tokens(self, model: str, request: dict[str, Any]) -> int:
        """The service's own count of a whole request's prompt tokens: contents, system
        instruction, tools, response schema. The SDK's `count_tokens` refuses all but
        the contents on this backend (§0.14), so the REST method is called with the
        whole `generateContentRequest`, through the SDK's own API client."""
        name = model.removeprefix("models/")
        body = {"generateContentRequest": {**request, "model": f"models/{name}"}}

        async def count() -> dict[str, Any]:
            response = await self._aio._api_client.async_request(
                "post", f"models/{name}:countTokens", body
            )
            return json.loads(response.body) if response.body else {}

        reply = await self._call(f"count tokens ({name})", count)
        return int(reply.get("totalTokens") or 0)

    async def upload_file(
        self,
        path: Path,
        display_name: str,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> str:
        """Upload a JSONL input; returns its `files/...` name. `on_progress(sent, total)`
        follows the bytes as the SDK reads them (8 MB at a time: memory stays flat).

        The documented MIME type `jsonl` is sometimes refused with "Unsupported MIME type"
        (python-genai#1547, cookbook#1008), so on that one error the others are tried in
        turn, and the first that works is used from then on.
        """
        last: GeminiError | None = None
        for mime_type in self._mime_order():
            try:
                uploaded = await self.upload_as(path, mime_type, display_name, on_progress)
            except RequestError as error:
                if "mime" not in str(error).lower():
                    raise
                last = error
                continue
            self._working_mime = mime_type
            return str(uploaded.name)
        raise RequestError(
            f"upload {path}: the server refused every JSONL MIME type "
            f"({', '.join(UPLOAD_MIME_TYPES)}): {last}"
        )

    async def upload_as(
        self,
        path: Path,
        mime_type: str,
        display_name: str,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Any:
        """One file uploaded (retried from byte 0); the SDK's `File`."""
        config = self._types.UploadFileConfig(
            mime_type=mime_type,
            display_name=display_name,
            http_options=self._types.HttpOptions(
                timeout=int(UPLOAD_CHUNK_TIMEOUT_S * 1000),
                retry_options=self._types.HttpRetryOptions(attempts=1),
            ),
        )

        def attempt() -> Awaitable[Any]:
            reader = CountedReader(path, on_progress)  # a fresh reader per attempt
            return self._finish_upload(self._aio.files.upload(file=reader, config=config), reader)

        return await self._call(f"upload {path}", attempt)

    @staticmethod
    async def _finish_upload(upload: Awaitable[Any], reader: CountedReader) -> Any:
        try:
            return await upload
        finally:
            reader.close()

    def _mime_order(self) -> list[str]:
        if self._working_mime:
            return [self._working_mime, *(m for m in UPLOAD_MIME_TYPES if m != self._working_mime)]
        return list(UPLOAD_MIME_TYPES)

    async def get_file(self, name: str) -> Any:
        return await self._call(f"get {name}", lambda: self._aio.files.get(name=name), name)

    async def delete_file(self, name: str) -> None:
        await self._call(f"delete {name}", lambda: self._aio.files.delete(name=name), name)

    async def download_file(
        self, name: str, destination: BinaryIO, on_progress: Callable[[int], None] | None = None
    ) -> int:
        """Stream a generated file into `destination`; returns the bytes written."""
        return await self._call(
            f"download {name}",
            lambda: download_watched(self._aio, self._types, name, destination, on_progress),
            name,
            before_retry=lambda: rewind(destination),
        )

    # --- the retry loop -------------------------------------------------------------
    async def _call(
        self,
        what: str,
        call: Callable[[], Awaitable[T]],
        resource: str | None = None,
        before_retry: Callable[[], None] | None = None,
        attempts: int | None = None,
    ) -> T:
        """Run `call` with retries; `resource` names the one job or file it is about."""
        attempts = self.retry.attempts if attempts is None else attempts
        attempt = 0
        while True:
            self.calls += 1
            try:
                return await call()
            except asyncio.CancelledError:
                raise
            except LocalWriteFailed as failed:
                raise failed.error from None
            except Exception as exc:  # every failure is classified, none escapes raw
                error = self.classify(what, exc, resource)
            if not isinstance(error, TransientError) or attempt + 1 >= attempts:
                raise error
            delay = self.retry.delay(attempt, error)
            if delay is None:
                raise error
            if self.on_retry is not None:
                self.on_retry(error)
            await asyncio.sleep(delay)
            attempt += 1
            if before_retry is not None:
                before_retry()

    def classify(self, what: str, exc: BaseException, resource: str | None = None) -> GeminiError:
        """Turn any exception from the SDK or the network into a one-line GeminiError."""
        return classify(what, exc, resource, self._host(), self.redact)

    def redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _host(self) -> str:
        return re.sub(r"^https?://", "", self.base_url).rstrip("/")


def _batch_id(name: str) -> str:
    if not re.fullmatch(r"batches/[^/]+", name):
        raise RequestError(f"{name!r} is not a batch name (expected batches/ID)")
    return name.split("/", 1)[1]
