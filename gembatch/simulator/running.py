"""Running the simulator on 127.0.0.1: in this event loop, or in a background thread."""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web

from gembatch.simulator.scenario import Scenario
from gembatch.simulator.server import SimulatorApp
from gembatch.simulator.store import Store


class SimulatorServer:
    """Runs the simulator on 127.0.0.1, in this event loop or in a background thread."""

    def __init__(
        self, scenario: Scenario | None = None, port: int = 0, host: str = "127.0.0.1"
    ) -> None:
        self.sim = SimulatorApp(scenario)
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def store(self) -> Store:
        return self.sim.store

    @property
    def scenario(self) -> Scenario:
        return self.sim.scenario

    @property
    def base_url(self) -> str:
        return self.sim.base_url

    async def start_async(self) -> str:
        self._runner = web.AppRunner(self.sim.make_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr,attr-defined]
        self.port = sockets[0].getsockname()[1]
        self.sim.base_url = f"http://{self.host}:{self.port}"
        return self.sim.base_url

    async def stop_async(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start(self) -> str:
        """Start in a daemon thread; returns the base URL once it accepts connections."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop_async())
            loop.close()

        self._thread = threading.Thread(target=run, name="gembatch-simulator", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self.base_url

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
