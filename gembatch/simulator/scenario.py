"""What the simulated server does: job timelines, failures and faults, all from a seed."""

from __future__ import annotations

import dataclasses
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
    # The output lacks its last N lines: nothing guarantees lines == requestCount (§0.5).
    dropped_output_rows: int = 0
    error_message: str = "Simulated job failure."  # a FAILED job's error, as the server words it


@dataclass
class FaultRule:
    """Answer `code` to calls whose "METHOD path" matches `pattern`, `times` times (-1: always).

    `after_acting`: the server does the work, then the reply is lost (a create that
    succeeded but answered 503, §0.3). `retry_delay` puts a RetryInfo in the body
    ("53s" in real 429s, python-genai#1875; fractional too, "45.837906927s", §0.15).
    `quota_id` puts a QuotaFailure naming that quota (ids ending `PerDay` are daily
    quotas, python-genai#2044, §0.15).
    """

    pattern: str
    code: int
    times: int = 1
    after_acting: bool = False
    retry_delay: str | None = None
    quota_id: str | None = None


@dataclass
class Faults:
    """Transient trouble the server injects; decisions are a pure function of the seed."""

    error_rate: float = 0.0
    error_codes: tuple[int, ...] = (429, 500, 503)
    hang_rate: float = 0.0
    hang_s: float = 30.0
    latency_s: float = 0.0
    rules: list[FaultRule] = field(default_factory=list)
    # (regex on "METHOD path?query", seconds): calls that take this long; an upload's
    # chunks carry `upload_id=` in their query, its start does not
    slow: list[tuple[str, float]] = field(default_factory=list)


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
    max_page_size: int = 1000  # the most a list call returns, whatever pageSize asks
    # Uploaded inputs and batch outputs are deleted this long after they were made
    # (48 h on the real service); then every call about them answers 403 (§0.1).
    file_ttl_s: float = 48 * 3600
    # The per-model limit on prompt tokens across unfinished jobs (Tier 1: 3,000,000
    # for 2.5 Flash, shared/gemini-batch-api.md §6): a create that would pass it is
    # answered 429 RESOURCE_EXHAUSTED. None: no limit.
    enqueued_token_limit: int | None = None

    # --- the real service's shapes (shared/gemini-batch-api.md §0); a test that needs
    # friendlier behaviour asks for it by name, e.g. `output_order="input"` -------------
    # Batch ids are 36 characters of [a-z0-9] (§0.11), so outputs are `files/batch-<36>`.
    batch_id_length: int = 36
    # `files.get` and `files.delete` refuse ids over 40 characters with 400
    # INVALID_ARGUMENT; the download path serves them (§0.11, python-genai#1759). None: no limit.
    files_api_id_limit: int | None = 40
    # "shuffled": output rows in a seeded order of their own (§0.12, python-genai#1909);
    # "input": in input order.
    output_order: str = "shuffled"
    # The share of FAILED and CANCELLED jobs whose output holds the rows they finished
    # (§0.5: no source says they have none), chosen per job by the seed.
    partial_output_rate: float = 0.5
    # A create acts this long after it arrives, and only then replies (§0.3: a create
    # can land after the client stopped waiting); `late_creates` is how many creates
    # are late (-1: every one).
    create_lands_after_s: float = 0.0
    late_creates: int = -1
    # The share of jobs that fail as a whole (whatever their plan says), by display name.
    failed_job_rate: float = 0.0

    def plan_for(self, display_name: str) -> JobPlan:
        plan = self.default_plan
        for pattern, candidate in self.plans:
            if fnmatch.fnmatchcase(display_name, pattern):
                plan = candidate
                break
        if self.failed_job_rate and self.chance("job-fails", display_name) < self.failed_job_rate:
            return dataclasses.replace(plan, outcome="FAILED")
        return plan

    def next_create_delay(self) -> float:
        """How long the next create takes to act (and counts it against `late_creates`)."""
        if not self.create_lands_after_s or self.late_creates == 0:
            return 0.0
        if self.late_creates > 0:
            self.late_creates -= 1
        return self.create_lands_after_s

    def chance(self, *parts: object) -> float:
        """A number in [0, 1) fixed by the seed and the parts, whatever the call order."""
        return random.Random("|".join(map(str, (self.seed, *parts)))).random()
