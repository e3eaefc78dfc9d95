"""The unmodified google-genai SDK, over real HTTP, against the simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest
from google import genai
from google.genai import errors, types

from gembatch.cli.demo import write_input
from gembatch.simulator import FaultRule, JobPlan, SimulatorServer
from tests.conftest import API_KEY, as_inline, read_jsonl

ONE_REQUEST = as_inline([{"contents": [{"parts": [{"text": "x"}]}]}])


def named(value: str | None) -> str:
    """A name the SDK types as optional, which these calls must have."""
    assert value, "the SDK returned no name"
    return value


def dest_of(job: types.BatchJob) -> types.BatchJobDestination:
    assert job.dest is not None, "the finished job has no destination"
    return job.dest


def sdk(server: SimulatorServer, version: str | None = None) -> genai.Client:
    options = types.HttpOptions(base_url=server.base_url)
    if version:
        options.api_version = version
    return genai.Client(api_key=API_KEY, http_options=options)


@pytest.mark.parametrize("version", [None, "v1beta"])
def test_file_job_round_trip(sim: SimulatorServer, tmp_path: Path, version: str | None) -> None:
    sim.scenario.default_plan = JobPlan(pending_s=0, running_s=0, failed_row_rate=0.25)
    client = sdk(sim, version)
    source = tmp_path / "in.jsonl"
    write_input(source, 20)
    uploaded = client.files.upload(
        file=source, config=types.UploadFileConfig(mime_type="jsonl", display_name="in")
    )
    assert uploaded.size_bytes == source.stat().st_size
    job = client.batches.create(
        model="gemini-2.5-flash", src=named(uploaded.name), config={"display_name": "in.jsonl"}
    )
    job = client.batches.get(name=named(job.name))
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    assert named(dest_of(job).file_name) == f"files/batch-{named(job.name).split('/')[1]}"
    out = tmp_path / "out.jsonl"
    client.files.download(file=named(dest_of(job).file_name), destination=str(out))
    rows = read_jsonl(out)
    # In an order of the server's own (shared/gemini-batch-api.md §0.12): join by key.
    assert sorted(row["key"] for row in rows) == [f"{n:06d}" for n in range(20)]
    failed = [row for row in rows if "error" in row]
    assert 0 < len(failed) < 20
    assert all("response" in row for row in rows if "error" not in row)
    client.batches.delete(name=named(job.name))
    client.files.delete(name=named(uploaded.name))
    with pytest.raises(errors.ClientError) as caught:
        client.batches.get(name=named(job.name))
    assert caught.value.code == 404


def test_documented_download_path_serves_the_same_bytes(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    # files.get refuses a real output's 42-character id (§0.11): this test reads the
    # File resource, so it asks for the short ids the real service does not have.
    sim.scenario.batch_id_length = 12
    client = sdk(sim)
    source = tmp_path / "in.jsonl"
    write_input(source, 3)
    uploaded = client.files.upload(file=source, config={"mime_type": "jsonl"})
    job = client.batches.create(model="m", src=named(uploaded.name))
    output = client.files.get(
        name=named(dest_of(client.batches.get(name=named(job.name))).file_name)
    )
    assert output.download_uri and "/download/v1beta/" in output.download_uri
    request = urllib.request.Request(output.download_uri, headers={"x-goog-api-key": API_KEY})
    with urllib.request.urlopen(request) as response:
        documented = response.read()
    assert documented == client.files.download(file=named(output.name))


def test_inline_job_round_trip(sim: SimulatorServer) -> None:
    client = sdk(sim)
    requests = as_inline(
        [
            {"contents": [{"parts": [{"text": f"q{n}"}]}], "metadata": {"key": f"k{n}"}}
            for n in range(4)
        ]
    )
    job = client.batches.create(model="gemini-2.5-flash", src=requests)
    job = client.batches.get(name=named(job.name))
    assert job.done
    answers = dest_of(job).inlined_responses or []
    by_key = {(r.metadata or {})["key"]: r for r in answers}  # in any order (§0.12)
    assert sorted(by_key) == ["k0", "k1", "k2", "k3"]
    answer = by_key["k2"].response
    assert answer is not None and (answer.text or "").startswith("Simulated answer to: q2")


def test_job_timeline_and_cancel(sim: SimulatorServer) -> None:
    sim.scenario.default_plan = JobPlan(pending_s=3600, running_s=3600)
    client = sdk(sim)
    job = client.batches.create(model="m", src=ONE_REQUEST)
    assert client.batches.get(name=named(job.name)).state == types.JobState.JOB_STATE_PENDING
    client.batches.cancel(name=named(job.name))
    assert client.batches.get(name=named(job.name)).state == types.JobState.JOB_STATE_CANCELLED
    with pytest.raises(errors.ClientError):
        client.batches.cancel(name=named(job.name))  # only pending or running jobs can be cancelled


def test_pagination_lists_every_job_and_file(sim: SimulatorServer, tmp_path: Path) -> None:
    client = sdk(sim)
    source = tmp_path / "in.jsonl"
    write_input(source, 1)
    for _ in range(7):
        uploaded = client.files.upload(file=source, config={"mime_type": "jsonl"})
        client.batches.create(model="m", src=named(uploaded.name))
    jobs = list(client.batches.list(config={"page_size": 3}))
    assert len(jobs) == 7 and len({job.name for job in jobs}) == 7
    files = list(client.files.list(config={"page_size": 4}))
    assert len(files) == 14  # 7 inputs + 7 generated outputs
    pages = [call for call in sim.sim.request_log if call[1].endswith("/batches")]
    assert len(pages) == 3


@pytest.mark.parametrize(
    ("code", "exception"),
    [(429, errors.ClientError), (500, errors.ServerError), (503, errors.ServerError)],
)
def test_injected_errors_surface_as_sdk_exceptions(
    sim: SimulatorServer, code: int, exception: type[errors.APIError]
) -> None:
    client = sdk(sim)
    job = client.batches.create(model="m", src=ONE_REQUEST)
    sim.scenario.faults.rules.append(FaultRule(r"GET /v1/batches/", code, times=1))
    with pytest.raises(exception) as caught:
        client.batches.get(name=named(job.name))
    assert caught.value.code == code
    assert client.batches.get(name=named(job.name)).name == job.name  # the fault was one-shot


def test_wrong_key_is_rejected_like_the_real_service(sim: SimulatorServer) -> None:
    sim.scenario.api_key = API_KEY
    client = genai.Client(api_key="wrong", http_options={"base_url": sim.base_url})
    with pytest.raises(errors.ClientError) as caught:
        client.batches.list(config={"page_size": 5})
    assert caught.value.code == 400 and "API key not valid" in str(caught.value)


def test_same_seed_gives_the_same_failed_rows(tmp_path: Path) -> None:
    def failed_keys() -> list[str]:
        from tests.conftest import fast_scenario

        scenario = fast_scenario(seed=99)
        scenario.default_plan = JobPlan(0, 0, failed_row_rate=0.3)
        with SimulatorServer(scenario) as server:
            client = sdk(server)
            source = tmp_path / "in.jsonl"
            write_input(source, 30)
            uploaded = client.files.upload(file=source, config={"mime_type": "jsonl"})
            created = client.batches.create(model="m", src=named(uploaded.name))
            job = client.batches.get(name=named(created.name))
            data = client.files.download(file=named(dest_of(job).file_name))
        return [row["key"] for row in map(json.loads, data.splitlines()) if "error" in row]

    first = failed_keys()
    assert first and first == failed_keys()


def test_module_entry_point_serves_the_plain_sdk(tmp_path: Path) -> None:
    """`python -m gembatch.simulator` + GOOGLE_GEMINI_BASE_URL: upload, create, poll, download."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gembatch.simulator",
            "--port",
            "0",
            "--pending",
            "0.2",
            "--running",
            "0.5",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[-1]
        script = textwrap.dedent("""
            import json, sys, time
            from google import genai
            client = genai.Client()
            f = client.files.upload(file=sys.argv[1], config={"mime_type": "jsonl"})
            job = client.batches.create(model="gemini-2.5-flash", src=f.name)
            while not client.batches.get(name=job.name).done:
                time.sleep(0.1)
            job = client.batches.get(name=job.name)
            data = client.files.download(file=job.dest.file_name)
            print(job.state.name, len(data.splitlines()))
        """)
        source = tmp_path / "in.jsonl"
        write_input(source, 5)
        env = {**os.environ, "GOOGLE_GEMINI_BASE_URL": url, "GEMINI_API_KEY": API_KEY}
        env.pop("GOOGLE_API_KEY", None)
        result = subprocess.run(
            [sys.executable, "-c", script, str(source)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.stdout.split() == ["JOB_STATE_SUCCEEDED", "5"], result.stderr
    finally:
        server.terminate()
        server.wait()
