"""The Files and Batch API endpoints pagemill uses, over httpx (docs/batch-and-budgets.md).

    client = BatchClient.from_settings(settings)
    file_id = client.upload("pagemill-batch-<token>.jsonl", jsonl_bytes)       # POST /v1/files, purpose=batch
    job = client.create_job(file_id, "mistral-ocr-latest", 24, {"pagemill_token": token})
    job = client.get_job(job.id); data = client.download(job.output_file)

The connection, the key and the status mapping are worker/http_api.py's (401/403 ProviderAuthError, 4xx
ProviderRejected, ...). Here: 429 and 5xx (and timeouts) are retried a few times with Retry-After, waits longer
than `max_wait_s` are left to the caller (the poller comes back later), and 402 becomes BatchNotEnabled, whose
message says what to do. Job objects are read defensively into `RemoteJob`: statuses pagemill does not know
are kept as they are and treated as live.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from models.errors import BatchNotEnabled, MalformedResponse, PagemillError, ProviderUnavailable

from ..http_api import BearerApiClient, ServerErrors, error_message
from ..ranges.retry import backoff_s

if TYPE_CHECKING:
    from ..settings import WorkerSettings

__all__ = ["BatchClient", "RemoteJob", "remote_state", "BATCH_ERRORS", "OCR_ENDPOINT"]

BATCH_ERRORS = ServerErrors("Batch API", "check MISTRAL_API_KEY")
OCR_ENDPOINT = "/v1/ocr"
_LIST_PAGE_SIZE = 100
_MAX_LIST_PAGES = 20


@dataclass(frozen=True)
class RemoteJob:
    """The fields of the provider's job object that pagemill acts on."""

    id: str
    status: str
    output_file: str | None = None
    error_file: str | None = None
    total_requests: int = 0
    completed_requests: int = 0
    succeeded_requests: int = 0
    failed_requests: int = 0
    errors: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    input_files: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, data: Any) -> RemoteJob:
        if not isinstance(data, Mapping) or not isinstance(data.get("id"), str) or not isinstance(
            data.get("status"), str
        ):
            raise MalformedResponse("the Batch API's job object has no id or status")

        def count(key: str) -> int:
            value = data.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) else 0

        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) and value else None

        errors = [str(e.get("message", "")) if isinstance(e, Mapping) else str(e) for e in data.get("errors") or []]
        metadata = data.get("metadata") if isinstance(data.get("metadata"), Mapping) else {}
        inputs = [f for f in data.get("input_files") or [] if isinstance(f, str)]
        return cls(data["id"], data["status"], text("output_file"), text("error_file"), count("total_requests"),
                   count("completed_requests"), count("succeeded_requests"), count("failed_requests"),
                   [e for e in errors if e], dict(metadata or {}), inputs)


def remote_state(remote: RemoteJob) -> dict[str, object]:
    """The `batch_jobs` columns that mirror the provider's job object."""
    return {"status": remote.status, "completed_requests": remote.completed_requests,
            "succeeded_requests": remote.succeeded_requests, "failed_requests": remote.failed_requests,
            "output_file_id": remote.output_file, "error_file_id": remote.error_file}


class BatchClient:
    def __init__(
        self, base_url: str, api_key: SecretStr | str | None, timeout_s: float = 120.0,
        client: httpx.Client | None = None, max_tries: int = 4, max_wait_s: float = 30.0, retry_base_s: float = 1.0,
    ) -> None:
        self._api = BearerApiClient(base_url, api_key, BATCH_ERRORS, timeout_s, None, client)
        self.max_tries = max_tries
        self.max_wait_s = max_wait_s
        self.retry_base_s = retry_base_s

    def __repr__(self) -> str:
        return f"BatchClient(base_url={self._api.base_url!r})"

    @classmethod
    def from_settings(cls, settings: WorkerSettings, client: httpx.Client | None = None) -> BatchClient:
        return cls(settings.ocr_base_url, settings.api_key, settings.request_timeout_s, client,
                   retry_base_s=min(settings.retry_base_s, 5.0))

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = self._api.headers()
        if "files" in kwargs:
            headers.pop("Content-Type")  # httpx writes the multipart boundary
        if method == "GET" and path.endswith("/content"):
            headers["Accept"] = "*/*"
        for attempt in range(1, self.max_tries + 1):
            try:
                with self._api.errors.transport(self._api.timeout_s):
                    response = self._api.http().request(method, self._api.base_url + path, headers=headers, **kwargs)
            except ProviderUnavailable as err:
                if attempt == self.max_tries:
                    raise
                time.sleep(backoff_s(attempt, self.retry_base_s, self.max_wait_s))
                last: PagemillError = err
                continue
            if response.status_code == 200:
                return response
            if response.status_code == 402:
                raise BatchNotEnabled(
                    f"HTTP 402 from the Batch API: {error_message(response.content)}. Batch processing is not enabled"
                    " for this Mistral workspace: enable it (billing) in the Mistral console, or run without --batch"
                    " (PAGEMILL_BATCH=0) to send the ranges one request at a time"
                )
            last = self._api.error_for(response)
            hinted = getattr(last, "retry_after_s", None)
            wait = float(hinted) if hinted is not None else backoff_s(attempt, self.retry_base_s, self.max_wait_s)
            if not last.retryable or attempt == self.max_tries or wait > self.max_wait_s:
                raise last
            time.sleep(wait)
        raise last  # pragma: no cover - the loop always returns or raises

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise MalformedResponse(f"the Batch API sent a body that is not JSON ({len(response.content)} bytes)") from None

    def upload(self, filename: str, content: bytes) -> str:
        """POST /v1/files (purpose=batch); the new file's id."""
        files = {"file": (filename, content, "application/jsonl")}
        data = self._json(self._request("POST", "/v1/files", files=files, data={"purpose": "batch"}))
        if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
            raise MalformedResponse("the Files API's answer to an upload has no id")
        return data["id"]

    def find_file(self, filename: str) -> str | None:
        """The id of a batch file uploaded under `filename` (an upload whose answer was lost), or None."""
        params = {"purpose": "batch", "search": filename, "page_size": _LIST_PAGE_SIZE}
        data = self._json(self._request("GET", "/v1/files", params=params))
        for item in (data.get("data") if isinstance(data, Mapping) else None) or []:
            if isinstance(item, Mapping) and item.get("filename") == filename and isinstance(item.get("id"), str):
                return item["id"]
        return None

    def create_job(self, file_id: str, model: str, timeout_hours: int, metadata: dict[str, str]) -> RemoteJob:
        body = {"input_files": [file_id], "endpoint": OCR_ENDPOINT, "model": model, "metadata": metadata,
                "timeout_hours": timeout_hours}
        return RemoteJob.parse(self._json(self._request("POST", "/v1/batch/jobs", json=body)))

    def find_job(self, key: str, value: str, created_after: datetime | None = None) -> RemoteJob | None:
        """The job whose metadata has `key` = `value` (a create whose answer was lost), or None. Only jobs
        created after `created_after` are listed, newest first."""
        page = 0
        while page < _MAX_LIST_PAGES:
            params: dict[str, Any] = {"page": page, "page_size": _LIST_PAGE_SIZE, "order_by": "-created",
                                      "created_by_me": "true"}
            if created_after is not None:
                params["created_after"] = created_after.isoformat()
            data = self._json(self._request("GET", "/v1/batch/jobs", params=params))
            items = (data.get("data") if isinstance(data, Mapping) else None) or []
            for item in items:
                if isinstance(item, Mapping) and isinstance(item.get("metadata"), Mapping) and \
                        item["metadata"].get(key) == value:
                    return RemoteJob.parse(item)
            if len(items) < _LIST_PAGE_SIZE:
                return None
            page += 1
        return None

    def get_job(self, job_id: str) -> RemoteJob:
        return RemoteJob.parse(self._json(self._request("GET", f"/v1/batch/jobs/{job_id}")))

    def cancel_job(self, job_id: str) -> RemoteJob:
        return RemoteJob.parse(self._json(self._request("POST", f"/v1/batch/jobs/{job_id}/cancel")))

    def download(self, file_id: str) -> bytes:
        """GET /v1/files/{id}/content."""
        return self._request("GET", f"/v1/files/{file_id}/content").content

    def close(self) -> None:
        self._api.close()
