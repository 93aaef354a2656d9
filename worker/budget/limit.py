"""A spending limit no process can overrun: `--budget USD` on a job, PAGEMILL_MONTHLY_BUDGET_USD overall.

    budget = build_budget(settings, db)
    charge = budget.reserve(0.032, job_id=7, job_limit_usd=5.0)   # BudgetExceeded when it would not fit
    ...                                                            # send the range
    budget.settle(charge, actual_usd=0.028)                        # what the usage ledger says it cost

Before a range is sent, its worst-case cost (its pages at the rate it is sent at) is *reserved* against every
limit that applies, in one atomic step per limit on shared state, so two workers racing for the last dollars
cannot both get them; afterwards the reservation is settled to what the ledger recorded (a failed request gives
it all back). A reservation that does not fit is refused with nothing written, and the range waits in `held`
(worker/budget/hold.py) with the reason; it goes on once the budget has room (a raised limit, a new month).

State per key ("month:2026-12", "job:17"): Redis (one Lua script: check and add in one step) when the broker is
Redis, as for the rate limiter; otherwise the `budget_spend` table (a row lock; BEGIN IMMEDIATE on SQLite). A
process killed between reserve and settle leaves its reservation counted: the budget errs on the side of not
spending (`pagemill budget` shows the figures).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from models.errors import BudgetExceeded

if TYPE_CHECKING:
    from models.db import Database

    from ..settings import WorkerSettings

__all__ = ["BudgetBackend", "Budget", "Charge", "Limit", "build_budget", "month_key", "job_key"]

_EPS = 1e-9


class BudgetBackend(Protocol):
    def reserve(self, key: str, usd: float, limit_usd: float) -> tuple[bool, float]:
        """Add `usd` to the key's spend if it stays within `limit_usd`; (granted, spend before)."""
        ...

    def adjust(self, key: str, delta_usd: float) -> None: ...

    def spent(self, key: str) -> float: ...

    def close(self) -> None: ...


def month_key(now: datetime | None = None) -> str:
    return f"month:{(now or datetime.now(UTC)):%Y-%m}"


def job_key(job_id: int) -> str:
    return f"job:{job_id}"


@dataclass(frozen=True)
class Limit:
    key: str
    limit_usd: float
    label: str  # "the monthly budget (PAGEMILL_MONTHLY_BUDGET_USD)", "job 7's --budget"


@dataclass
class Charge:
    """What was reserved, on which keys: settled once the range's cost is known."""

    usd: float
    keys: list[str] = field(default_factory=list)
    claimed: bool = False  # batch: the range it was reserved for joined a job


class Budget:
    # how long "no job has a --budget" is believed: the check costs a query, and it would run for every range
    JOB_BUDGETS_RECHECK_S = 5.0

    def __init__(self, backend: BudgetBackend | None, monthly_usd: float | None) -> None:
        self.backend = backend
        self.monthly_usd = monthly_usd if monthly_usd and monthly_usd > 0 else None
        self._no_job_budgets_until = 0.0

    def may_apply(self, db: Database) -> bool:
        """False when no limit can apply to any range (no monthly budget, no job with --budget): the common
        case costs no query per range."""
        if self.monthly_usd is not None:
            return True
        now = time.monotonic()
        if now < self._no_job_budgets_until:
            return False
        from sqlalchemy import select

        from models.tables import Job

        with db.read_session() as s:
            found = s.scalar(select(Job.id).where(Job.options["budget_usd"].as_float().is_not(None)).limit(1))
        if found is None:
            self._no_job_budgets_until = now + self.JOB_BUDGETS_RECHECK_S
            return False
        return True

    def limits(self, job_id: int | None, job_limit_usd: float | None) -> list[Limit]:
        out = []
        if self.monthly_usd is not None:
            out.append(Limit(month_key(), self.monthly_usd, "the monthly budget (PAGEMILL_MONTHLY_BUDGET_USD)"))
        if job_id is not None and job_limit_usd is not None:
            out.append(Limit(job_key(job_id), job_limit_usd, f"job {job_id}'s --budget"))
        return out

    def reserve(self, usd: float, job_id: int | None = None, job_limit_usd: float | None = None) -> Charge:
        """Reserve `usd` against every limit that applies, or raise BudgetExceeded having reserved nothing."""
        charge = Charge(usd)
        if usd <= 0 or self.backend is None:
            return charge
        for limit in self.limits(job_id, job_limit_usd):
            granted, before = self.backend.reserve(limit.key, usd, limit.limit_usd)
            if not granted:
                self.settle(charge, 0.0)  # give back what the other limits granted
                raise BudgetExceeded(
                    f"held: {limit.label} is ${limit.limit_usd:.2f} and ${before:.4f} of it is spent or reserved;"
                    f" this range needs up to ${usd:.4f}. Raise the budget (`pagemill budget`) to let it go on"
                )
            charge.keys.append(limit.key)
        return charge

    def settle(self, charge: Charge, actual_usd: float) -> None:
        """Replace the reservation by what was spent."""
        if self.backend is None:
            return
        delta = actual_usd - charge.usd
        if abs(delta) > _EPS:
            for key in charge.keys:
                self.backend.adjust(key, delta)
        charge.usd = actual_usd

    def has_room(self, usd: float, job_id: int | None = None, job_limit_usd: float | None = None) -> bool:
        """Whether `usd` would fit now (a held range is let go when it does; the send reserves for real)."""
        if self.backend is None:
            return True
        return all(self.backend.spent(lim.key) + usd <= lim.limit_usd + _EPS
                   for lim in self.limits(job_id, job_limit_usd))

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()


def build_budget(settings: WorkerSettings, db: Database) -> Budget:
    """The budget on the shared backend: Redis when the broker is Redis, else the results database."""
    backend: BudgetBackend
    if settings.shared_redis_url is not None:
        from .redis import RedisBudget

        backend = RedisBudget.from_url(settings.shared_redis_url)
    else:
        from .sql import SqlBudget

        backend = SqlBudget(db)
    return Budget(backend, settings.monthly_budget_usd)
