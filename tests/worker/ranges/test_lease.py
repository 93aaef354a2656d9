"""A live worker keeps its ranges' leases alive however long the provider takes; it never claims back a range
that stopped being its own."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from models.db import Database
from models.settings import DatabaseSettings
from models.tables import PageRange, RangeStatus
from scheduler.launch.submit import submit
from tests.e2e._faults import fault_env, make_pdf
from tests.fakes.slow import SlowFakeProvider
from worker.objects.folder import FolderStore
from worker.ranges.lease import LeaseKeeper
from worker.ranges.run import run_range
from worker.settings import WorkerSettings

LEASE_S = 0.6  # renewed every 0.2 s


def _aware(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts


def _lease(db: Database, range_id: int) -> tuple[str, datetime | None]:
    with db.read_session() as s:
        row = s.execute(select(PageRange.status, PageRange.lease_expires_at).where(PageRange.id == range_id)).one()
        return row[0], _aware(row[1])


@pytest.fixture
def two_ranges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Database, list[int]]:
    fault_env(monkeypatch, PAGEMILL_TEST_PAGE_DELAY_S="0.5")  # 4 pages: 2 s per range, over three leases
    job = submit([make_pdf(tmp_path / "a.pdf", 8, seed=3)], pages_per_task=4, wait=False, start_workers=False)
    db = Database.from_settings(DatabaseSettings())
    with db.read_session() as s:
        ids = list(s.scalars(select(PageRange.id).where(PageRange.document_id == job.document_ids[0])
                             .order_by(PageRange.seq)))
    return db, ids


def test_one_keeper_renews_every_running_range_of_the_process(two_ranges: tuple[Database, list[int]]) -> None:
    db, ids = two_ranges
    objects = FolderStore(WorkerSettings().objects_dir)
    keeper = LeaseKeeper(db, LEASE_S)
    outcomes: dict[int, str] = {}

    def work(rid: int) -> None:
        outcomes[rid] = run_range(db, objects, SlowFakeProvider(0.5), rid, lease_s=LEASE_S, leases=keeper).status

    threads = [threading.Thread(target=work, args=(rid,)) for rid in ids]
    for t in threads:
        t.start()
    time.sleep(1.2)  # two lease lengths into the work: without renewals both leases would have run out
    now = datetime.now(UTC)
    for rid in ids:
        status, until = _lease(db, rid)
        assert status == RangeStatus.running
        assert until is not None and until > now, "a running range's lease ran out while its worker lived"
    for t in threads:
        t.join(30)
    keeper.close()
    assert outcomes == {rid: "done" for rid in ids}
    assert [_lease(db, rid) for rid in ids] == [(RangeStatus.done, None)] * 2


def test_a_range_cancelled_while_running_is_not_claimed_back(two_ranges: tuple[Database, list[int]]) -> None:
    db, ids = two_ranges
    rid = ids[0]
    objects = FolderStore(WorkerSettings().objects_dir)
    keeper = LeaseKeeper(db, LEASE_S)
    worker = threading.Thread(
        target=run_range, args=(db, objects, SlowFakeProvider(0.5), rid),
        kwargs={"lease_s": LEASE_S, "leases": keeper},
    )
    worker.start()
    time.sleep(0.5)
    with db.write_session() as s:
        s.execute(update(PageRange).where(PageRange.id == rid)
                  .values(status=RangeStatus.cancelled, lease_expires_at=None))
    time.sleep(0.5)  # two renewal beats
    assert _lease(db, rid) == (RangeStatus.cancelled, None)
    worker.join(30)
    keeper.close()
    assert _lease(db, rid)[0] == RangeStatus.cancelled
