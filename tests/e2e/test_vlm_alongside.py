"""The rest of pagemill with PAGEMILL_PROVIDER=vlm: structured extraction (`run --schema`, `pagemill extract`)
reads the model's pages; batch mode, Mistral's alone, is refused before anything is queued, in words. The real
commands in subprocesses against the loopback VLM fake and the chat fake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from models.db import Database
from models.settings import DatabaseSettings
from models.tables import Document, FieldsRow, Usage
from scheduler.samples import make_scanned_pdf, page_text
from tests.conftest import ROOT
from tests.fakes.chat_server import ChatServer
from tests.fakes.vlm_server import PARAGRAPH, VlmServer

KEY = "sk-vlm-along-31"
CHAT_KEY = "sk-chat-along-77"


def _env(server: VlmServer, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PAGEMILL_PROVIDER": "vlm",
            "PAGEMILL_VLM_BASE_URL": server.url + "/v1", "PAGEMILL_VLM_MODEL": server.model,
            "PAGEMILL_VLM_API_KEY": KEY, **extra}


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scheduler.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def test_batch_does_not_apply_and_nothing_is_queued(tmp_path: Path) -> None:
    doc = make_scanned_pdf(tmp_path / "scan.pdf", [page_text(1, 30)], dpi=100)
    with VlmServer(profile="olmocr", api_key=KEY) as server:
        for command in ("run", "submit"):
            done = _cli(_env(server), command, "--batch", str(doc))
            assert done.returncode != 0
            said = " ".join((done.stdout + done.stderr).split())
            assert "--batch does not apply with PAGEMILL_PROVIDER=vlm" in said and "Traceback" not in said
        est = _cli(_env(server), "estimate", "--batch", str(doc))
        assert est.returncode == 0 and "--batch does not apply" in " ".join(est.stdout.split())
        assert not server.received
    with Database.from_settings(DatabaseSettings()).read_session() as s:
        assert (s.scalar(select(func.count()).select_from(Document)) or 0) == 0


def test_schema_fields_come_from_the_models_pages(tmp_path: Path) -> None:
    schema = tmp_path / "minutes.schema.json"
    schema.write_text(json.dumps({"title": "minutes", "type": "object", "additionalProperties": False,
                                  "required": ["meeting_date"],
                                  "properties": {"meeting_date": {"type": ["string", "null"]}}}))
    doc = make_scanned_pdf(tmp_path / "minutes.pdf", [page_text(i, 30) for i in range(2)], dpi=100)
    with VlmServer(profile="dots", api_key=KEY, model="rednote-hilab/dots.mocr") as server, \
            ChatServer(api_key=CHAT_KEY) as chat:
        env = _env(server, PAGEMILL_EXTRACT_BASE_URL=chat.url, PAGEMILL_EXTRACT_API_KEY=CHAT_KEY,
                   PAGEMILL_EXTRACT_RETRY_BASE_S="0.2")
        done = _cli(env, "run", "--schema", str(schema), str(doc))
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert len(server.received) == 2
        # the schema was not sent with the page images (only Mistral's OCR annotates): the chat model read the
        # markdown the vision model wrote
        assert all("response_format" not in (r.body or {}) for r in server.received)
        assert len(chat.received) == 1 and PARAGRAPH in chat.received[0].text
        again = _cli(env, "extract", "--schema", str(schema), "--all", "--force")
        assert again.returncode == 0, again.stderr
        assert "1 extracted" in again.stdout
        assert len(server.received) == 2 and len(chat.received) == 2  # no page OCR'd again
    with Database.from_settings(DatabaseSettings()).read_session() as s:
        row = s.scalars(select(FieldsRow)).one()
        kinds = sorted(u.kind for u in s.scalars(select(Usage)))
    assert (row.status, row.source, row.schema_name) == ("done", "chat", "minutes")
    assert "ocr" in kinds and "extract" in kinds
