"""Failures of calls to the API, as one-line `GeminiError`s, and how they are retried.

Which answers mean the key, which mean one job or file is gone (the real service's 403
for an expired file, shared/gemini-batch-api.md §0.1), which are worth another try and
after how long (a 429's RetryInfo, §0.7).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gembatch.gemini.remote import (
    AuthError,
    GeminiError,
    NotFoundError,
    RequestError,
    TransientError,
    UnmanageableFile,
    one_line,
)

RETRYABLE_CODES = frozenset({408, 429, 500, 502, 503, 504})
# A Retry-After longer than this is not slept inside one call: the call fails, and the
# engine waits that long before its next cycle (a 429's RetryInfo can say "53s").
MAX_INLINE_WAIT_S = 30.0


# --- retries --------------------------------------------------------------------------
@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter for transient failures."""

    attempts: int = 4
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0

    def delay(self, attempt: int, error: TransientError) -> float | None:
        """Seconds to wait before trying again, or None: give up now and let the caller
        come back later (the server asked for a longer pause than is worth holding)."""
        if error.daily_quota:
            return None  # not before the day's reset: the caller waits for it
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= MAX_INLINE_WAIT_S else None
        return random.uniform(0, min(self.max_delay_s, self.base_delay_s * 2**attempt))


def classify(
    what: str,
    exc: BaseException,
    resource: str | None,
    host: str,
    redact: Callable[[str], str],
) -> GeminiError:
    """Turn any exception from the SDK or the network into a one-line GeminiError;
    `host` names the server in messages, `redact` takes the key out of them."""
    from google.genai import errors

    if isinstance(exc, GeminiError):
        return exc
    if isinstance(exc, errors.APIError):
        return _classify_api_error(what, exc, resource, redact)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return TransientError(f"{what}: timed out talking to {host}; will retry")
    if _is_network_error(exc):
        reason = _network_reason(exc)
        return TransientError(
            f"{what}: cannot reach {host} ({reason}); will retry",
            reached_server=not _never_connected(exc),
        )
    return RequestError(redact(f"{what}: {exc.__class__.__name__}: {one_line(str(exc))}"))


def _classify_api_error(
    what: str, exc: Any, resource: str | None, redact: Callable[[str], str]
) -> GeminiError:
    """An error the server answered with, by its code (and, for a few, its words)."""
    code = int(getattr(exc, "code", 0) or 0)
    status = str(getattr(exc, "status", "") or "")
    message = redact(one_line(str(getattr(exc, "message", "") or exc), 200))
    body = json.dumps(getattr(exc, "details", None) or {}, default=str)
    refusal = _refusal(what, code, status, message, body, resource)
    if refusal is not None:
        return refusal
    if code == 404:
        return NotFoundError(f"{what}: not found on the server (404)", code)
    if code == 400 and "cannot be more than 40 characters" in message:
        # §0.11: files.get/delete of a batch output's 42-character id; the download works.
        return UnmanageableFile(
            f"{what}: the Files API cannot manage ids over 40 characters; the file "
            "expires on its own",
            code,
        )
    if code in RETRYABLE_CODES:
        return _transient(what, exc, code, status)
    return RequestError(f"{what}: {code} {status}: {message}", code)


def _refusal(
    what: str, code: int, status: str, message: str, body: str, resource: str | None
) -> GeminiError | None:
    """A rejected key, or a 401/403: about the key, or (a 403 for one named job or file)
    about that one thing; None when the answer is neither."""
    if "API_KEY_INVALID" in body or "API key not valid" in message:
        return AuthError(
            f"{what}: the API key was rejected ({code} {status}); check GEMINI_API_KEY", code
        )
    if code == 403 and resource is not None:
        # The real service answers 403 "... or it may not exist" for a file that
        # expired or was deleted (§0.1, python-genai#1218): about that one thing,
        # not the key. The same for one batch job (403 or 404, §0.1).
        return NotFoundError(
            f"{what}: the server refuses {resource} (403 {status}): it has expired, "
            "was deleted, or belongs to another project",
            code,
        )
    if code in (401, 403):
        return AuthError(
            f"{what}: permission denied ({code} {status}: {message}); check "
            "that the key's project has the Gemini API and billing enabled",
            code,
        )
    return None


def _transient(what: str, exc: Any, code: int, status: str) -> TransientError:
    """A 429 or a server error: worth another try, after the server's wait if it gave
    one; a used-up daily quota is named, as nothing helps before it resets."""
    daily = _daily_quota(exc) if code == 429 else None
    if daily:
        return TransientError(
            f"{what}: the daily quota {daily} is used up ({code} {status})",
            code,
            daily_quota=daily,
        )
    hint = "rate limited" if code == 429 else "server error"
    return TransientError(f"{what}: {hint} ({code} {status}); will retry", code, _retry_after(exc))


def _is_network_error(exc: BaseException) -> bool:
    import aiohttp  # (imported when a call fails, not when gembatch starts)

    if isinstance(exc, aiohttp.ClientError):
        return True
    return isinstance(exc, (ConnectionError, OSError)) or type(exc).__name__ in {
        "ConnectError",
        "ReadTimeout",
        "RemoteProtocolError",
        "ReadError",
    }


def _never_connected(exc: BaseException) -> bool:
    """The connection itself failed: the request never reached the server."""
    import aiohttp

    if isinstance(exc, aiohttp.ClientConnectorError):
        return True
    return isinstance(exc, ConnectionRefusedError) or type(exc).__name__ == "ConnectError"


def _network_reason(exc: BaseException) -> str:
    os_error = getattr(exc, "os_error", None)
    if isinstance(os_error, OSError) and os_error.strerror:
        return os_error.strerror.lower()
    text = re.sub(r"\s*ssl:\S+(\s+\S+>)?", "", str(exc) or exc.__class__.__name__)
    return one_line(text, 120)


def _details(exc: Any) -> list[Any]:
    details = (getattr(exc, "details", None) or {}).get("error", {}).get("details", [])
    return details if isinstance(details, list) else []


def _daily_quota(exc: Any) -> str | None:
    """The id of a daily quota a 429 names (`...PerDay...`), if it names one."""
    for detail in _details(exc):
        violations = detail.get("violations") if isinstance(detail, dict) else None
        for violation in violations if isinstance(violations, list) else []:
            quota = violation.get("quotaId") if isinstance(violation, dict) else None
            if isinstance(quota, str) and "PerDay" in quota:
                return quota
    return None


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        value = headers.get("Retry-After") or headers.get("retry-after")
        if value:
            return float(value)
    except (TypeError, ValueError, AttributeError):
        pass
    for detail in _details(exc):
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return float(delay[:-1])
            except ValueError:
                return None
    return None
