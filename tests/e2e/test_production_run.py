"""The same end to end on Redis + PostgreSQL: real `pagemill worker` processes, `submit --wait`."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from models import Database
from models.tables import Page, PageRange
from scheduler.launch.submit import submit
from scheduler.samples import make_image, make_scanned_pdf, page_text
from tests.conftest import cer, start_worker, stop_process


def test_submit_and_wait_through_redis_and_postgres(production_env: dict[str, str], tmp_path: Path) -> None:
    texts = [page_text(100 + i) for i in range(3)]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    make_scanned_pdf(inbox / "three.pdf", texts, dpi=150)
    make_image(inbox / "one.png", page_text(200), dpi=150)
    # two worker processes of one prefork child each, as `pagemill worker` is scaled in production
    workers = [start_worker(concurrency=1, log=tmp_path / f"w{i}.log") for i in range(2)]
    try:
        job = submit([inbox], pages_per_task=1, wait=True, timeout_s=240)
    finally:
        for w in workers:
            stop_process(w)
    assert job.ok, job.summary()
    db = Database(production_env["PAGEMILL_DATABASE_URL"])
    assert db.engine.dialect.name == "postgresql"
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Page)) == 4
        assert s.scalar(select(func.count()).select_from(PageRange).where(PageRange.status == "done")) == 4
        workers_used = set(s.scalars(select(PageRange.worker)))
    summary = {d.filename: d for d in job.summary()}
    doc_id = summary["three.pdf"].document_id
    with db.read_session() as s:
        pages = dict(s.execute(select(Page.page_index, Page.markdown).where(Page.document_id == doc_id)).all())
    for i, text in enumerate(texts):
        assert cer(text, pages[i]) < 0.05
    assert len(workers_used) >= 1


def test_run_starts_its_own_workers_with_a_redis_broker(production_env: dict[str, str], tmp_path: Path) -> None:
    """`pagemill run` with PAGEMILL_BROKER_URL set: no `pagemill worker` is running, run's own workers do it."""
    from typer.testing import CliRunner

    from scheduler.cli import app

    make_scanned_pdf(tmp_path / "two.pdf", [page_text(300), page_text(301)], dpi=150)
    result = CliRunner().invoke(app, ["run", str(tmp_path / "two.pdf"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    db = Database(production_env["PAGEMILL_DATABASE_URL"])
    with db.read_session() as s:
        pages = dict(s.execute(select(Page.page_index, Page.markdown)).all())
    db.dispose()
    assert sorted(pages) == [0, 1] and cer(page_text(300), pages[0]) < 0.05
