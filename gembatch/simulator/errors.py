"""The simulator's error answers: Status JSON with the code and status the service uses."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the server answers with a Status JSON body."""

    STATUS = {
        400: "INVALID_ARGUMENT",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        429: "RESOURCE_EXHAUSTED",
        500: "INTERNAL",
        503: "UNAVAILABLE",
    }

    def __init__(
        self,
        code: int,
        message: str,
        status: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or self.STATUS.get(code, "UNKNOWN")
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def file_gone(file_id: str) -> ApiError:
    """What the real Files API answers for a file that expired or never was (§0.1)."""
    return ApiError(
        403,
        f"You do not have permission to access the File {file_id} or it may not exist.",
        "PERMISSION_DENIED",
    )


def file_id_too_long(request: str, limit: int) -> ApiError:
    """The Files API's answer to get or delete of an id over 40 characters, such as a
    batch output's `files/batch-<36>` (§0.11; python-genai#1759, #1613; js-genai#1227;
    go-genai#436). The download path serves the same file."""
    return ApiError(
        400,
        f"* {request}.name: File ID (name excluding 'files/') cannot be more than "
        f"{limit} characters.",
        "INVALID_ARGUMENT",
    )
