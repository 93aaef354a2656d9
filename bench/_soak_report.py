"""The soak's count: what the database holds against what was fed and what the fake API billed, printed as the
summary (files fed; documents done, failed with a reason, lost; pages stored or billed twice; stuck ranges;
fields; faults; RSS; pages/s before, during and after faults). The verdict is PASS only with nothing lost."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict

from _soak_api import SoakApi
from _soak_faults import Fault, FaultRunner
from _soak_files import Fed
from _soak_hooks import HookReceiver
from _soak_procs import RedisServer, Supervisor
from _soak_setup import Run
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.tables import Document, FieldsRow, Page, PageRange, Usage

__all__ = ["drained", "events_missing", "report", "stored_pages"]


def stored_pages(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(Page)) or 0


def drained(run: Run, engine) -> tuple[bool, str]:  # type: ignore[no-untyped-def]
    shas = {f.sha256 for f in run.fed}
    with Session(engine) as s:
        docs = dict(s.execute(select(Document.sha256, Document.status)).all())
        open_ranges = s.scalar(select(func.count()).select_from(PageRange)
                               .where(PageRange.status.in_(["queued", "running"]))) or 0
    missing = [x for x in shas if x not in docs]
    unfinished = [x for x in shas if docs.get(x) in ("queued", "running")]
    ok = not missing and not unfinished and open_ranges == 0
    msg = (f"{len(missing)} fed files not registered, {len(unfinished)} documents unfinished, "
           f"{open_ranges} ranges queued/running")
    return ok, msg


def events_missing(run: Run, engine, hooks: HookReceiver) -> list[str]:  # type: ignore[no-untyped-def]
    """Fed documents that finished (done, partial, failed) whose document.<status> event never arrived."""
    shas = {f.sha256 for f in run.fed}
    with Session(engine) as s:
        rows = s.execute(select(Document.id, Document.sha256, Document.status)
                         .where(Document.status.in_(["done", "partial", "failed"]))).all()
    got = hooks.finished()
    return [f"doc {doc_id} ({status})" for doc_id, sha, status in rows
            if sha in shas and f"document.{status}" not in got.get(doc_id, set())]


def report(run: Run, engine, api: SoakApi, sup: Supervisor, redis_srv: RedisServer, faults: list[Fault],  # type: ignore[no-untyped-def]
           runner: FaultRunner | None, t_feed: tuple[float, float], drain_ok: bool, drain_msg: str,
           redis_peak: int, hooks: HookReceiver) -> int:
    by_sha: dict[str, list[Fed]] = defaultdict(list)
    for f in run.fed:
        by_sha[f.sha256].append(f)
    with Session(engine) as s:
        docs = {d.sha256: d for d in s.scalars(select(Document))}
        pages = Counter(s.execute(select(Page.document_id, Page.page_index)).all())
        ledger = defaultdict(int)
        for doc_id, n in s.execute(select(Usage.document_id, func.sum(Usage.pages_processed))
                                   .where(Usage.kind.in_(["ocr", "annotation"])).group_by(Usage.document_id)).all():
            ledger[doc_id] = int(n or 0)
        stuck = s.execute(select(PageRange.status, func.count()).where(PageRange.status.in_(["queued", "running"]))
                          .group_by(PageRange.status)).all()
        fields = {(r.document_id) for r in s.scalars(select(FieldsRow).where(FieldsRow.status == "done"))}
        field_rows = {r.document_id: r for r in s.scalars(select(FieldsRow))}
    billed = api.billed()

    status = Counter()
    lost: list[str] = []
    unreadable: list[str] = []
    unexpected: list[str] = []
    fields_missing: list[str] = []
    ledger_over = 0
    for sha, feds in by_sha.items():
        first = feds[0]
        doc = docs.get(sha)
        if doc is None:
            lost.append(f"{first.name} ({first.how}): never registered")
            continue
        status[doc.status] += 1
        if doc.status in ("queued", "running"):
            lost.append(f"{first.name} doc {doc.id}: still {doc.status} after the drain")
            continue
        if doc.status in ("failed", "partial") and not (doc.error and doc.error.strip()):
            unreadable.append(f"{first.name} doc {doc.id}: {doc.status} without a reason")
        if first.expect == "done":
            got = {i for (d, i), _ in pages.items() if d == doc.id}
            if doc.status == "done" and len(got) != first.pages:
                lost.append(f"{first.name} doc {doc.id}: done with {len(got)} of {first.pages} pages")
            if doc.status != "done":
                unexpected.append(f"{first.name} doc {doc.id}: {doc.status} [{doc.error_code}] {doc.error}")
            if ledger[doc.id] > first.pages:
                ledger_over += ledger[doc.id] - first.pages
            if doc.status == "done" and any(f.how == "submit --schema" for f in feds) and doc.id not in fields:
                row = field_rows.get(doc.id)
                fields_missing.append(f"{first.name} doc {doc.id}: "
                                      + (f"fields {row.status} {row.error}" if row else "no fields row"))
        elif doc.status != "failed":
            unexpected.append(f"{first.name} doc {doc.id}: a bad file ended {doc.status}")
    stored_twice = sum(n - 1 for n in pages.values() if n > 1)
    # a document whose content was never fed: a file registered before it was whole (the watcher killed mid-copy)
    strays = [f"doc {d.id} {d.filename}: {d.status}, {d.page_count} pages"
              for sha, d in docs.items() if sha not in by_sha and sha not in {f.sha256 for f in run.not_accepted}]

    # billing: the fake's log against the ledger
    expected_keys = {k for f in run.fed for k in f.keys}
    provider_twice = {k: n for k, n in billed.items() if n > 1}
    unknown_keys = [k for k in billed if k not in expected_keys]
    kills = [f.started for f in faults if f.kind == "kill_worker" and f.started]
    explained, unexplained = 0, []
    for k, n in sorted(provider_twice.items()):
        times = sorted(b.at for b in api.bills if k in b.keys)
        # a page billed, then its worker killed before it stored the answer: the provider bills it again
        near_kill = sum(1 for t in times[:-1] if any(0 <= kt - t <= 45 for kt in kills))
        explained += min(near_kill, n - 1)
        if n - 1 > near_kill:
            unexplained.append(f"page {k} billed {n}x at " + ", ".join(time.strftime('%H:%M:%S', time.localtime(t))
                                                                       for t in times))
    ledger_total = sum(ledger.values())
    # per file: pages the provider billed (its log) against the pages the ledger recorded
    unrecorded: list[str] = []
    for sha, feds in by_sha.items():
        doc = docs.get(sha)
        if doc is None or not feds[0].keys:
            continue
        at_provider = sum(billed.get(k, 0) for k in feds[0].keys)
        if at_provider > ledger[doc.id]:
            unrecorded.append(f"{feds[0].name} doc {doc.id}: provider billed {at_provider}, ledger {ledger[doc.id]}")
    provider_total = sum(billed.values())

    # throughput: before the first fault; from it to the end of feeding (faults on and off, recoveries);
    # the drain after feeding, every fault ended
    windows = runner.windows() if runner else []
    first_fault = min((a for a, _ in windows), default=None)
    phases: dict[str, list[float]] = {"before": [0, 0], "during": [0, 0], "after": [0, 0]}
    for (t1, p1), (t2, p2) in zip(run.timeline, run.timeline[1:]):
        mid = (t1 + t2) / 2
        phase = "after" if mid >= t_feed[1] else "before" if first_fault is None or mid < first_fault else "during"
        phases[phase][0] += p2 - p1
        phases[phase][1] += t2 - t1

    def rate(phase: str) -> str:
        pages_, secs = phases[phase]
        return f"{pages_ / secs:5.2f} pages/s over {secs:4.0f} s" if secs else "   -"

    print("\n" + "=" * 100)
    print(f"SOAK SUMMARY  seed {run.args.seed}  feeding {run.args.minutes} min  faults {run.args.faults}  "
          f"(a 2-core machine shared with other work: figures are from a loaded machine)")
    print("=" * 100)
    kinds = Counter(f.kind for f in run.fed)
    hows = Counter(f.how for f in run.fed)
    print(f"files fed            {len(run.fed)} ({len(by_sha)} distinct contents)  "
          + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    print("  by way             " + ", ".join(f"{k} {v}" for k, v in sorted(hows.items())))
    if run.not_accepted:
        print(f"  never accepted     {len(run.not_accepted)} (submit failed every time: the user was told)")
    print(f"  submit retries     {len(run.submit_failures)}")
    print("documents            " + ", ".join(f"{k} {v}" for k, v in sorted(status.items())))
    failed_ok = sum(1 for sha, feds in by_sha.items() if feds[0].expect == "failed" and docs.get(sha) is not None
                    and docs[sha].status == "failed" and docs[sha].error)
    print(f"  bad files failed with a readable reason: {failed_ok}")
    print(f"  LOST               {len(lost)}")
    for x in lost[:20]:
        print(f"    - {x}")
    print(f"  good files not done (failed/partial, readable, but every fault was temporary): {len(unexpected)}")
    for x in unexpected[:10]:
        print(f"    - {x}")
    print(f"  failed without a reason: {len(unreadable)}")
    for x in unreadable[:10]:
        print(f"    - {x}")
    print(f"documents never fed  {len(strays)} (a file registered before it was whole)")
    for x in strays[:10]:
        print(f"    - {x}")
    print(f"pages stored twice   {stored_twice}")
    print(f"pages billed         provider {provider_total} (sync+batch), ledger {ledger_total}, "
          f"fed good pages {len(expected_keys)}")
    print(f"  billed twice by the provider: {sum(n - 1 for n in provider_twice.values())} "
          f"({explained} right after a kill -9 of a worker, {len(unexplained)} pages unexplained)")
    for x in unexplained[:10]:
        print(f"    - {x}")
    print(f"  recorded twice in the ledger (over the page count): {ledger_over}")
    print(f"  files billed by the provider beyond the ledger (answers paid for, not recorded): {len(unrecorded)}")
    for x in unrecorded[:10]:
        print(f"    - {x}")
    if unknown_keys:
        print(f"  billed pages the feeder never fed: {len(unknown_keys)} e.g. {unknown_keys[:5]}")
    print("ranges stuck         " + (", ".join(f"{st} {n}" for st, n in stuck) or "0")
          + f"  (drain: {'ok' if drain_ok else 'TIMED OUT'}; {drain_msg})")
    print(f"fields missing       {len(fields_missing)}")
    for x in fields_missing[:10]:
        print(f"    - {x}")
    missing_events = events_missing(run, engine, hooks)
    print(f"events missing       {len(missing_events)} (document.done/partial/failed never delivered); received "
          + ", ".join(f"{k} {v}" for k, v in sorted(hooks.kinds().items()))
          + f"; {hooks.deliveries} deliveries, {hooks.dropped} dropped while away, {hooks.bad_signatures} bad signatures")
    for x in missing_events[:10]:
        print(f"    - {x}")
    print("faults injected      " + (", ".join(f"{k} {v}" for k, v in
                                              sorted(Counter(f.kind for f in faults if f.started).items())) or "none"))
    print("API answers          " + ", ".join(f"{k} {v}" for k, v in sorted(api.status_counts.items()))
          + f"; batch jobs {len(api.jobs)}")
    print("peak RSS             " + ", ".join(f"{p.name} {p.peak_rss_kb / 1024:.0f} MB" for p in sup.procs.values())
          + f", redis {redis_peak / 1024:.0f} MB")
    print("restarts             " + ", ".join(f"{p.name} {p.starts - 1} (killed {p.deaths}, crashed {p.crashes})"
                                               for p in sup.procs.values()) + f", redis {redis_srv.restarts}")
    print(f"throughput           before faults {rate('before')}; while faults came {rate('during')}; "
          f"drain after them {rate('after')}")
    print(f"logs                 {run.work}")
    problems = len(lost) + len(strays) + len(missing_events) + hooks.bad_signatures \
        + stored_twice + len(unexplained) + ledger_over + sum(n for _, n in stuck) \
        + len(unreadable) + len(fields_missing) + len(unexpected)
    verdict = "PASS" if problems == 0 and drain_ok else "FAIL"
    print(f"verdict              {verdict}")
    (run.work / "fed.json").write_text(json.dumps([f.to_json() for f in run.fed], indent=1))
    (run.work / "faults.json").write_text(json.dumps([f.__dict__ for f in faults], indent=1))
    return 0 if verdict == "PASS" else 1
