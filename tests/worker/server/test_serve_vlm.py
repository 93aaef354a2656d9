"""`PAGEMILL_PROVIDER=vlm pagemill serve`: a Mistral OCR client reads pages from a self-hosted vision model.

The model is the loopback VLM fake (dots.ocr's JSON layout, validated with the `openai` SDK's request types);
the client is the official `mistralai` SDK and plain httpx against a real `pagemill serve` process."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mistralai.client import Mistral

from scheduler.samples import make_scanned_pdf, page_text
from tests.fakes.vlm_server import PARAGRAPH, Fault, VlmServer
from tests.worker.serve_harness import running_server

KEY = "serve-vlm-key"
VLM_KEY = "sk-vlm-test"


@pytest.fixture(scope="module")
def vlm() -> Iterator[VlmServer]:
    with VlmServer(profile="dots", api_key=VLM_KEY, model="rednote-hilab/dots.mocr") as server:
        yield server


def vlm_env(server: VlmServer, data_dir: Path) -> dict[str, str]:
    return {"PAGEMILL_PROVIDER": "vlm", "PAGEMILL_VLM_BASE_URL": server.url + "/v1",
            "PAGEMILL_VLM_MODEL": server.model, "PAGEMILL_VLM_API_KEY": VLM_KEY,
            "PAGEMILL_DATABASE_URL": f"sqlite:///{data_dir / 'serve.db'}"}


@pytest.fixture(scope="module")
def served(vlm: VlmServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("serve-vlm")
    with running_server(data, "--workers", "1", "--api-key", KEY, env=vlm_env(vlm, data)) as base:
        yield base


@pytest.fixture(scope="module")
def pdf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = make_scanned_pdf(tmp_path_factory.mktemp("pdf") / "scan.pdf", [page_text(i, 30) for i in range(3)],
                            dpi=100)
    return path.read_bytes()


def document(pdf: bytes) -> dict[str, str]:
    return {"type": "document_url",
            "document_url": "data:application/pdf;base64," + base64.b64encode(pdf).decode()}


def test_sdk_gets_the_models_pages_in_mistrals_shape(served: str, vlm: VlmServer, pdf: bytes) -> None:
    before = len(vlm.received)
    resp = Mistral(api_key=KEY, server_url=served).ocr.process(
        model="mistral-ocr-latest", document=document(pdf), pages=[0, 2], include_image_base64=True,
        table_format="html")
    sent = vlm.received[before:]
    assert [p.index for p in resp.pages] == [0, 2]
    assert len(sent) == 2 and all(r.status == 200 for r in sent)  # one chat request per page asked, no more
    assert resp.model == "rednote-hilab/dots.mocr"
    assert resp.usage_info.pages_processed == 2 and resp.usage_info.doc_size_bytes == len(pdf)
    for page in resp.pages:
        assert "# Annual report" in page.markdown and PARAGRAPH in page.markdown
        # the figure the model boxed is cut out of the page image and named as Mistral names them
        assert len(page.images) == 1 and page.images[0].image_base64
        assert page.images[0].image_base64.startswith("data:image/")
        assert f"![{page.images[0].id}]({page.images[0].id})" in page.markdown
        assert page.dimensions is not None and page.dimensions.width > 0
    ids = [p.images[0].id for p in resp.pages]
    assert len(set(ids)) == 2  # numbered across the document


def test_image_limit_zero_and_blocks_over_httpx(served: str, pdf: bytes) -> None:
    r = httpx.post(f"{served}/v1/ocr", headers={"Authorization": f"Bearer {KEY}"}, timeout=60, json={
        "model": "x", "document": document(pdf), "pages": [1], "image_limit": 0, "include_blocks": True})
    assert r.status_code == 200, r.text
    page = r.json()["pages"][0]
    assert page["images"] == [] and "![" not in page["markdown"]
    assert {"title", "text", "table"} <= {b["type"] for b in page["blocks"]}


def test_model_server_down_is_a_503_with_retry_after(vlm: VlmServer, served: str, pdf: bytes) -> None:
    vlm.inject(Fault(503, headers={"Retry-After": "7"}))  # the model server's answer to the one page asked
    r = httpx.post(f"{served}/v1/ocr", headers={"Authorization": f"Bearer {KEY}"}, timeout=120,
                   json={"model": "x", "document": document(pdf), "pages": [0]})
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["object"] == "error" and "OCR provider is unavailable" in body["message"]
    assert int(r.headers["Retry-After"]) >= 1
    # the next request is read again: nothing stuck in the server
    again = httpx.post(f"{served}/v1/ocr", headers={"Authorization": f"Bearer {KEY}"}, timeout=120,
                       json={"model": "x", "document": document(pdf), "pages": [0]})
    assert again.status_code == 200 and PARAGRAPH in again.json()["pages"][0]["markdown"]


def test_serve_without_a_vlm_server_says_what_to_set(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGEMILL_")}
    env.update({"PAGEMILL_PROVIDER": "vlm", "PAGEMILL_DATA_DIR": str(tmp_path)})
    done = subprocess.run([sys.executable, "-m", "scheduler.cli", "serve", "--port", "0"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "PAGEMILL_VLM_BASE_URL" in done.stderr + done.stdout
