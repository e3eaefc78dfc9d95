"""`python -m gembatch.simulator`: serve the fake Gemini API until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from gembatch.simulator.running import SimulatorServer
from gembatch.simulator.scenario import Faults, JobPlan, Scenario


def main(argv: list[str] | None = None) -> None:
    """Serve the simulator on 127.0.0.1 until interrupted (Ctrl-C)."""
    args = _parser().parse_args(argv)
    scenario = Scenario(
        seed=args.seed,
        default_plan=JobPlan(args.pending, args.running, failed_row_rate=args.failed_rows),
        faults=Faults(error_rate=args.error_rate, latency_s=args.latency),
        failed_job_rate=args.failed_jobs,
        create_lands_after_s=args.late_creates,
    )
    server = SimulatorServer(scenario, port=args.port)

    async def serve() -> None:
        url = await server.start_async()
        print(f"gembatch simulator listening on {url}", flush=True)
        print(f"  export GOOGLE_GEMINI_BASE_URL={url} GEMINI_API_KEY=sim-key", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop_async()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


def _parser() -> argparse.ArgumentParser:
    """The options: where to listen, and how the simulated service behaves."""
    parser = argparse.ArgumentParser(
        prog="python -m gembatch.simulator",
        description="Serve a fake Gemini Batch + Files API on 127.0.0.1 for testing.",
    )
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pending", type=float, default=2.0, help="seconds a job stays PENDING")
    parser.add_argument("--running", type=float, default=10.0, help="seconds a job stays RUNNING")
    parser.add_argument("--failed-rows", type=float, default=0.0, help="share of rows that fail")
    parser.add_argument(
        "--error-rate", type=float, default=0.0, help="share of calls answered 429/500/503"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every call")
    parser.add_argument(
        "--failed-jobs", type=float, default=0.0, help="share of jobs that fail as a whole"
    )
    parser.add_argument(
        "--late-creates",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="every create acts (and replies) this long after it arrives",
    )
    return parser


if __name__ == "__main__":
    main()
