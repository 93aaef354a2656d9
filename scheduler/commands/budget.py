"""`pagemill budget`: what the budgets allow, what is spent or reserved, and raising a job's budget."""

from __future__ import annotations

from typing import Annotated

import typer

from ..console import cli_errors, console

__all__ = ["register"]


def budget(
    job: Annotated[int | None, typer.Option("--job", help="A job id (from run/submit).", show_default=False)] = None,
    set_usd: Annotated[
        float | None,
        typer.Option("--set", min=0, help="With --job: its new budget in USD; held ranges that fit go on at the"
                     " next sweep (or `pagemill retry`).", show_default=False),
    ] = None,
) -> None:
    """Spend (USD, reserved or billed) against PAGEMILL_MONTHLY_BUDGET_USD and each job's --budget."""
    from sqlalchemy import func, select

    from models.db import Database
    from models.errors import ConfigError
    from models.tables import Job, PageRange, RangeStatus
    from worker.budget.limit import build_budget, job_key, month_key
    from worker.settings import WorkerSettings

    with cli_errors():
        settings = WorkerSettings()
        db = Database.from_settings()
        db.migrate()
        if set_usd is not None:
            if job is None:
                raise ConfigError("--set needs --job; the monthly budget is PAGEMILL_MONTHLY_BUDGET_USD")
            with db.write_session() as s:
                row = s.get(Job, job)
                if row is None:
                    raise ConfigError(f"no job {job}")
                row.options = {**(row.options or {}), "budget_usd": set_usd}
            console.print(f"job {job}: budget ${set_usd:.2f}")
        b = build_budget(settings, db)
        try:
            monthly = f"${b.monthly_usd:.2f}" if b.monthly_usd is not None else "none"
            console.print(f"this month ({month_key()[6:]}): ${b.backend.spent(month_key()) if b.backend else 0:.4f}"
                          f" spent or reserved; budget {monthly}")
            with db.read_session() as s:
                jobs = s.execute(select(Job.id, Job.options).order_by(Job.id.desc()).limit(200)).all()
                held = s.scalar(select(func.count()).select_from(PageRange).where(
                    PageRange.status == RangeStatus.held)) or 0
            for jid, options in jobs:
                limit = (options or {}).get("budget_usd")
                if limit is not None and (job is None or jid == job):
                    spent = b.backend.spent(job_key(jid)) if b.backend else 0.0
                    console.print(f"job {jid}: ${spent:.4f} of ${float(limit):.2f}")
            if held:
                console.print(f"{held} page range(s) held by a budget (`pagemill status DOC` says which)")
        finally:
            b.close()


def register(app: typer.Typer) -> None:
    app.command()(budget)
