"""`pagemill run` with PAGEMILL_PROVIDER=vlm against the loopback chat-completions fake: the real command in a
subprocess, a scanned sample document with a blank page, one answer that loops past the last attempt. Pages,
tables, figures, blocks, the fallback (first in `pagemill review`) and the usage ledger's tokens are checked in
the database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image
from sqlalchemy import select

from models.db import Database
from models.review import review_queue
from models.settings import DatabaseSettings
from models.tables import Image as ImageRow
from models.tables import Page, PageBlock, PageTable, Usage
from scheduler.samples import page_text, render_text_image
from tests.conftest import ROOT
from tests.fakes.vlm_server import PARAGRAPH, VlmServer

KEY = "sk-vlm-e2e-5c1f"


def _sample(path: Path) -> Path:
    frames = [render_text_image(page_text(i, 40), dpi=100) for i in range(3)]
    frames.insert(2, Image.new("L", frames[0].size, 252))  # a blank page, third
    frames[0].save(path, "PDF", resolution=100, save_all=True, append_images=frames[1:])
    return path


def test_pagemill_run_with_a_vlm(tmp_path: Path) -> None:
    doc = _sample(tmp_path / "report.pdf")
    with VlmServer(profile="dots", api_key=KEY, model="rednote-hilab/dots.mocr") as server:
        server.script("loop")  # one page loops on its only attempt: it falls back to the local engine
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PAGEMILL_PROVIDER": "vlm",
               "PAGEMILL_VLM_BASE_URL": server.url + "/v1", "PAGEMILL_VLM_MODEL": server.model,
               "PAGEMILL_VLM_API_KEY": KEY, "PAGEMILL_VLM_MAX_ATTEMPTS": "1", "PAGEMILL_VLM_MAX_INFLIGHT": "4",
               "PAGEMILL_VLM_PRICE_PER_MILLION_INPUT_TOKENS": "0.5",
               "PAGEMILL_VLM_PRICE_PER_MILLION_OUTPUT_TOKENS": "2"}
        done = subprocess.run([sys.executable, "-m", "scheduler.cli", "run", str(doc)], env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        assert KEY not in done.stdout + done.stderr
        assert len(server.received) == 3  # the blank page was never sent
    db = Database.from_settings(DatabaseSettings())
    with db.read_session() as s:
        pages = list(s.scalars(select(Page).order_by(Page.page_index)))
        tables = list(s.scalars(select(PageTable)))
        blocks = list(s.scalars(select(PageBlock)))
        images = list(s.scalars(select(ImageRow)))
        usage = list(s.scalars(select(Usage)))
    assert [p.page_index for p in pages] == [0, 1, 2, 3]
    sources = [p.source for p in pages]
    assert sources[2] == "vlm" and "blank page: not sent" in pages[2].markdown
    fell = [p for p in pages if p.source == "fallback:tesseract"]
    assert len(fell) == 1 and "repetition" in fell[0].markdown and "fell back" in fell[0].markdown
    read = [p for p in pages if p.source == "vlm" and p.page_index != 2]
    assert len(read) == 2 and all(PARAGRAPH in p.markdown for p in read)
    assert all(p.model == "rednote-hilab/dots.mocr" for p in read)
    assert len(tables) == 2 and all("<td>Paper</td>" in t.content for t in tables)  # type: ignore[attr-defined]
    assert len([i for i in images if i.page_index in {p.page_index for p in read}]) == 2
    assert {b.type for b in blocks if b.page_index == read[0].page_index} >= {"title", "text", "table", "image"}
    assert len(usage) >= 1 and sum(u.pages_processed for u in usage) == 3
    prompt = sum(u.prompt_tokens or 0 for u in usage)
    completion = sum(u.completion_tokens or 0 for u in usage)
    assert prompt > 0 and completion > 0
    assert abs(sum(u.cost_usd or 0 for u in usage) - (prompt * 0.5 + completion * 2) / 1e6) < 1e-9
    queue = review_queue(db)
    assert queue and queue[0].page_index == fell[0].page_index and queue[0].source == "fallback:tesseract"
