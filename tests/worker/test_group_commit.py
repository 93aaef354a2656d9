"""Group commit: ranges that finish while another is being written are written together, each caller gets its
own answer only once its item is written, and a bad item fails alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from worker.group_commit import GroupCommit


class _Recorder:
    """A write function that records each batch and can hold the first one until released."""

    def __init__(self, hold_first: bool = False, bad: frozenset[str] = frozenset()) -> None:
        self.batches: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()
        self.bad = bad

    def __call__(self, items: Sequence[str]) -> list[str]:
        self.batches.append(list(items))
        self.entered.set()
        self.release.wait(10)
        if self.bad & set(items):
            raise ValueError(f"cannot write {sorted(self.bad & set(items))}")
        return [f"stored {item}" for item in items]


def _commit_in_threads(commit: GroupCommit[str, str], items: list[str]) -> tuple[dict[str, object], list[threading.Thread]]:
    answers: dict[str, object] = {}

    def call(item: str) -> None:
        try:
            answers[item] = commit.commit(item)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            answers[item] = exc

    threads = [threading.Thread(target=call, args=(item,)) for item in items]
    for t in threads:
        t.start()
    return answers, threads


def _wait_queued(commit: GroupCommit[str, str], n: int) -> None:
    deadline = time.monotonic() + 10
    while len(commit._queue) < n:  # the callers are waiting behind the running batch
        assert time.monotonic() < deadline, "callers did not queue"
        time.sleep(0.005)


def test_a_lone_item_is_written_at_once_in_its_own_transaction() -> None:
    write = _Recorder()
    commit = GroupCommit(write)
    assert commit.commit("a") == "stored a"
    assert write.batches == [["a"]]
    assert (commit.batches, commit.items) == (1, 1)


def test_items_finishing_during_a_write_share_the_next_transaction() -> None:
    write = _Recorder(hold_first=True)
    commit = GroupCommit(write)
    first, first_threads = _commit_in_threads(commit, ["a"])
    assert write.entered.wait(5)
    rest, threads = _commit_in_threads(commit, ["b", "c", "d"])
    _wait_queued(commit, 3)
    assert not rest  # nobody returns before its item is written
    write.release.set()
    for t in first_threads + threads:
        t.join(10)
    assert write.batches[0] == ["a"]
    assert sorted(write.batches[1]) == ["b", "c", "d"]
    assert len(write.batches) == 2
    assert {**first, **rest} == {x: f"stored {x}" for x in "abcd"}


def test_a_transaction_holds_at_most_max_batch_items() -> None:
    write = _Recorder(hold_first=True)
    commit = GroupCommit(write, max_batch=2)
    _, first_threads = _commit_in_threads(commit, ["a"])
    assert write.entered.wait(5)
    answers, threads = _commit_in_threads(commit, ["b", "c", "d", "e", "f"])
    _wait_queued(commit, 5)
    write.release.set()
    for t in first_threads + threads:
        t.join(10)
    assert [len(b) for b in write.batches] == [1, 2, 2, 1]
    assert answers == {x: f"stored {x}" for x in "bcdef"}


def test_a_bad_item_fails_alone_and_the_others_are_written() -> None:
    write = _Recorder(hold_first=True, bad=frozenset({"c"}))
    commit = GroupCommit(write)
    _, first_threads = _commit_in_threads(commit, ["a"])
    assert write.entered.wait(5)
    answers, threads = _commit_in_threads(commit, ["b", "c", "d"])
    _wait_queued(commit, 3)
    write.release.set()
    for t in first_threads + threads:
        t.join(10)
    assert answers["b"] == "stored b" and answers["d"] == "stored d"
    assert isinstance(answers["c"], ValueError) and "cannot write ['c']" in str(answers["c"])
    # the shared transaction failed, then each item was written on its own
    assert sorted(write.batches[1]) == ["b", "c", "d"]
    assert sorted(map(tuple, write.batches[2:])) == [("b",), ("c",), ("d",)]


def test_a_lone_failure_reaches_its_caller_and_the_next_item_is_written() -> None:
    commit = GroupCommit(_Recorder(bad=frozenset({"x"})))
    with pytest.raises(ValueError, match="cannot write"):
        commit.commit("x")
    assert commit.commit("y") == "stored y"


def test_many_threads_each_get_their_own_answer() -> None:
    commit = GroupCommit(_Recorder())
    items = [f"item{n}" for n in range(200)]
    answers, threads = _commit_in_threads(commit, items)
    for t in threads:
        t.join(20)
    assert answers == {x: f"stored {x}" for x in items}
    assert commit.items == 200


def test_an_interrupted_writer_does_not_strand_the_waiting_callers() -> None:
    """A BaseException in the writing thread (a task's time limit, a shutdown) still answers its batch and hands
    the queue on: nobody waits for ever."""

    class Stop(BaseException):
        pass

    release = threading.Event()
    entered = threading.Event()

    def write(items: Sequence[str]) -> list[str]:
        entered.set()
        if "boom" in items:
            release.wait(10)
            raise Stop
        return [f"stored {item}" for item in items]

    commit = GroupCommit(write)
    stopped: list[BaseException] = []

    def lead() -> None:
        try:
            commit.commit("boom")
        except Stop as exc:
            stopped.append(exc)

    leader = threading.Thread(target=lead)
    leader.start()
    assert entered.wait(5)
    answers, threads = _commit_in_threads(commit, ["b", "c"])
    _wait_queued(commit, 2)
    release.set()
    for t in [leader, *threads]:
        t.join(10)
        assert not t.is_alive()
    assert len(stopped) == 1
    assert answers == {"b": "stored b", "c": "stored c"}


def test_an_error_that_is_not_an_items_fault_reaches_every_caller_at_once() -> None:
    """The database being away is every item's problem: no retry one by one (each would wait for it again)."""

    class DatabaseAway(Exception):
        pass

    calls: list[list[str]] = []
    entered, release = threading.Event(), threading.Event()

    def write(items: Sequence[str]) -> list[str]:
        calls.append(list(items))
        entered.set()
        release.wait(10)
        raise DatabaseAway("connection refused")

    commit = GroupCommit(write, shared_failure=lambda exc: isinstance(exc, DatabaseAway))
    first, first_threads = _commit_in_threads(commit, ["a"])
    assert entered.wait(5)
    answers, threads = _commit_in_threads(commit, ["b", "c", "d"])
    _wait_queued(commit, 3)
    release.set()
    for t in first_threads + threads:
        t.join(10)
    assert all(isinstance(answer, DatabaseAway) for answer in {**first, **answers}.values())
    assert len({**first, **answers}) == 4
    assert [sorted(c) for c in calls] == [["a"], ["b", "c", "d"]]  # two transactions, no per-item retries
