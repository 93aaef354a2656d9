"""A loopback server for the Files and Batch APIs (`/v1/files`, `/v1/batch/jobs`), on top of the /v1/ocr fake.

    with BatchServer(api_key="sk-test", queue_s=0.5, run_s=1.0) as server:
        ...  # PAGEMILL_OCR_BASE_URL=server.url; then server.uploads, server.jobs, server.billed_pages

Endpoints: `POST /v1/files` (multipart: `file`, `purpose`), `GET /v1/files?purpose=&search=`,
`GET /v1/files/{id}/content`, `POST /v1/batch/jobs`, `GET /v1/batch/jobs` (list, newest first, with metadata),
`GET /v1/batch/jobs/{id}`, `POST /v1/batch/jobs/{id}/cancel`, and `POST /v1/ocr` (MistralServer's).
Requests and answers are checked against the official SDK's models (`mistralai.client.models`): the create
request (CreateBatchJobRequest), each input line (BatchRequest, and the body as a /v1/ocr body minus `model`),
and every job object and upload answer this server sends (BatchJob, CreateFileResponse).

A job goes QUEUED for `queue_s`, RUNNING for `run_s` (its lines answered one by one, in proportion to the time),
then SUCCESS, or FAILED when every line failed. Scripted faults: `line_fault(custom_id)` returns None or one of
"error" (an error-file line), "malformed" (an output line that is not JSON), "not_ocr" (a 200 whose body is not an
OCRResponse), "unknown" (the answer under a custom_id nobody sent), "missing" (no line at all);
`end_status` (when a job is created) forces "FAILED" / "TIMEOUT_EXCEEDED" after `run_s` with only `partial` of the lines answered;
`billing_enabled=False` answers job creation with 402; `inject(Fault(...))` scripts the next answers of any
endpoint; a cancel leaves the job CANCELLATION_REQUESTED until the next GET, then CANCELLED with the lines done.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as email_policy
from typing import Any
from urllib.parse import parse_qs, urlparse

from mistralai.client.models import BatchJob, BatchRequest, CreateBatchJobRequest, CreateFileResponse

from tests.fakes._http_fake import ERROR_BODIES, Answer
from tests.fakes.mistral_server import MistralServer, _validate

__all__ = ["BatchServer", "Upload", "FakeJob"]


@dataclass
class Upload:
    id: str
    filename: str
    purpose: str
    content: bytes
    custom_ids: list[str]
    created_at: int = field(default_factory=lambda: int(time.time()))


@dataclass
class FakeJob:
    id: str
    input_files: list[str]
    model: str
    metadata: dict[str, str]
    timeout_hours: int
    lines: list[dict[str, Any]]
    created: float = field(default_factory=time.time)
    status: str = "QUEUED"
    cancel_at: float | None = None
    answered: int = 0  # lines processed so far
    output: list[bytes] = field(default_factory=list)
    errors: list[bytes] = field(default_factory=list)
    succeeded: int = 0
    failed: int = 0
    output_file: str | None = None
    error_file: str | None = None
    end_status: str | None = None  # the server's `end_status` when the job was created


class BatchServer(MistralServer):
    def __init__(self, api_key: str | None = "sk-test-key", queue_s: float = 0.3, run_s: float = 0.6,
                 line_fault: Callable[[str], str | None] | None = None, end_status: str | None = None,
                 partial: float = 0.5, billing_enabled: bool = True, **kwargs: Any) -> None:
        super().__init__(api_key=api_key, **kwargs)
        self.queue_s, self.run_s = queue_s, run_s
        self.line_fault = line_fault
        self.end_status, self.partial = end_status, partial
        self.billing_enabled = billing_enabled
        self.files: dict[str, Upload] = {}
        self.uploads: list[Upload] = []  # every upload, in order
        self.jobs: dict[str, FakeJob] = {}
        self.calls: list[tuple[str, str, int]] = []  # method, path, status
        self.billed_pages = 0  # pages answered inside batch jobs
        self._seq = itertools.count()
        # "POST /v1/files", "POST /v1/batch/jobs", "GET /v1/batch/jobs/{id}" -> seconds: the next such request is
        # handled at once but answered that much later (a client killed meanwhile never hears the answer)
        self.hold_answers: dict[str, float] = {}
        self.failing_downloads: list[int] = []  # statuses for the next downloads of result files (e.g. [404])

    # -- routing ---------------------------------------------------------------------------------------------
    def respond(self, path: str, raw: bytes, headers: dict[str, str]) -> Answer:
        if urlparse(path).path == "/v1/ocr":
            return super().respond(path, raw, headers)
        return self._held("POST", path, self._route("POST", path, raw, headers))

    def respond_get(self, path: str, headers: dict[str, str]) -> Answer:
        return self._held("GET", path, self._route("GET", path, b"", headers))

    def _held(self, method: str, path: str, answer: Answer) -> Answer:
        route = urlparse(path).path
        self.calls.append((method, route, answer[0]))
        parts = route.split("/")
        generic = "/".join("{id}" if p.startswith(("job-", "file-")) else p for p in parts)
        with self._lock:
            hold = self.hold_answers.pop(f"{method} {generic}", 0.0)
        if hold:
            time.sleep(hold)
        return answer

    def _route(self, method: str, path: str, raw: bytes, headers: dict[str, str]) -> Answer:
        lower = {k.lower(): v for k, v in headers.items()}
        fault = self._next_fault()
        if fault is not None:
            time.sleep(fault.delay_s)
            if not (fault.status == 200 and fault.body is None):  # a 200 fault: a slow but real answer
                return fault.status, fault.body if fault.body is not None else {"detail": "injected"}, fault.headers
        if self.api_key is not None and lower.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"detail": "Unauthorized"}, {}
        url = urlparse(path)
        parts = [p for p in url.path.split("/") if p]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with self._lock:
            if method == "POST" and parts == ["v1", "files"]:
                return self._upload(raw, lower.get("content-type", ""))
            if method == "GET" and parts == ["v1", "files"]:
                return self._list_files(query)
            if method == "GET" and len(parts) == 4 and parts[:2] == ["v1", "files"] and parts[3] == "content":
                upload = self.files.get(parts[2])
                if upload is not None and upload.purpose == "batch_result" and self.failing_downloads:
                    return self.failing_downloads.pop(0), {"detail": "the file could not be read"}, {}
                return (200, upload.content, {}) if upload else (404, {"detail": "file not found"}, {})
            if parts[:3] == ["v1", "batch", "jobs"]:
                return self._jobs(method, parts[3:], raw, query)
        return 404, {"detail": "Not Found"}, {}

    # -- files -----------------------------------------------------------------------------------------------
    def _upload(self, raw: bytes, content_type: str) -> Answer:
        msg = BytesParser(policy=email_policy).parsebytes(
            f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + raw)
        fields: dict[str, tuple[str | None, bytes]] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
        if "file" not in fields or "purpose" not in fields:
            return 422, ERROR_BODIES["fastapi"]("Field required: file and purpose"), {}
        purpose = fields["purpose"][1].decode()
        filename, content = fields["file"][0] or "upload", fields["file"][1]
        ids = []
        if purpose == "batch":
            for n, line in enumerate(content.splitlines()):
                problem = self._check_line(line)
                if problem:
                    return 422, ERROR_BODIES["documented"](f"line {n + 1}: {problem}"), {}
                ids.append(json.loads(line)["custom_id"])
        upload = Upload(f"file-{uuid.uuid4()}", filename, purpose, content, ids)
        self.files[upload.id] = upload
        self.uploads.append(upload)
        answer = {"id": upload.id, "object": "file", "bytes": len(content), "size_bytes": len(content),
                  "created_at": upload.created_at, "filename": filename, "purpose": purpose,
                  "sample_type": "batch_request", "num_lines": len(ids), "mimetype": "application/jsonl",
                  "source": "upload", "signature": None}
        CreateFileResponse.model_validate(answer)
        return 200, answer, {}

    def _check_line(self, line: bytes) -> str | None:
        try:
            data = json.loads(line)
        except ValueError:
            return "not JSON"
        BatchRequest.model_validate(data)
        if not isinstance(data.get("custom_id"), str) or "model" in data.get("body", {}):
            return "each line needs a custom_id, and the model is given with the job"
        return _validate({**data["body"], "model": "x"})

    def _list_files(self, query: dict[str, str]) -> Answer:
        found = [u for u in self.files.values() if (not query.get("purpose") or u.purpose == query["purpose"])
                 and query.get("search", "") in u.filename]
        data = [{"id": u.id, "object": "file", "size_bytes": len(u.content), "created_at": u.created_at,
                 "filename": u.filename, "purpose": u.purpose, "sample_type": "batch_request", "source": "upload",
                 "num_lines": len(u.custom_ids)} for u in found]
        return 200, {"data": data, "object": "list", "total": len(data)}, {}

    # -- jobs ------------------------------------------------------------------------------------------------
    def _jobs(self, method: str, rest: list[str], raw: bytes, query: dict[str, str]) -> Answer:
        if method == "POST" and not rest:
            return self._create(raw)
        if method == "GET" and not rest:
            listed = sorted(self.jobs.values(), key=lambda j: j.created, reverse=True)
            for job in listed:
                self._advance(job)
            data = [self._job_object(j) for j in listed]
            return 200, {"data": data, "object": "list", "total": len(data)}, {}
        job = self.jobs.get(rest[0])
        if job is None:
            return 404, ERROR_BODIES["documented"]("batch job not found"), {}
        if method == "POST" and rest[1:] == ["cancel"]:
            if job.status in ("QUEUED", "RUNNING"):
                job.status, job.cancel_at = "CANCELLATION_REQUESTED", time.time()
            return 200, self._job_object(job), {}
        if method == "GET" and len(rest) == 1:
            self._advance(job)
            return 200, self._job_object(job), {}
        return 404, {"detail": "Not Found"}, {}

    def _create(self, raw: bytes) -> Answer:
        try:
            body = json.loads(raw)
            CreateBatchJobRequest.model_validate(body)
        except ValueError as exc:
            return 422, ERROR_BODIES["fastapi"](f"invalid request: {exc}"[:300]), {}
        if not self.billing_enabled:
            return 402, ERROR_BODIES["documented"]("Batch processing requires a paid plan"), {}
        if body.get("endpoint") != "/v1/ocr" or not body.get("model"):
            return 422, ERROR_BODIES["fastapi"]("endpoint /v1/ocr and a model are required here"), {}
        lines = []
        for fid in body.get("input_files") or []:
            upload = self.files.get(fid)
            if upload is None or upload.purpose != "batch":
                return 404, ERROR_BODIES["documented"](f"input file {fid} not found"), {}
            lines.extend(json.loads(line) for line in upload.content.splitlines())
        job = FakeJob(f"job-{next(self._seq)}-{uuid.uuid4().hex[:8]}", body["input_files"], body["model"],
                      body.get("metadata") or {}, body.get("timeout_hours", 24), lines)
        job.end_status = self.end_status
        self.jobs[job.id] = job
        return 200, self._job_object(job), {}

    def _answer_lines(self, job: FakeJob, upto: int) -> None:
        while job.answered < min(upto, len(job.lines)):
            line = job.lines[job.answered]
            job.answered += 1
            cid = line["custom_id"]
            fault = self.line_fault(cid) if self.line_fault else None
            if fault == "missing":
                continue
            if fault == "error":
                job.failed += 1
                err = {"message": f"Document could not be processed ({cid})", "code": 3740}
                job.errors.append(json.dumps({"id": f"batch-{uuid.uuid4()}", "custom_id": cid, "response": None,
                                              "error": err}).encode())
                continue
            if fault == "malformed":
                job.output.append(b'{"custom_id": "' + cid.encode() + b'", "response": {')
                continue
            status, payload, _headers, pages = self._ocr({**line["body"], "model": job.model})
            self.billed_pages += pages
            if fault == "not_ocr":
                payload = {"pages": "not a list", "model": job.model}
            job.succeeded += status == 200
            job.failed += status != 200
            out_id = f"{cid}-stranger" if fault == "unknown" else cid
            job.output.append(json.dumps({"id": f"batch-{uuid.uuid4()}", "custom_id": out_id,
                                          "response": {"status_code": status, "body": payload},
                                          "error": None}).encode())

    def _finish(self, job: FakeJob, status: str) -> None:
        job.status = status
        for name, lines in (("output_file", job.output), ("error_file", job.errors)):
            if lines:
                upload = Upload(f"file-{uuid.uuid4()}", f"{job.id}-{name}.jsonl", "batch_result",
                                b"\n".join(lines) + b"\n", [])
                self.files[upload.id] = upload
                setattr(job, name, upload.id)

    def _advance(self, job: FakeJob) -> None:
        """Move the job along the documented states by the time passed since it was created."""
        if job.status in ("SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED"):
            return
        elapsed = time.time() - job.created
        if job.status == "CANCELLATION_REQUESTED":
            if job.cancel_at is not None and time.time() > job.cancel_at:
                self._finish(job, "CANCELLED")
            return
        if elapsed < self.queue_s:
            return
        running = elapsed - self.queue_s
        share = min(1.0, running / self.run_s) if self.run_s else 1.0
        if job.end_status and share >= 1.0:
            self._answer_lines(job, int(len(job.lines) * self.partial))
            self._finish(job, job.end_status)
            return
        self._answer_lines(job, int(len(job.lines) * share))
        if share < 1.0:
            job.status = "RUNNING"
            return
        self._finish(job, "FAILED" if job.lines and job.succeeded == 0 else "SUCCESS")

    def _job_object(self, job: FakeJob) -> dict[str, Any]:
        obj = {"id": job.id, "object": "batch", "input_files": job.input_files, "endpoint": "/v1/ocr",
               "model": job.model, "output_file": job.output_file, "error_file": job.error_file,
               "errors": [{"message": "some requests failed", "count": job.failed}] if job.failed else [],
               "status": job.status, "created_at": int(job.created),
               "started_at": int(job.created + self.queue_s) if job.status != "QUEUED" else None,
               "completed_at": int(time.time()) if job.output_file or job.error_file else None,
               "total_requests": len(job.lines), "completed_requests": job.answered,
               "succeeded_requests": job.succeeded, "failed_requests": job.failed, "metadata": job.metadata}
        BatchJob.model_validate(obj)
        return obj

    # -- for assertions --------------------------------------------------------------------------------------
    def uploaded_custom_ids(self) -> list[str]:
        return [cid for u in self.uploads if u.purpose == "batch" for cid in u.custom_ids]

    def job_custom_ids(self) -> list[str]:
        return [line["custom_id"] for j in self.jobs.values() for line in j.lines]
