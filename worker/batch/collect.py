"""A batch job at the provider: polled with backoff, and once it ends its answers stored.

Answers are stored through the synchronous path (worker/ranges/persist.py prepare_result, then
worker/ranges/store.py store_prepared): images into the object store, pages/images/usage rows in one
transaction with the range marked done, the usage at the batch rate. Only a range still held by the job, at the
attempt the line names, is stored, so a line read twice
(a collector killed halfway, an output downloaded again) adds nothing.

Every terminal status is collected: SUCCESS, FAILED, TIMEOUT_EXCEEDED and CANCELLED keep whatever the output
file holds, and each range without a usable answer (an error line, a malformed line, an answer that is not an
OCRResponse, no line at all, an output file that cannot be downloaded) goes back for another attempt
(batch_ranges.give_back). A line with a custom_id that is not one of the job's is logged and ignored.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from models.db import Database
from models.errors import ErrorCode, MalformedResponse, PagemillError, ProviderAuthError
from models.outbox import batch_job_finished
from models.tables import BatchJob, BatchJobRange, BatchStatus, Document, PageRange

from ..extraction.annotation import fields_row, range_annotation
from ..objects.store import ObjectStore
from ..providers.mistral import combine
from ..providers.mistral_response import ParsedResponse, parse_response
from ..ranges.persist import insert_prepared, prepare_result
from ..ranges.store import store_prepared
from ..settings import WorkerSettings
from .client import BatchClient, remote_state
from .jsonl import OutputLine, line_annotation, parse_custom_id, read_lines
from .ranges import Member, give_back, members, owned, take_job

__all__ = ["CollectReport", "poll", "collect", "PROVIDER_NAME"]

log = logging.getLogger("pagemill.batch")

PROVIDER_NAME = "mistral"
_DOWNLOAD_TRIES = 3  # an output file that still cannot be downloaded: its ranges are retried


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts


def _next_poll(settings: WorkerSettings, polls: int) -> datetime:
    wait = min(settings.batch_poll_max_s, settings.batch_poll_min_s * (1.5 ** min(polls, 40)))
    return _now() + timedelta(seconds=wait * random.uniform(0.9, 1.1))


def poll(db: Database, client: BatchClient, settings: WorkerSettings, job_id: int) -> str:
    """Ask the provider how the job stands and record it; returns its status."""
    with db.read_session() as s:
        job = s.get_one(BatchJob, job_id)
        remote_id, polls, status = job.provider_job_id, job.polls, job.status
        submitted, hours = _aware(job.submitted_at), job.timeout_hours
    assert remote_id is not None
    try:
        remote = client.get_job(remote_id)
    except PagemillError as err:
        # the job lives on at the provider whatever this answer was: keep polling, slower, and say why
        level = logging.ERROR if isinstance(err, ProviderAuthError) else logging.WARNING
        log.log(level, "batch job %d (%s): polling failed: %s", job_id, remote_id, err.message)
        with db.write_session() as s:
            s.execute(update(BatchJob).where(BatchJob.id == job_id).values(
                error=f"polling failed: {err.message}", error_code=err.code, polls=polls + 1,
                next_poll_at=_next_poll(settings, polls + 3)))
        return status
    values: dict[str, object] = {
        **remote_state(remote), "polls": polls + 1, "next_poll_at": _next_poll(settings, polls),
        "error": "; ".join(remote.errors)[:2000] or None, "error_code": None,
    }
    if remote.status in BatchStatus.TERMINAL:
        values["finished_at"] = _now()
    elif submitted is not None and _now() > submitted + timedelta(hours=hours, minutes=30):
        late = (_now() - submitted - timedelta(hours=hours)).total_seconds() / 3600
        values["error"] = f"still {remote.status} {late:.1f} h past its {hours} h timeout (provider job {remote_id})"
        log.warning("batch job %d: %s", job_id, values["error"])
    with db.write_session() as s:
        s.execute(update(BatchJob).where(BatchJob.id == job_id).values(**values))
    if remote.status != status:
        _count_job(remote.status)
    return remote.status


def _count_job(status: str) -> None:
    try:
        from ..metrics import METRICS

        METRICS.batch_jobs.labels(status).inc()
    except Exception:
        pass


def _count_lines(outcome: str, n: int = 1) -> None:
    try:
        from ..metrics import METRICS

        if n:
            METRICS.batch_lines.labels(outcome).inc(n)
    except Exception:
        pass


@dataclass
class CollectReport:
    stored: list[int] = field(default_factory=list)  # ranges stored
    retried: list[int] = field(default_factory=list)  # ranges given back for another attempt
    failed: list[int] = field(default_factory=list)  # ranges out of attempts
    sync: list[int] = field(default_factory=list)  # of `retried`: to be sent synchronously (fallback sync)
    bad_lines: int = 0  # malformed or unknown lines
    deferred: bool = False  # the output could not be downloaded this time: collected later


def _download(client: BatchClient, file_id: str | None) -> tuple[list[OutputLine], int]:
    if not file_id:
        return [], 0
    lines, bad = [], 0
    for item in read_lines(client.download(file_id)):
        if isinstance(item, MalformedResponse):
            log.warning("batch output: %s; the line is ignored and its range retried", item.message)
            bad += 1
        else:
            lines.append(item)
    return lines, bad


def collect(db: Database, objects: ObjectStore, client: BatchClient, settings: WorkerSettings, job_id: int,
            me: str) -> CollectReport:
    """Store a terminal job's answers and give back the ranges without one; marks the job collected."""
    report = CollectReport()
    if not take_job(db, job_id, me):
        return report
    with db.read_session() as s:
        job = s.get_one(BatchJob, job_id)
        token, model, status = job.token, job.model, job.status
        files = (job.output_file_id, job.error_file_id)
        mems = {m.range_id: m for m in members(s, job_id) if m.outcome == "pending"}
    answers: dict[tuple[int, int], bytes] = {}
    errors: dict[int, str] = {}
    default_error = f"the batch job ended {status} without an answer for this range"
    try:
        for file_id in files:
            lines, bad = _download(client, file_id)
            report.bad_lines += bad
            for line in lines:
                ids = parse_custom_id(line.custom_id)
                m = mems.get(ids[0]) if ids else None
                if ids is None or m is None or ids[1] != m.attempt or not 0 <= ids[2] < len(m.parts):
                    log.warning("batch job %d: a line with custom_id %r is not one of its requests; ignored",
                                job_id, str(line.custom_id)[:80])
                    report.bad_lines += 1
                    continue
                if line.body is not None:
                    answers[(ids[0], ids[2])] = line.body
                else:
                    errors[ids[0]] = f"the Batch API: {line.error}"
    except PagemillError as err:
        if err.retryable and _defer(db, job_id, err):
            report.deferred = True
            return report
        log.warning("batch job %d: its results could not be downloaded (%s); its ranges are retried",
                    job_id, err.message)
        default_error = f"the batch job's results could not be downloaded: {err.message}"
    _count_lines("bad", report.bad_lines)
    for rid, m in sorted(mems.items()):
        _settle_member(db, objects, settings, token, model, m, answers, errors.get(rid) or default_error, report)
    with db.write_session() as s:
        s.execute(update(BatchJob).where(BatchJob.id == job_id).values(collected_at=_now(), collector=None))
        batch_job_finished(s, job_id, len(report.stored), len(report.retried), len(report.failed))  # its event
    log.info("batch job %d collected: %d ranges stored, %d retried, %d failed", job_id, len(report.stored),
             len(report.retried), len(report.failed))
    return report


def _defer(db: Database, job_id: int, err: PagemillError) -> bool:
    """Try the download again at a later tick, up to _DOWNLOAD_TRIES times; False once they are used."""
    with db.write_session() as s:
        job = s.get_one(BatchJob, job_id)
        failures = (job.error or "").count("download failed")
        if failures >= _DOWNLOAD_TRIES:
            return False
        job.error = ((job.error + "; ") if job.error else "") + f"download failed: {err.message}"
        job.collector, job.next_poll_at = None, _now() + timedelta(seconds=2 ** failures)
    log.warning("batch job %d: its results could not be downloaded (%s); trying again", job_id, err.message)
    return True


def _settle_member(db: Database, objects: ObjectStore, settings: WorkerSettings, token: str, model: str, m: Member,
                   answers: dict[tuple[int, int], bytes], error: str, report: CollectReport) -> None:
    parsed: list[ParsedResponse] = []
    for part, pages in enumerate(m.parts):
        body = answers.get((m.range_id, part))
        if body is None:
            continue
        try:
            parsed.append(parse_response(body, pages, PROVIDER_NAME))
        except MalformedResponse as err:
            log.warning("range %d: its batch answer is not a usable OCRResponse: %s", m.range_id, err.message)
            error = f"the batch answer was not a usable OCRResponse: {err.message}"
    price, annotated_price = settings.batch_price / 1000, settings.annotated_batch_price / 1000
    with db.read_session() as s:
        mine = owned(s.get(PageRange, m.range_id), token, m.attempt)
        doc = s.get(Document, m.document_id)
        # the annotation the lines asked for (batch_submit), for the annotated rate and the fields row
        annotation = line_annotation(range_annotation(s.connection(), doc.options if doc else None, m), len(m.parts))
    if parsed and len(parsed) == len(m.parts) and mine:
        result = combine(parsed, model, annotated=annotation is not None)
        prepared = prepare_result(objects, m.document_id, m.range_id, PROVIDER_NAME, result,
                                  price, billing="batch", annotated_cost_per_page_usd=annotated_price)
        prepared.fields = fields_row(m.document_id, annotation, result)
        store_prepared(db, m.range_id, m.document_id, prepared)
        with db.write_session() as s:
            s.get_one(BatchJobRange, m.link_id).outcome = "stored"
        report.stored.append(m.range_id)
        _count_lines("stored", len(m.parts))
        return
    with db.write_session() as s:
        link = s.get_one(BatchJobRange, m.link_id)
        if parsed and mine:
            # parts answered (and billed) before the rest failed: keep them, the next attempt sends the rest
            prepared = prepare_result(objects, m.document_id, m.range_id, PROVIDER_NAME,
                                      combine(parsed, model, annotated=annotation is not None), price,
                                      billing="batch", annotated_cost_per_page_usd=annotated_price)
            insert_prepared(s, prepared)
        outcome = give_back(s, settings, token, link, ErrorCode.provider, error)
    _count_lines("failed", len(m.parts) - len(parsed))
    if outcome == "retried":
        report.retried.append(m.range_id)
        if settings.batch_fallback == "sync":
            report.sync.append(m.range_id)
    elif outcome == "failed":
        report.failed.append(m.range_id)
