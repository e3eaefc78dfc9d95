"""What the simulated server does: job timelines, failures and faults, all from a seed."""

from __future__ import annotations

import fnmatch
import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class JobPlan:
    """How one simulated batch job behaves over its life."""

    pending_s: float = 1.0
    running_s: float = 3.0
    outcome: str = "SUCCEEDED"  # SUCCEEDED, FAILED, CANCELLED, EXPIRED, or RUNNING forever
    failed_row_rate: float = 0.0
    response_bytes: int = 0  # extra padding per response, to make large results
    output_ready_delay_s: float = 0.0  # output file appears this long after SUCCEEDED


@dataclass
class FaultRule:
    """Answer `code` to calls whose "METHOD path" matches `pattern`, `times` times (-1: always)."""

    pattern: str
    code: int
    times: int = 1


@dataclass
class Faults:
    """Transient trouble the server injects; decisions are a pure function of the seed."""

    error_rate: float = 0.0
    error_codes: tuple[int, ...] = (429, 500, 503)
    hang_rate: float = 0.0
    hang_s: float = 30.0
    latency_s: float = 0.0
    rules: list[FaultRule] = field(default_factory=list)


@dataclass
class Scenario:
    """Everything that shapes a simulator run."""

    seed: int = 0
    default_plan: JobPlan = field(default_factory=JobPlan)
    # (glob on the job's display name, plan); the first match wins.
    plans: list[tuple[str, JobPlan]] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    api_key: str | None = None  # when set, any other key is rejected like a bad key
    rejected_mime_types: tuple[str, ...] = ()  # answered "400 Unsupported MIME type"
    download_bytes_per_s: float | None = None  # pace downloads like a network link
    page_size: int = 50

    def plan_for(self, display_name: str) -> JobPlan:
        for pattern, plan in self.plans:
            if fnmatch.fnmatchcase(display_name, pattern):
                return plan
        return self.default_plan

    def chance(self, *parts: object) -> float:
        """A number in [0, 1) fixed by the seed and the parts, whatever the call order."""
        return random.Random("|".join(map(str, (self.seed, *parts)))).random()
