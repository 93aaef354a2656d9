"""The shared limiter on every backend: SQL on SQLite (the embedded default) and on PostgreSQL (its server clock
and row lock), and real Redis."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from models.db import Database
from models.errors import RateLimited
from models.settings import DatabaseSettings
from models.tables import RateLimitState
from worker.ratelimit.limiter import RateLimiter, build_limiter
from worker.settings import WorkerSettings

Factory = Callable[..., RateLimiter]


def _sql_database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, data_dir: Path,
                  dialect: str) -> Database:
    """The results database the SQL limiter will find through the settings (and so will child processes)."""
    if dialect == "postgresql":
        monkeypatch.setenv("PAGEMILL_DATABASE_URL", request.getfixturevalue("postgres_url"))
    db = Database.from_settings(DatabaseSettings(data_dir=data_dir))
    db.migrate()
    assert db.is_sqlite == (dialect == "sqlite")
    return db


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def make_limiter(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Factory:
    """build_limiter(...) on the backend under test; picklable settings so child processes can build one."""
    if request.param == "redis":
        settings = WorkerSettings(data_dir=data_dir, broker_url=request.getfixturevalue("redis_url"))
    else:
        _sql_database(request, monkeypatch, data_dir, request.param).dispose()
        settings = WorkerSettings(data_dir=data_dir)

    def make(**kw: object) -> RateLimiter:
        return build_limiter(settings, **kw)  # type: ignore[arg-type]

    make.settings = settings  # type: ignore[attr-defined]
    return make


def _max_in_window(times: list[float], window_s: float = 1.0) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window_s:
            j += 1
        best = max(best, i - j + 1)
    return best


def _max_overlap(spans: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    cur = best = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


def _hammer(settings: WorkerSettings, name: str, rate: float, inflight: int, threads: int, per_thread: int,
            hold_s: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    limiter = build_limiter(settings, name=name, rate_per_s=rate, max_inflight=inflight)
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(per_thread):
            with limiter.slot():
                start = time.time()
                time.sleep(hold_s)
                with lock:
                    spans.append((start, time.time()))

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    limiter.close()
    out.put(spans)


def test_requests_are_spaced_evenly_at_the_rate(make_limiter: Factory) -> None:
    limiter = make_limiter(name="spacing", rate_per_s=20, max_inflight=50)
    times: list[float] = []

    def work() -> None:
        for _ in range(5):
            with limiter.slot():
                times.append(time.time())

    pool = [threading.Thread(target=work) for _ in range(6)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert len(times) == 30
    assert max(times) - min(times) >= 29 / 20 * 0.7  # no burst: 30 requests take ~1.45 s at 20/s
    assert _max_in_window(times) <= 21


@pytest.mark.slow
def test_processes_and_threads_together_stay_within_rate_and_inflight(make_limiter: Factory) -> None:
    ctx = mp.get_context("fork")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    args = (make_limiter.settings, "multi", 25.0, 3, 4, 6, 0.08, out)  # type: ignore[attr-defined]
    procs = [ctx.Process(target=_hammer, args=args) for _ in range(3)]
    started = time.time()
    for p in procs:
        p.start()
    spans = [s for _ in procs for s in out.get(timeout=60)]
    for p in procs:
        p.join(10)
    assert len(spans) == 3 * 4 * 6
    assert _max_overlap(spans) <= 3
    assert _max_in_window([s for s, _ in spans]) <= 26
    # 72 requests at 25/s need ~2.9 s; the limiter should not waste much more than that
    assert time.time() - started >= 71 / 25 * 0.7


def test_a_wait_over_the_maximum_raises_without_reserving(make_limiter: Factory) -> None:
    limiter = make_limiter(name="slow", rate_per_s=0.5, max_inflight=5, max_wait_s=1.0)
    limiter.release(limiter.acquire())
    for _ in range(3):  # refused attempts reserve nothing: the wait stays ~2 s, it does not grow
        with pytest.raises(RateLimited, match="rate limit of 0.5 requests/s") as err:
            limiter.acquire()
        assert 1.0 < (err.value.retry_after_s or 0) <= 2.0 / 0.97  # paced at the default share of the rate


def _hold_and_die(settings: WorkerSettings) -> None:
    limiter = build_limiter(settings, name="lease", rate_per_s=100, max_inflight=1, lease_s=1.0)
    limiter.acquire()
    os._exit(0)  # never releases: a worker killed mid-request


def test_a_dead_workers_slot_comes_back_when_its_lease_expires(make_limiter: Factory) -> None:
    ctx = mp.get_context("fork")
    child = ctx.Process(target=_hold_and_die, args=(make_limiter.settings,))  # type: ignore[attr-defined]
    child.start()
    child.join(20)
    limiter = make_limiter(name="lease", rate_per_s=100, max_inflight=1, lease_s=1.0, max_wait_s=0.3)
    with pytest.raises(RateLimited, match="request slots stayed busy"):
        limiter.acquire()
    limiter = make_limiter(name="lease", rate_per_s=100, max_inflight=1, lease_s=1.0, max_wait_s=5)
    started = time.monotonic()
    with limiter.slot():
        pass
    assert time.monotonic() - started < 3


def test_a_cooldown_pauses_every_limiter_sharing_the_name(make_limiter: Factory) -> None:
    one = make_limiter(name="cool", rate_per_s=100, max_inflight=4)
    two = make_limiter(name="cool", rate_per_s=100, max_inflight=4)
    other = make_limiter(name="vision", rate_per_s=100, max_inflight=4)
    one.cool_down(0.6)
    started = time.monotonic()
    with other.slot():  # separate keys: not slowed
        assert time.monotonic() - started < 0.3
    with two.slot():
        assert time.monotonic() - started >= 0.55
    one.cool_down(120)
    with pytest.raises(RateLimited, match="slow down") as err:
        two.acquire()
    assert 100 < (err.value.retry_after_s or 0) <= 120


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_sql_state_is_a_readable_row(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                                         data_dir: Path, dialect: str) -> None:
    db = _sql_database(request, monkeypatch, data_dir, dialect)
    limiter = build_limiter(WorkerSettings(data_dir=data_dir), name="ocr", rate_per_s=2, max_inflight=3)
    token = limiter.acquire()
    limiter.cool_down(0.01)
    with db.read_session() as s:
        row = s.get_one(RateLimitState, "ocr")
        assert row.inflight == 1 and row.tat > time.time() and row.cooldown_until > 0
        assert len(s.scalars(select(RateLimitState.key).where(RateLimitState.key.like("ocr#lease#%"))).all()) == 1
    limiter.release(token)
    with db.read_session() as s:
        assert s.scalars(select(RateLimitState.key).where(RateLimitState.key.like("ocr#lease#%"))).all() == []


def test_a_near_miss_429_slows_every_worker_in_proportion(make_limiter: Factory) -> None:
    one = make_limiter(name="near", rate_per_s=10, max_inflight=8, share=1.0)
    two = make_limiter(name="near", rate_per_s=10, max_inflight=8, share=1.0)
    started = time.monotonic()  # the first slot is now, the next one 0.1 s later
    one.release(one.acquire())
    reserved = two.backend.try_acquire(two.cfg, "reserved-before")  # a worker already sleeping to its slot
    assert reserved.granted
    one.slow_down(1.0)  # a 429 with Retry-After: 1, as a server's per-second window sends
    assert two.backend.cooldown_remaining(two.cfg) == 0  # not a full pause of everyone...
    assert two._sleep_to_slot(reserved)  # ...but the slot reserved before the 429 moves back one interval
    # timed from the first slot (the calls in between take their own time, on PostgreSQL a few round trips): at
    # least two intervals, and well short of the 1 s a full pause would take (a slow machine adds to it)
    assert 0.1 + 0.1 <= time.monotonic() - started + 0.02 < 0.9
    two.release("reserved-before")
    times = []
    for _ in range(3):  # and the pace after it is ~10 % slower, recovering within about a second
        with two.slot():
            times.append(time.monotonic())
    assert 0.1 * 2 <= times[-1] - times[0] < 0.9


def test_429s_in_a_row_or_a_long_retry_after_pause_everyone(make_limiter: Factory) -> None:
    one = make_limiter(name="burst429", rate_per_s=100, max_inflight=8)
    two = make_limiter(name="burst429", rate_per_s=100, max_inflight=8)
    for _ in range(4):  # the configured rate is above the server's: 429 after 429 (the 4th pauses everyone)
        one.slow_down(2.0)
    assert 1.0 < two.backend.cooldown_remaining(two.cfg) <= 2.0
    three = make_limiter(name="long429", rate_per_s=100, max_inflight=8, max_wait_s=1)
    three.slow_down(60)  # a quota window: the server wants a real pause
    with pytest.raises(RateLimited, match="slow down") as err:
        three.acquire()
    assert 55 < (err.value.retry_after_s or 0) <= 60


def test_no_limit_configured_costs_no_shared_state_call(make_limiter: Factory) -> None:
    limiter = make_limiter(name="free", rate_per_s=0, max_inflight=0)
    calls: list[str] = []
    real = limiter.backend.try_acquire
    limiter.backend.try_acquire = lambda *a: calls.append("acquire") or real(*a)  # type: ignore[method-assign]
    started = time.monotonic()
    for _ in range(200):
        with limiter.slot():
            pass
    assert calls == [] and time.monotonic() - started < 5
    limiter.cool_down(0.5)  # a 429 still pauses the unlimited limiter
    started = time.monotonic()
    with limiter.slot():
        assert time.monotonic() - started >= 0.4
