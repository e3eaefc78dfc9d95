"""gembatch's client: batchStats, retries, one-line errors, and the key kept secret."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from gembatch.cli.demo import write_input
from gembatch.gemini.client import (
    AuthError,
    GeminiClient,
    NotFoundError,
    RetryPolicy,
    TransientError,
    iso_time,
)
from gembatch.simulator import FaultRule, JobPlan, SimulatorServer
from tests.conftest import API_KEY, make_client


async def submit(client: GeminiClient, tmp_path: Path, requests: int = 10) -> str:
    source = tmp_path / "in.jsonl"
    write_input(source, requests)
    uploaded = await client.upload_file(source, "in")
    return (await client.create_batch("gemini-2.5-flash", uploaded, "in.jsonl")).name


async def test_get_batch_reads_batch_stats(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.default_plan = JobPlan(0, 0, failed_row_rate=0.3)
    client = make_client(sim)
    job = await client.get_batch(await submit(client, tmp_path, 40))
    assert job.state == "JOB_STATE_SUCCEEDED"
    assert job.stats is not None and job.stats.total == 40
    assert job.stats.failed > 0 and job.stats.succeeded + job.stats.failed == 40
    buffer = io.BytesIO()
    written = await client.download_file(str(job.output_file), buffer)
    assert written == len(buffer.getvalue()) and buffer.getvalue().count(b"\n") == 40
    await client.close()


async def test_running_job_reports_partial_progress(sim: SimulatorServer, tmp_path: Path) -> None:
    sim.scenario.default_plan = JobPlan(0, 3600)
    client = make_client(sim)
    job = await client.get_batch(await submit(client, tmp_path))
    assert job.state == "JOB_STATE_RUNNING" and job.end_time is None
    assert job.stats is not None and job.stats.total == 10 and job.stats.pending > 0
    await client.close()


async def test_transient_errors_are_retried(sim: SimulatorServer, tmp_path: Path) -> None:
    client = make_client(sim)
    name = await submit(client, tmp_path)
    sim.scenario.faults.rules.append(FaultRule("GET /v1beta/batches/", 429, times=2))
    retried: list[Any] = []
    client.on_retry = retried.append
    assert (await client.get_batch(name)).name == name
    assert [error.code for error in retried] == [429, 429]
    await client.close()


async def test_persistent_503_gives_a_one_line_transient_error(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    client = make_client(sim)
    name = await submit(client, tmp_path)
    sim.scenario.faults.rules.append(FaultRule("GET /v1beta/batches/", 503, times=-1))
    with pytest.raises(TransientError) as caught:
        await client.get_batch(name)
    assert str(caught.value) == f"get {name}: server error (503 UNAVAILABLE); will retry"
    await client.close()


async def test_missing_job_is_not_found(sim: SimulatorServer) -> None:
    client = make_client(sim)
    with pytest.raises(NotFoundError, match="batches/gone: not found"):
        await client.get_batch("batches/gone")
    await client.close()


async def test_bad_key_is_an_auth_error_without_the_key(sim: SimulatorServer) -> None:
    sim.scenario.api_key = "the-right-key"
    client = GeminiClient(api_key=API_KEY, base_url=sim.base_url, retry=RetryPolicy(3, 0.01, 0.01))
    with pytest.raises(AuthError) as caught:
        await client.get_batch("batches/x")
    assert "API key was rejected" in str(caught.value) and API_KEY not in str(caught.value)
    assert "\n" not in str(caught.value)
    await client.close()


async def test_dead_network_is_transient_and_names_the_host() -> None:
    client = GeminiClient(
        api_key=API_KEY, base_url="http://127.0.0.1:9", retry=RetryPolicy(2, 0.01, 0.01)
    )
    with pytest.raises(TransientError) as caught:
        await client.get_batch("batches/x")
    message = str(caught.value)
    assert "cannot reach 127.0.0.1:9" in message and "SSLContext" not in message
    assert API_KEY not in message
    await client.close()


def test_missing_key_says_how_to_set_it() -> None:
    with pytest.raises(AuthError, match="set GEMINI_API_KEY"):
        GeminiClient(base_url="http://127.0.0.1:9")


def test_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "from-env")
    assert GeminiClient(base_url="http://127.0.0.1:9").redact("x from-env y") == "x *** y"


@pytest.mark.parametrize(
    ("wire", "stored"),
    [
        ("2025-12-10T18:27:01.407650525Z", "2025-12-10T18:27:01+00:00"),
        ("2026-01-01T10:00:00Z", "2026-01-01T10:00:00+00:00"),
        (None, None),
    ],
)
def test_wire_times_become_the_earlier_tools_format(wire: str | None, stored: str | None) -> None:
    assert iso_time(wire) == stored
