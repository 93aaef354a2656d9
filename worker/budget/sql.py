"""The budget's spend in the results database (embedded): table `budget_spend`, one row per key, changed
under its row lock (BEGIN IMMEDIATE on SQLite), so a check and its add are one step for every process."""

from __future__ import annotations

from sqlalchemy import select

from models.db import Database
from models.tables import BudgetSpend

from ..ranges.persist import insert_ignore

__all__ = ["SqlBudget"]


class SqlBudget:
    def __init__(self, db: Database) -> None:
        self.db = db

    def reserve(self, key: str, usd: float, limit_usd: float) -> tuple[bool, float]:
        with self.db.write_session() as session:
            insert_ignore(session, BudgetSpend, [{"key": key, "spent_usd": 0.0}], ["key"])
            row = session.get_one(BudgetSpend, key, with_for_update=True, populate_existing=True)
            before = row.spent_usd
            if before + usd > limit_usd + 1e-9:
                return False, before
            row.spent_usd = before + usd
            return True, before

    def adjust(self, key: str, delta_usd: float) -> None:
        with self.db.write_session() as session:
            insert_ignore(session, BudgetSpend, [{"key": key, "spent_usd": 0.0}], ["key"])
            row = session.get_one(BudgetSpend, key, with_for_update=True, populate_existing=True)
            row.spent_usd = row.spent_usd + delta_usd

    def spent(self, key: str) -> float:
        with self.db.read_session() as session:
            return float(session.scalar(select(BudgetSpend.spent_usd).where(BudgetSpend.key == key)) or 0.0)

    def close(self) -> None:
        pass  # the database belongs to the caller
