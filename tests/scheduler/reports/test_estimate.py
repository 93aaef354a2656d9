"""`pagemill estimate`: the pages a run would bill, after dedup and text-layer skipping, and their price; nothing
is sent to the provider."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from scheduler.cli import app
from scheduler.launch.submit import run
from scheduler.reports.estimate import estimate
from scheduler.samples import make_born_digital_pdf, make_image, make_scanned_pdf, page_text
from tests.fakes.mistral_server import MistralServer

KEY = "sk-test-estimate-1234"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> MistralServer:
    with MistralServer(api_key=KEY) as srv:
        for k, v in {"PAGEMILL_PROVIDER": "mistral", "PAGEMILL_OCR_BASE_URL": srv.url, "MISTRAL_API_KEY": KEY,
                     "PAGEMILL_PRICE_PER_1000_PAGES": "4", "PAGEMILL_EMBEDDED_WORKERS": "2"}.items():
            monkeypatch.setenv(k, v)
        yield srv


def _inputs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    make_born_digital_pdf(folder / "digital.pdf", [page_text(i) for i in range(3)])
    make_scanned_pdf(folder / "scan.pdf", [page_text(10 + i, words=20) for i in range(2)], dpi=100)
    make_image(folder / "photo.png", "A receipt", dpi=100)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\nnot really")
    return folder


def test_text_layer_pages_are_not_billed_and_nothing_is_sent(tmp_path: Path, server: MistralServer,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _inputs(tmp_path / "in")
    monkeypatch.setenv("PAGEMILL_TEXT_LAYER", "auto")
    result = estimate([folder])
    files = {Path(f.path).name: f for f in result.files}
    assert (files["digital.pdf"].pages, files["digital.pdf"].text_layer, files["digital.pdf"].billed) == (3, 3, 0)
    assert (files["scan.pdf"].billed, files["photo.png"].billed) == (2, 1)
    assert files["broken.pdf"].problem and files["broken.pdf"].billed == 0
    assert result.billed == 3
    assert result.cost(4.0) == pytest.approx(0.012)
    assert result.expected_usd == pytest.approx(0.012)  # synchronous by default
    assert server.received == []


def test_never_mode_bills_every_selected_page_and_batch_is_half_price(tmp_path: Path, server: MistralServer) -> None:
    folder = _inputs(tmp_path / "in")
    result = estimate([folder], batch=True, pages="0-1")  # mistral's default text-layer mode is never
    assert result.billed == 2 + 2 + 1
    assert result.batch_price_per_1000 == 2.0
    assert result.expected_usd == pytest.approx(5 * 2.0 / 1000)
    assert server.received == []


def test_pages_already_done_are_not_billed_again(tmp_path: Path, server: MistralServer) -> None:
    pdf = make_born_digital_pdf(tmp_path / "report.pdf", [page_text(i) for i in range(4)])
    job = run([pdf], pages="0-1")
    assert job.ok
    sent = len(server.received)
    result = estimate([pdf])
    assert (result.files[0].pages, result.files[0].already_done, result.billed) == (4, 2, 2)
    assert estimate([pdf], force=True).billed == 4
    assert len(server.received) == sent  # the estimate sent nothing


def test_cli_prints_the_three_rates(tmp_path: Path, server: MistralServer) -> None:
    folder = _inputs(tmp_path / "in")
    out = CliRunner().invoke(app, ["estimate", str(folder), "--batch", "--text-layer", "auto"])
    assert out.exit_code == 0, out.output
    assert "synchronous  3 pages x $4/1000 = $0.0120" in out.output
    assert "batch        3 pages x $2/1000 = $0.0060  <- this run" in out.output
    assert "annotated    3 pages x $5/1000 = $0.0150" in out.output
    assert "nothing was sent" in out.output
    assert server.received == []
