"""Cost with PAGEMILL_PROVIDER=vlm: `pagemill estimate` gives a token range (priced only when token prices are
set), the budget reserves a page at its token estimate instead of Mistral's page price, and the ledger settles
to the tokens the model server reported. The real commands in subprocesses, against the loopback VLM fake."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from models.db import Database
from models.settings import DatabaseSettings
from models.tables import PageRange, Usage
from scheduler.samples import make_scanned_pdf, page_text
from tests.conftest import ROOT
from tests.fakes.vlm_server import VlmServer
from worker.providers.vlm.cost import reserve_per_page_usd
from worker.providers.vlm.settings import VlmSettings

KEY = "sk-vlm-cost-77"
IN_PRICE, OUT_PRICE = 0.5, 2.0


def _env(server: VlmServer, priced: bool = True, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PAGEMILL_PROVIDER": "vlm",
           "PAGEMILL_VLM_BASE_URL": server.url + "/v1", "PAGEMILL_VLM_MODEL": server.model,
           "PAGEMILL_VLM_API_KEY": KEY, "PAGEMILL_TEXT_LAYER": "never", **extra}
    for k in ("PAGEMILL_VLM_PRICE_PER_MILLION_INPUT_TOKENS", "PAGEMILL_VLM_PRICE_PER_MILLION_OUTPUT_TOKENS"):
        env.pop(k, None)
    if priced:
        env.update({"PAGEMILL_VLM_PRICE_PER_MILLION_INPUT_TOKENS": str(IN_PRICE),
                    "PAGEMILL_VLM_PRICE_PER_MILLION_OUTPUT_TOKENS": str(OUT_PRICE)})
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scheduler.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def _number(pattern: str, text: str) -> float:
    m = re.search(pattern, re.sub(r"\s+", " ", text))  # rich wraps long lines
    assert m, f"{pattern!r} not in {text!r}"
    return float(m.group(1).replace(",", ""))


def test_estimate_gives_a_token_range_close_to_what_the_ledger_then_records(tmp_path: Path) -> None:
    doc = make_scanned_pdf(tmp_path / "scan.pdf", [page_text(i, 40) for i in range(3)], dpi=100)
    with VlmServer(profile="dots", api_key=KEY, model="rednote-hilab/dots.mocr") as server:
        unpriced = _cli(_env(server, priced=False), "estimate", str(doc))
        assert unpriced.returncode == 0, unpriced.stderr
        assert "not priced" in unpriced.stdout and "PAGEMILL_VLM_PRICE_PER_MILLION_INPUT_TOKENS" in unpriced.stdout
        est = _cli(_env(server), "estimate", str(doc))
        assert est.returncode == 0, est.stderr
        assert not server.received  # an estimate sends nothing
        tokens_in = _number(r"about ([\d,]+) input tokens", est.stdout)
        out_low = _number(r"and ([\d,]+)-[\d,]+ output tokens", est.stdout)
        out_high = _number(r"and [\d,]+-([\d,]+) output tokens", est.stdout)
        low = _number(r"cost \$([\d.]+) -", est.stdout)
        high = _number(r"cost \$[\d.]+ - \$([\d.]+)", est.stdout)
        assert out_low < out_high and low < high
        assert high == round((tokens_in * IN_PRICE + out_high * OUT_PRICE) / 1e6, 4)
        done = _cli(_env(server), "run", str(doc))
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert len(server.received) == 3
    with Database.from_settings(DatabaseSettings()).read_session() as s:
        usage = list(s.scalars(select(Usage)))
    billed_in = sum(u.prompt_tokens or 0 for u in usage)
    billed_out = sum(u.completion_tokens or 0 for u in usage)
    # the fake bills the image's 28x28 patches; the estimate adds the prompt and template on top of the same
    assert billed_in <= tokens_in <= billed_in * 1.15, (billed_in, tokens_in)
    assert abs(sum(u.cost_usd or 0 for u in usage) - (billed_in * IN_PRICE + billed_out * OUT_PRICE) / 1e6) < 1e-12
    assert sum(u.cost_usd or 0 for u in usage) <= high


def test_budget_reserves_tokens_not_mistrals_page_price_and_settles_to_the_ledger(tmp_path: Path) -> None:
    four = make_scanned_pdf(tmp_path / "four.pdf", [page_text(i, 30) for i in range(4)], dpi=100)
    other = make_scanned_pdf(tmp_path / "other.pdf", [page_text(i + 10, 30) for i in range(2)], dpi=100)
    with VlmServer(profile="olmocr", api_key=KEY, model="allenai/olmOCR-2-7B-1025-FP8") as server:
        env = _env(server, PAGEMILL_PRICE_PER_1000_PAGES="1000")  # $1 a page: at Mistral's price all would be held
        per_page = reserve_per_page_usd(VlmSettings(model=server.model, price_per_million_input_tokens=IN_PRICE,
                                                    price_per_million_output_tokens=OUT_PRICE))
        budget = round(per_page * 2.5, 6)
        # each range reserves `per_page`, then is settled to its real tokens: four ranges in a row fit a budget
        # that holds only two reservations, because each settles below what it reserved
        assert 4 * per_page > budget
        done = _cli(env, "run", str(four), "--pages-per-task", "1", "--budget", str(budget))
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert len(server.received) == 4
        # a budget below one page's token reservation holds the range unsent, with the reason
        short = _cli(env, "run", str(other), "--pages-per-task", "2", "--budget", str(round(per_page * 0.5, 6)))
        assert len(server.received) == 4, short.stdout[-2000:] + short.stderr[-2000:]
    db = Database.from_settings(DatabaseSettings())
    with db.read_session() as s:
        ranges = list(s.scalars(select(PageRange).order_by(PageRange.id)))
        usage = list(s.scalars(select(Usage)))
    assert [r.status for r in ranges] == ["done"] * 4 + ["held"]
    assert "--budget" in (ranges[-1].error or "")
    billed_in = sum(u.prompt_tokens or 0 for u in usage)
    billed_out = sum(u.completion_tokens or 0 for u in usage)
    cost = sum(u.cost_usd or 0 for u in usage)
    assert sum(u.pages_processed for u in usage) == 4
    assert abs(cost - (billed_in * IN_PRICE + billed_out * OUT_PRICE) / 1e6) < 1e-12 and cost <= budget
