"""`pagemill mcp` driven by the SDK's own client (ClientSession) over stdio and streamable HTTP, on SQLite and
PostgreSQL: tools and schemas, a search that finds a table cell and returns its page, a page with its table in
place, pagination, writes refused without --allow-writes, paths outside the allowed folders refused, a
non-loopback bind refused without a token."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

from mcp import ClientSession, StdioServerParameters, stdio_client
from typer.testing import CliRunner

from models.tables import Document, PageTable
from scheduler.cli import app
from tests.conftest import ROOT, stop_process
from tests.results_db import add_document, migrated_database

TABLE = ("<table><tr><th>Item</th><th>Amount</th></tr><tr><td>Zirconium widgets</td><td>4711.00</td></tr>"
         "</table>")


def fill(url: str) -> dict[str, int]:
    db = migrated_database(url)
    invoice = add_document(db, "invoice-2024.pdf", [
        "# Invoice 117\n\nBilled to Acme.", "## Items\n\n[tbl-1-0.html](tbl-1-0.html)\n\nTotal due below."])
    with db.write_session() as s:
        s.get(Document, invoice).collection = "billing"
        s.add(PageTable(document_id=invoice, page_index=1, table_id="tbl-1-0.html", format="html", content=TABLE,
                        text="Item Amount Zirconium widgets 4711.00"))
    for n in range(7):
        add_document(db, f"memo-{n}.pdf", [f"# Memo {n}\n\nThe quarterly memo number {n} about logistics."])
    db.dispose()
    return {"invoice": invoice}


def server_env(url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGEMILL_")}
    env.update({"PAGEMILL_DATA_DIR": str(data_dir), "PAGEMILL_DATABASE_URL": url,
                "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")})
    return env


def payload(result: Any) -> Any:
    assert not result.is_error, result.content
    if result.structured_content is not None:
        content = result.structured_content
        return content.get("result", content) if set(content) == {"result"} else content
    return json.loads(result.content[0].text)


async def exercise(session: ClientSession, ids: dict[str, int], allowed: Path, outside: Path,
                   writes: bool) -> None:
    await session.initialize()
    tools = {t.name: t for t in (await session.list_tools()).tools}
    read = {"search", "list_documents", "get_document", "get_page", "get_chunks", "get_fields"}
    assert read <= set(tools)
    assert ("submit" in tools) == writes and ("extract" in tools) == writes
    assert tools["search"].input_schema["required"] == ["query"]
    assert {"query", "limit", "collection", "cursor"} <= set(tools["search"].input_schema["properties"])

    # a search finds a table cell and gives its page (0-based), the page gives the table in place
    hits = payload(await session.call_tool("search", {"query": "zirconium", "limit": 5}))["hits"]
    assert [(h["document_id"], h["page"]) for h in hits] == [(ids["invoice"], 1)]
    assert hits[0]["uri"] == f"pagemill://documents/{ids['invoice']}/pages/1"
    in_billing = payload(await session.call_tool("search", {"query": "zirconium", "collection": "billing"}))
    assert len(in_billing["hits"]) == 1
    assert payload(await session.call_tool("search", {"query": "zirconium", "collection": "hr"}))["hits"] == []
    page = payload(await session.call_tool("get_page", {"document_id": ids["invoice"], "page": 1}))
    assert "<td>Zirconium widgets</td>" in page["markdown"] and "tbl-1-0.html" not in page["markdown"]
    assert page["markdown"].index("## Items") < page["markdown"].index("<table>")
    assert page["markdown"].index("</table>") < page["markdown"].index("Total due")

    # pagination: every memo once, in pages of three
    seen, cursor = [], None
    for _ in range(10):
        args = {"query": "memo", "limit": 3, **({"cursor": cursor} if cursor else {})}
        answer = payload(await session.call_tool("search", args))
        assert len(answer["hits"]) <= 3
        seen += [h["filename"] for h in answer["hits"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"memo-{n}.pdf" for n in range(7)]
    docs, cursor = [], None
    while True:
        answer = payload(await session.call_tool("list_documents", {"limit": 4, **({"cursor": cursor} if cursor else {})}))
        docs += [d["id"] for d in answer["documents"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert len(docs) == 8 and len(set(docs)) == 8

    document = payload(await session.call_tool("get_document", {"document_id": ids["invoice"]}))
    assert document["filename"] == "invoice-2024.pdf" and document["pages_stored"] == 2
    chunks = payload(await session.call_tool("get_chunks", {"document_id": ids["invoice"]}))
    assert chunks["chunks"][0]["heading_path"] == "Invoice 117"
    assert any("Zirconium" in c["text"] and c["pages"] == [1] for c in chunks["chunks"])
    missing = await session.call_tool("get_page", {"document_id": ids["invoice"], "page": 9})
    assert missing.is_error and "no stored page 9" in missing.content[0].text

    # resources
    templates = {t.uri_template for t in (await session.list_resource_templates()).resource_templates}
    assert "pagemill://documents/{document_id}/pages/{page}" in templates
    res = await session.read_resource(f"pagemill://documents/{ids['invoice']}/pages/1")
    assert "Zirconium widgets" in res.contents[0].text

    if not writes:
        refused = await session.call_tool("submit", {"path": str(allowed / "a.pdf")})
        assert refused.is_error
    else:
        refused = await session.call_tool("submit", {"path": str(outside)})
        assert refused.is_error and "not under a folder this server may read" in refused.content[0].text
        sneaky = await session.call_tool("submit", {"path": str(allowed / ".." / outside.name)})
        assert sneaky.is_error


async def over_stdio(env: dict[str, str], args: list[str], *run: Any) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "scheduler.cli", "mcp", *args], env=env,
                                   cwd=str(ROOT))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await exercise(session, *run)


@pytest.mark.parametrize("writes", [False, True], ids=["read-only", "allow-writes"])
def test_stdio(database_url: str, data_dir: Path, tmp_path: Path, writes: bool) -> None:
    ids = fill(database_url)
    allowed, outside = tmp_path / "inbox", tmp_path / "secret.pdf"
    allowed.mkdir()
    outside.write_bytes(b"%PDF-1.4")
    args = ["--allow-writes", "--allow-folder", str(allowed)] if writes else []
    asyncio.run(over_stdio(server_env(database_url, data_dir), args, ids, allowed, outside, writes))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def http_server(database_url: str, data_dir: Path) -> Iterator[tuple[str, dict[str, int]]]:
    ids = fill(database_url)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "mcp", "--transport", "http", "--port", str(port),
                             "--token", "s3cret"], env=server_env(database_url, data_dir), cwd=str(ROOT),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode() if proc.stderr else "server exited") from None
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}/mcp", ids
    stop_process(proc)  # type: ignore[arg-type]


def test_streamable_http_with_a_token(http_server: tuple[str, dict[str, int]], tmp_path: Path) -> None:
    import httpx
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    url, ids = http_server
    assert httpx.post(url, json={}).status_code == 401  # no token, no archive
    assert httpx.post(url, json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401

    async def run() -> None:
        client = create_mcp_http_client(headers={"Authorization": "Bearer s3cret"})
        async with client, streamable_http_client(url, http_client=client) as (read, write), \
                ClientSession(read, write) as session:
            await exercise(session, ids, tmp_path, tmp_path / "x.pdf", False)

    asyncio.run(run())


def test_a_bind_beyond_loopback_needs_a_token() -> None:
    result = CliRunner().invoke(app, ["mcp", "--transport", "http", "--host", "0.0.0.0"])
    assert result.exit_code != 0 and "token" in result.output
    from scheduler.mcp.server import check_bind

    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "a-token")
