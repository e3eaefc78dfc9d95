"""The simulator's HTTP server: the Gemini Files and Batches REST API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import collections
import itertools
import re
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gembatch.simulator import media
from gembatch.simulator.interference import Interference
from gembatch.simulator.scenario import Scenario
from gembatch.simulator.store import ApiError, Store, prompt_tokens

Handler = Callable[[web.Request, "re.Match[str]"], Awaitable[web.StreamResponse]]
# `v1beta` is what every doc page uses, `v1` the SDK's default since 3.4, and `v1alpha`
# what the earlier tool our users migrate from speaks (shared/gemini-batch-api.md §1).
VERSION = r"(?P<v>v1alpha|v1beta|v1)"


class SimulatorApp:
    """Routes requests to the store and injects the scenario's faults."""

    def __init__(self, scenario: Scenario | None = None, store: Store | None = None) -> None:
        self.scenario = scenario or Scenario()
        self.store = store or Store(self.scenario)
        self.base_url = ""
        self.interference = Interference(self.scenario)
        self.request_log: list[tuple[str, str, int]] = []
        self.answered = threading.Condition()
        self._uploads: dict[str, dict[str, Any]] = {}
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("POST", re.compile(rf"^/upload/{VERSION}/files$"), self.upload),
            ("GET", re.compile(rf"^/{VERSION}/files$"), self.list_files),
            ("GET", re.compile(rf"^/{VERSION}/files/(?P<id>[^/:]+):download$"), self.download),
            (
                "GET",
                re.compile(rf"^/download/{VERSION}/files/(?P<id>[^/:]+):download$"),
                self.download,
            ),
            ("GET", re.compile(rf"^/{VERSION}/files/(?P<id>[^/:]+)$"), self.get_file),
            ("DELETE", re.compile(rf"^/{VERSION}/files/(?P<id>[^/:]+)$"), self.delete_file),
            (
                "POST",
                re.compile(
                    rf"^/{VERSION}/models/(?P<model>[^/:]+):"
                    "(?P<method>batchGenerateContent|asyncBatchEmbedContent)$"
                ),
                self.create_batch,
            ),
            (
                "POST",
                re.compile(rf"^/{VERSION}/models/(?P<model>[^/:]+):countTokens$"),
                self.count_tokens,
            ),
            ("GET", re.compile(rf"^/{VERSION}/batches$"), self.list_batches),
            ("GET", re.compile(rf"^/{VERSION}/batches/(?P<id>[^/:]+)$"), self.get_batch),
            ("POST", re.compile(rf"^/{VERSION}/batches/(?P<id>[^/:]+):cancel$"), self.cancel),
            ("DELETE", re.compile(rf"^/{VERSION}/batches/(?P<id>[^/:]+)$"), self.delete_batch),
        ]

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024**3)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        return app

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        status = 500
        try:
            for method, pattern, handler in self._routes:
                match = pattern.match(path)
                if match and request.method == method:
                    if not self._is_upload_session(request):
                        self._check_key(request)
                    await self.interference.before(request)
                    response = await handler(request, match)
                    await self.interference.after(request)
                    status = response.status
                    return response
            raise ApiError(404, f"Unknown path {request.method} {path}.")
        except ApiError as error:
            status = error.code
            return web.json_response(error.body(), status=error.code, headers=error.headers)
        finally:
            with self.answered:
                self.request_log.append((request.method, path, status))
                self.answered.notify_all()

    def wait_for(self, pattern: str, count: int = 1, timeout_s: float = 30.0) -> None:
        """Tests: block until `count` calls matching `pattern` ("METHOD path") have been
        answered (or their client has gone and the handler ended)."""

        def enough() -> bool:
            return (
                sum(bool(re.search(pattern, f"{m} {p}")) for m, p, _ in self.request_log) >= count
            )

        with self.answered:
            if not self.answered.wait_for(enough, timeout=timeout_s):
                raise TimeoutError(f"no {count} answered calls matching {pattern!r}")

    # --- cross-cutting ------------------------------------------------------------------
    @staticmethod
    def _is_upload_session(request: web.Request) -> bool:
        return "upload_id" in request.query

    def _check_key(self, request: web.Request) -> None:
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            raise ApiError(403, "Method doesn't allow unregistered callers.", "PERMISSION_DENIED")
        if self.scenario.api_key is not None and key != self.scenario.api_key:
            raise ApiError(400, "API key not valid. Please pass a valid API key.")

    def hold(
        self, pattern: str, after_acting: bool = False, times: int | None = None
    ) -> threading.Event:
        """Tests: hold calls matching `pattern` until the event is set (`Interference.hold`)."""
        return self.interference.hold(pattern, after_acting, times)

    @property
    def calls(self) -> collections.Counter[str]:
        return self.interference.calls

    @property
    def held(self) -> int:
        return self.interference.held

    # --- files --------------------------------------------------------------------------
    async def upload(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        version = match["v"]
        command = request.headers.get("X-Goog-Upload-Command", "").lower()
        if "start" in command:
            return await self._start_upload(request, version)
        upload_id = request.query.get("upload_id", "")
        session = self._uploads.get(upload_id)
        if session is None:
            raise ApiError(404, "Upload session not found.")
        offset = int(request.headers.get("X-Goog-Upload-Offset", len(session["data"])))
        chunk = await request.read()
        del session["data"][offset:]
        session["data"] += chunk
        if "finalize" not in command:
            return web.json_response({}, headers={"X-Goog-Upload-Status": "active"})
        self._uploads.pop(upload_id)
        if session["mime_type"] in self.scenario.rejected_mime_types:
            # Refused on the last chunk, after the start said 200, with the upload marked
            # final (§0.2; python-genai tests/client/test_upload_errors.py): every
            # fallback re-sends the whole file.
            raise ApiError(
                400,
                f"Unsupported MIME type: {session['mime_type']}",
                headers={"X-Goog-Upload-Status": "final"},
            )
        sim_file = self.store.add_file(
            session["display_name"], session["mime_type"], bytes(session["data"])
        )
        body = {"file": self.store.file_json(sim_file, self.base_url, version)}
        return web.json_response(body, headers={"X-Goog-Upload-Status": "final"})

    async def _start_upload(self, request: web.Request, version: str) -> web.StreamResponse:
        """A resumable upload's start: its name and type, and where to send the bytes."""
        # (`body_exists`: `can_read_body` is False once dispatch has read the body)
        body = await request.json() if request.body_exists else {}
        meta = body.get("file", {}) if isinstance(body, dict) else {}
        mime_type = (
            request.headers.get("X-Goog-Upload-Header-Content-Type")
            or meta.get("mime_type")
            or meta.get("mimeType")
            or "application/octet-stream"
        )
        upload_id = self.store.new_id("upload")
        self._uploads[upload_id] = {
            "display_name": meta.get("display_name") or meta.get("displayName") or "",
            "mime_type": mime_type,
            "data": bytearray(),
        }
        query = f"upload_id={upload_id}&upload_protocol=resumable"
        url = f"{self.base_url}/upload/{version}/files?{query}"
        return web.json_response(
            {}, headers={"X-Goog-Upload-URL": url, "X-Goog-Upload-Status": "active"}
        )

    async def get_file(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        sim_file = self.store.get_file(match["id"])
        return web.json_response(self.store.file_json(sim_file, self.base_url, match["v"]))

    async def list_files(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        with self.store.lock:
            self.store._refresh_outputs()
            self.store._expire_files()
            items = sorted(self.store.files.values(), key=lambda f: (f.created, f.file_id))
        page, token = _page(items, request, default_size=10, max_size=100)
        body: dict[str, Any] = {
            "files": [self.store.file_json(f, self.base_url, match["v"]) for f in page]
        }
        if token:
            body["nextPageToken"] = token
        return web.json_response(body)

    async def delete_file(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        self.store.delete_file(match["id"])
        return web.json_response({})

    async def download(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        rate = self.scenario.download_bytes_per_s
        spooled = None if rate else self.store.spooled_path(match["id"])
        if spooled is not None:  # sendfile: the benchmarks' server at disk speed
            return web.FileResponse(spooled, headers={"Content-Type": "application/octet-stream"})
        chunks = self.store.file_chunks(match["id"])
        first = next(chunks, b"")  # raises ApiError before any header is sent
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await response.prepare(request)
        started = time.monotonic()
        sent = 0
        try:
            for chunk in itertools.chain([first], chunks):
                await response.write(chunk)
                sent += len(chunk)
                if rate:  # hold back to the link's pace
                    await asyncio.sleep(max(0.0, sent / rate - (time.monotonic() - started)))
            await response.write_eof()
        except ConnectionError:  # (aiohttp's ClientConnectionResetError is one)
            pass  # the client went away mid-download (killed, or gave up): not our error
        return response

    # --- batches ------------------------------------------------------------------------
    @staticmethod
    async def _json_body(request: web.Request) -> object:
        try:
            return await request.json()
        except ValueError:
            raise ApiError(400, "Invalid JSON payload received.") from None

    async def count_tokens(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        body = await self._json_body(request)
        whole = body.get("generateContentRequest") if isinstance(body, dict) else None
        if isinstance(whole, dict):  # the REST form that counts the whole request (§0.14)
            with self.store.lock:
                tokens = prompt_tokens(whole) + media.tokens_of(whole, self.store.files)
            return web.json_response({"totalTokens": tokens})
        contents = body.get("contents") if isinstance(body, dict) else None
        if not isinstance(contents, list):
            raise ApiError(400, "* CountTokensRequest.contents: contents is not specified")
        return web.json_response({"totalTokens": prompt_tokens({"contents": contents})})

    async def create_batch(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        body = await self._json_body(request)
        batch = body.get("batch") if isinstance(body, dict) else None
        if not isinstance(batch, dict):
            raise ApiError(400, "Missing required field batch.")
        config = batch.get("inputConfig") or batch.get("input_config") or {}
        requests_block = config.get("requests") or {}
        file_name = (
            config.get("fileName")
            or config.get("file_name")
            or requests_block.get("fileName")
            or requests_block.get("file_name")
        )
        inline = requests_block.get("requests") if isinstance(requests_block, dict) else None
        if not file_name and inline is None:
            raise ApiError(400, "batch.input_config must name a file or hold requests.")
        display_name = batch.get("displayName") or batch.get("display_name") or ""
        delay = self.scenario.next_create_delay()
        if delay:
            # The server acts late (§0.3): a client that stopped waiting never hears of
            # this job, which exists all the same (aiohttp does not cancel a handler
            # whose client went away).
            await asyncio.sleep(delay)
        # Embeddings batches (SDK `batches.create_embeddings`, experimental) are the same
        # resource with EmbedContentRequests inside, answered with embeddings.
        embeddings = match["method"] == "asyncBatchEmbedContent"
        created = self.store.create_batch(
            f"models/{match['model']}", display_name, file_name, inline, embeddings
        )
        return web.json_response(self.store.batch_json(created))

    async def get_batch(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        batch = self.store.get_batch(match["id"])
        return web.json_response(self.store.batch_json(batch))

    async def list_batches(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        with self.store.lock:
            items = sorted(self.store.batches.values(), key=lambda b: (b.created, b.batch_id))
            items.reverse()  # newest first, as the real service lists them
        page, token = _page(
            items,
            request,
            default_size=self.scenario.page_size,
            max_size=self.scenario.max_page_size,
        )
        body: dict[str, Any] = {"operations": []}
        for batch in page:
            operation = self.store.batch_json(batch)
            _strip_inline_responses(operation)  # list omits inlined responses
            body["operations"].append(operation)
        if token:
            body["nextPageToken"] = token
        return web.json_response(body)

    async def cancel(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        self.store.cancel_batch(match["id"])
        return web.json_response({})

    async def delete_batch(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        self.store.delete_batch(match["id"])
        return web.json_response({})


def _page(items: list[Any], request: web.Request, default_size: int, max_size: int):
    """A page of `items`; page tokens are opaque base64 (with `=`, and `+`/`/` when the
    offset calls for them), as real ones are, so a client that does not URL-encode
    them breaks here as it would there (§0.6)."""
    try:
        size = int(request.query.get("pageSize", default_size))
        token = request.query.get("pageToken") or ""
        start = int(base64.b64decode(token, validate=True).decode()[4:]) if token else 0
    except ValueError:
        raise ApiError(400, "Invalid page size or token.") from None
    size = max(1, min(size, max_size))
    page = items[start : start + size]
    end = start + size
    next_token = base64.b64encode(f"~?>?{end}".encode()).decode() if end < len(items) else ""
    return page, next_token


def _strip_inline_responses(operation: dict[str, Any]) -> None:
    for holder in (operation.get("metadata", {}), operation):
        key = "output" if holder is not operation else "response"
        value = holder.get(key)
        if isinstance(value, dict) and "inlinedResponses" in value:
            holder.pop(key)
