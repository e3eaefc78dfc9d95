"""What tests and scenarios do to the simulator's calls: gates that hold them, latency,
and injected errors (before the server acts, or after it acted and before it replies)."""

from __future__ import annotations

import asyncio
import collections
import re
import threading
from typing import Any

from aiohttp import web

from gembatch.simulator.errors import ApiError
from gembatch.simulator.scenario import FaultRule, Scenario


class Interference:
    """Gates and faults for one simulator; `calls` counts every call by "METHOD path"."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.calls: collections.Counter[str] = collections.Counter()
        self._gates: list[tuple[str, threading.Event]] = []
        self._gates_after: list[tuple[str, threading.Event]] = []
        self.held = 0  # requests waiting at a gate right now

    def hold(
        self, pattern: str, after_acting: bool = False, times: int | None = None
    ) -> threading.Event:
        """Tests: calls matching `pattern` wait until the returned event is set; with
        `after_acting`, once the server has done the work and before it replies (so a
        caller killed meanwhile never learns what was made); `times`: only the first
        that many calls are held."""
        gate = threading.Event()
        gate.times = times  # type: ignore[attr-defined]
        (self._gates_after if after_acting else self._gates).append((pattern, gate))
        return gate

    async def _wait_at_gates(
        self, request: web.Request, gates: list[tuple[str, threading.Event]]
    ) -> None:
        call = f"{request.method} {request.path}"
        for pattern, gate in gates:
            if re.search(pattern, call) and not gate.is_set():
                left = getattr(gate, "times", None)
                if left is not None:
                    if left <= 0:
                        continue
                    gate.times = left - 1  # type: ignore[attr-defined]
                self.held += 1
                while not gate.is_set():
                    await asyncio.sleep(0.005)
                self.held -= 1

    async def after(self, request: web.Request) -> None:
        """Once the server has acted: gates after acting, then rules that lose the reply."""
        await self._wait_at_gates(request, self._gates_after)
        self._faults_after(request)

    def _faults_after(self, request: web.Request) -> None:
        """Rules that let the server act, then lose the reply."""
        call = f"{request.method} {request.path}"
        for rule in self.scenario.faults.rules:
            if rule.after_acting and re.search(rule.pattern, call) and rule.times != 0:
                if rule.times > 0:
                    rule.times -= 1
                raise ApiError(rule.code, f"Injected {rule.code} for {call} after acting.")

    async def before(self, request: web.Request) -> None:
        """Before the server acts: the body read, gates, latency and injected errors."""
        faults = self.scenario.faults
        call = f"{request.method} {request.path}"
        if request.can_read_body:
            # The body arrives before the server acts on it: a request held at a gate or
            # acting late (§0.3) still acts when its client has gone meanwhile.
            await request.read()
        await self._wait_at_gates(request, self._gates)
        self.calls[call] += 1
        count = self.calls[call]
        if faults.latency_s:
            await asyncio.sleep(faults.latency_s)
        for pattern, seconds in faults.slow:
            if re.search(pattern, f"{request.method} {request.path_qs}"):
                await asyncio.sleep(seconds)
        for rule in faults.rules:
            if not rule.after_acting and re.search(rule.pattern, call) and rule.times != 0:
                if rule.times > 0:
                    rule.times -= 1
                raise ApiError(
                    rule.code, f"Injected {rule.code} for {call}.", details=_details(rule) or None
                )
        if faults.hang_rate and self.scenario.chance("hang", call, count) < faults.hang_rate:
            await asyncio.sleep(faults.hang_s)
        if faults.error_rate and self.scenario.chance("err", call, count) < faults.error_rate:
            codes = faults.error_codes
            code = codes[int(self.scenario.chance("code", call, count) * len(codes))]
            message = (
                "Resource has been exhausted (e.g. check quota)."
                if code == 429
                else ("Injected server error.")
            )
            raise ApiError(code, message)


def _details(rule: FaultRule) -> list[dict[str, Any]]:
    """The google.rpc details a real 429 carries: RetryInfo, QuotaFailure."""
    details: list[dict[str, Any]] = []
    if rule.quota_id:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/batch_requests",
                        "quotaId": rule.quota_id,
                    }
                ],
            }
        )
    if rule.retry_delay:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": rule.retry_delay}
        )
    return details
