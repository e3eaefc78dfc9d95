"""`gembatch.Run`: a job file, and batches run through it from a script or a notebook.

    run = gembatch.Run("job-info.jsonl", max_cost=10)
    answers = run.map(prompts, response_model=Invoice)   # blocks; resumes after a crash

Each `map` (or `embed`) is one named input written beside the job file
(`batch/<name>.jsonl`), submitted and polled exactly as `gembatch submit` and
`gembatch poll` would: the job file stays the source of truth, so the monitor can
watch a run a notebook started, and a run started again finds its jobs instead of
creating (and paying for) them twice.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
import threading
from collections.abc import AsyncIterator, Coroutine, Iterable
from pathlib import Path
from typing import Any, TypeVar

from gembatch.atomic import AtomicFile
from gembatch.config import Config
from gembatch.engine.events import CycleFinished, Event, JobUpdated, ResultsSaved
from gembatch.errors import BadInput, InputsChanged, JobFailed
from gembatch.intake.requests import KeyOf, Shared, embed_lines, request_lines
from gembatch.jobfile.file import JobFile
from gembatch.jobfile.view import JobView
from gembatch.library.answers import Answer, Embedding, answer_of, embedding_of, result_lines
from gembatch.library.progress import Display, Stats
from gembatch.library.work import Settings, Work, group_of, settled
from gembatch.report import summary
from gembatch.results import export

T = TypeVar("T")
log = logging.getLogger("gembatch")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
REDRAW_S = 0.5  # how often a blocking call redraws its progress
EMBEDDING_MODEL = "gemini-embedding-001"
_DONE = object()  # ends every `watch()`


class Run:
    """Batches run through one job file.

    `job_file`: where the jobs are recorded (made if missing). `model`: the model of
    `map`. `max_cost` (dollars) and `max_running` (jobs at once) are the job file's
    limits, as `gembatch submit --max-cost/--max-running` sets them. `api_key`: else
    GEMINI_API_KEY or GOOGLE_API_KEY. `progress`: "auto" (Jupyter, a terminal line, or
    log lines), False for none. `follow_other_poller`: while another process polls
    the job file, follow it (True) or raise `PollerBusy` (False)."""

    def __init__(
        self,
        job_file: str | Path = "job-info.jsonl",
        *,
        model: str = Config.model,
        max_cost: float | None = None,
        max_running: int | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        progress: bool | str = "auto",
        interval: float = Config.interval,
        keep_remote: bool = False,
        follow_other_poller: bool = True,
        inline: bool | None = None,
        prices: dict | None = None,
    ) -> None:
        self.path = Path(job_file)
        self.settings = Settings(
            model, max_cost, max_running, api_key, base_url, interval, keep_remote,
            follow_other_poller, inline, dict(prices or {}),
        )  # fmt: skip
        self.display = Display(progress)
        self.last_name: str | None = None
        self._latest: Stats | None = None
        self._draw_here = True  # False while a blocking call draws from its own thread
        self._watchers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = []
        self._work: Work | None = None

    # --- generating -----------------------------------------------------------------
    def map(self, prompts: Iterable[Any], **options: Any) -> list[Answer]:
        """Run every prompt through the Batch API; the answers in the prompts' order.

        Blocks until all are done (see `map_async` for the options). Called again with
        the same prompts, it picks up the jobs already submitted: nothing is created
        or paid for twice."""
        return self._blocking(self.map_async(prompts, **options))

    async def map_async(
        self,
        prompts: Iterable[Any],
        *,
        name: str = "map",
        key: KeyOf | None = None,
        response_model: type | None = None,
        system_instruction: Any = None,
        tools: Any = None,
        generation_config: dict[str, Any] | None = None,
    ) -> list[Answer]:
        """`map` for programs with an event loop.

        `name`: the run's input in the job file (`batch/<name>.jsonl`); other prompts
        under the same name are refused (`InputsChanged`). `key(prompt)`: each answer's
        key (default: its position). `response_model`: a pydantic model, sent as the
        response schema and read into each answer's `parsed`. The rest apply to every
        prompt that does not set its own. Raises `JobFailed` (with every answer) when
        a job ended without its results."""
        shared = Shared(system_instruction, tools, dict(generation_config or {}), response_model)
        keys, lines = request_lines(prompts, key, shared)
        job_file = await self._through(name, lines, embeddings=False, model=self.settings.model)
        return self._answers(job_file, name, keys, response_model)

    def map_files(self, files: Iterable[str | Path], prompt: str, **options: Any) -> list[Answer]:
        """One request per file (a folder: every file under it): `prompt`, then the file,
        text put in as text, PDFs, images, audio and video uploaded when the job is
        created and deleted once its results are saved. Answers in the files' order,
        each keyed by its path; see `map_files_async` for the options."""
        return self._blocking(self.map_files_async(files, prompt, **options))

    async def map_files_async(
        self,
        files: Iterable[str | Path],
        prompt: str,
        *,
        name: str = "files",
        response_model: type | None = None,
        system_instruction: Any = None,
        generation_config: dict[str, Any] | None = None,
    ) -> list[Answer]:
        """`map_files` for programs with an event loop. A file that cannot be used (a
        type Gemini does not read, over 2 GB, unreadable) is left out with a warning
        naming it; the rest go ahead."""
        from gembatch.intake import sources

        shared = Shared(system_instruction, None, dict(generation_config or {}), response_model)
        folder = self.path.parent
        paths = [Path(f) for f in files]
        built = sources.from_files(paths, sources.Recipe(prompt, shared), folder / "batch", folder)
        for problem in built.left_out:
            log.warning("%s; left out", problem)
        job_file = await self._through(
            name, built.lines, embeddings=False, model=self.settings.model
        )
        return self._answers(job_file, name, built.keys, response_model)

    # --- embeddings -----------------------------------------------------------------
    def embed(self, texts: Iterable[Any], **options: Any) -> list[Embedding]:
        """Embed every text through an embeddings batch; vectors in the texts' order."""
        return self._blocking(self.embed_async(texts, **options))

    async def embed_async(
        self,
        texts: Iterable[Any],
        *,
        name: str = "embed",
        model: str = EMBEDDING_MODEL,
        task_type: str | None = None,
        output_dimensionality: int | None = None,
    ) -> list[Embedding]:
        """`embed` for programs with an event loop (`task_type`, `output_dimensionality`:
        as the API's EmbedContentRequest takes them)."""
        settings = {"taskType": task_type, "outputDimensionality": output_dimensionality}
        keys, lines = embed_lines(texts, {k: v for k, v in settings.items() if v is not None})
        job_file = await self._through(name, lines, embeddings=True, model=model)
        found = result_lines(keys, self._results(job_file, name))
        vectors = [embedding_of(k, line) for k, line in zip(keys, found, strict=True)]
        self._raise_for_lost(job_file, name, vectors)
        return vectors

    # --- after a run ----------------------------------------------------------------
    def retry_failed(self, name: str | None = None, response_model: type | None = None):
        """Submit again the requests of run `name` (default: the last) that have no
        answer, wait, and return all its answers, in order."""
        return self._blocking(self.retry_failed_async(name, response_model))

    async def retry_failed_async(
        self, name: str | None = None, response_model: type | None = None
    ) -> list[Answer]:
        from gembatch.library.retry import retry_group

        name = self._name(name)
        source = self._source(name)
        await retry_group(self.path, source, self.settings)
        lines = source.read_bytes().splitlines()
        keys = [str(_key_of(line)) for line in lines if line.strip()]
        job_file = await self._poll_only(name)
        return self._answers(job_file, name, keys, response_model)

    @property
    def stats(self) -> Stats:
        """Counts, tokens, cost and ETA of run `last_name` (or of the whole job file)."""
        job_file = JobFile.load(self.path)
        return self._stats(job_file, self.last_name)

    async def watch(self) -> AsyncIterator[Event]:
        """The engine's events (`gembatch.engine.events`) while this Run's work goes on, for
        programs that react to them; ends when the work in progress ends."""
        queue: asyncio.Queue = asyncio.Queue()
        entry = (asyncio.get_running_loop(), queue)
        self._watchers.append(entry)
        try:
            while (event := await queue.get()) is not _DONE:
                yield event
        finally:
            self._watchers.remove(entry)

    # --- the work -------------------------------------------------------------------
    async def _through(self, name: str, lines: list[bytes], embeddings: bool, model: str):
        source = self._place(self._name(name), b"".join(lines), model)
        work = self._work = Work(self.path, _with_model(self.settings, model), self._on_event)
        try:
            job_file = await work.run(source, embeddings)
        finally:
            self._finish_watchers()
        self._show_final(job_file, name)
        return job_file

    async def _poll_only(self, name: str) -> JobFile:
        return await self._through(name, [self._source(name).read_bytes()], False, "")

    def _place(self, name: str, data: bytes, model: str) -> Path:
        """The run's input file, written once; the same name with other requests (or
        another model) is refused, never merged."""
        source = self._source(name)
        if source.is_file() and source.read_bytes() == data:
            return source
        job_file = JobFile.load(self.path) if self.path.exists() else None
        group = group_of(job_file, str(source.relative_to(self.path.parent))) if job_file else []
        if group:
            raise InputsChanged(
                f"{self.path} already holds a run named {name!r} made from other requests "
                f"({source}); pass another name= for new work, or a new job file"
            )
        source.parent.mkdir(parents=True, exist_ok=True)
        with AtomicFile(source) as handle:
            handle.write(data)
        return source

    def _source(self, name: str) -> Path:
        return self.path.parent / "batch" / f"{name}.jsonl"

    def _name(self, name: str | None) -> str:
        name = name or self.last_name
        if name is None:
            raise BadInput("no run yet: call map() or embed() first, or pass name=")
        if not NAME.match(name):
            raise BadInput(f"run name {name!r}: use letters, digits, '.', '_' and '-'")
        self.last_name = name
        return name

    def _results(self, job_file: JobFile, name: str) -> list[Path]:
        return export.results_files(job_file, f"batch/{name}.jsonl")

    def _answers(
        self, job_file: JobFile, name: str, keys: list[str], model: type | None
    ) -> list[Answer]:
        found = result_lines(keys, self._results(job_file, name))
        answers = [answer_of(k, line, model) for k, line in zip(keys, found, strict=True)]
        self._raise_for_lost(job_file, name, answers)
        return answers

    def _raise_for_lost(self, job_file: JobFile, name: str, answers: list) -> None:
        lost = sum(a.error == export.NO_RESULT for a in answers)
        if not lost:
            return
        views = [JobView.of(r) for r in group_of(job_file, f"batch/{name}.jsonl")]
        jobs = [f"{v.label}: {summary.failure_reason(v)}" for v in views if v.results_lost or
                summary.did_not_succeed(v)]  # fmt: skip
        raise JobFailed(
            f"{name}: {lost:,} of {len(answers):,} requests have no answer "
            f"({'; '.join(jobs) or 'no results'}); `retry_failed()` runs them again",
            answers,
            jobs,
        )

    # --- progress and events --------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        for loop, queue in list(self._watchers):
            loop.call_soon_threadsafe(queue.put_nowait, event)
        # Counted after each cycle and each save (and each job read while following
        # another poller), from the job file in memory: no rereading per event.
        work = self._work
        if work is None or work.job_file is None:
            return
        if isinstance(event, (CycleFinished, ResultsSaved)) or (
            isinstance(event, JobUpdated) and work.following
        ):
            self._latest = self._stats(work.job_file, self.last_name)
            if self._draw_here:
                self.display.show(self._latest)

    def _stats(self, job_file: JobFile | None, name: str | None, finished: bool = False):
        job_file = job_file or JobFile.load(self.path)
        records = group_of(job_file, f"batch/{name}.jsonl") if name else job_file.records
        done = finished or settled(records, self.settings.keep_remote)
        views = [JobView.of(r) for r in records]
        now = job_file.clock.now()
        budget = self.settings.max_cost
        return Stats.of(name or str(self.path), views, self.settings.prices, budget, done, now)

    def _show_final(self, job_file: JobFile, name: str) -> None:
        self._latest = self._stats(job_file, name, finished=True)
        if self._draw_here:
            self.display.show(self._latest)

    def _finish_watchers(self) -> None:
        for loop, queue in list(self._watchers):
            loop.call_soon_threadsafe(queue.put_nowait, _DONE)

    def _blocking(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` to the end from plain code (a notebook's loop included: the work
        gets a thread and a loop of its own), drawing progress from this thread."""
        started = threading.Event()
        loops: list[tuple[asyncio.AbstractEventLoop, asyncio.Task]] = []

        async def tracked() -> T:
            task = asyncio.current_task()
            assert task is not None
            loops.append((asyncio.get_running_loop(), task))
            started.set()
            return await work

        self._draw_here = False
        pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="gembatch")
        future = pool.submit(asyncio.run, tracked())
        try:
            while True:
                try:
                    return future.result(timeout=REDRAW_S)
                except concurrent.futures.TimeoutError:
                    if self._latest is not None:
                        self.display.show(self._latest)
        except KeyboardInterrupt:
            if started.wait(timeout=5) and loops:
                loop, task = loops[0]
                loop.call_soon_threadsafe(task.cancel)
            concurrent.futures.wait([future])  # the job file is left consistent
            raise
        finally:
            pool.shutdown(wait=True)
            self._draw_here = True
            if self._latest is not None:
                self.display.show(self._latest)
            self.display.close()


def _with_model(settings: Settings, model: str) -> Settings:
    from dataclasses import replace

    return replace(settings, model=model) if model else settings


def _key_of(line: bytes) -> object:
    import json

    return json.loads(line).get("key")
