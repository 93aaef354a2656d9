"""The desktop client configuration in docs/mcp.md works as written: the `mcpServers` JSON block is read from the
page and the server started exactly with its command, args and env (only the data folder pointed at a test
database; the PostgreSQL variant adds the env the page names) through the SDK's stdio client, which, like a
desktop client, passes on only a few variables of its own environment (HOME, PATH, ...), from another folder
than the checkout. It lists the tools and runs a search."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from mcp import ClientSession, StdioServerParameters, stdio_client

from tests.conftest import ROOT
from tests.scheduler.mcp.test_mcp_server import fill, payload

DOC = ROOT / "docs" / "mcp.md"


def documented_config() -> tuple[dict[str, object], str]:
    """The `pagemill` entry of the page's mcpServers block, and the PostgreSQL env line the page adds."""
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(), re.DOTALL)
    configs = [json.loads(b) for b in blocks if "mcpServers" in b]
    assert configs, "docs/mcp.md has no mcpServers JSON block"
    postgres = re.search(r'add `("env": \{.*?\})`', DOC.read_text())
    assert postgres, "docs/mcp.md no longer says which env to add for PostgreSQL"
    return configs[0]["mcpServers"]["pagemill"], "{" + postgres.group(1) + "}"


async def list_and_search(params: StdioServerParameters) -> tuple[set[str], list[dict[str, object]]]:
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await asyncio.wait_for(session.initialize(), 60)
        tools = {t.name for t in (await session.list_tools()).tools}
        result = await asyncio.wait_for(session.call_tool("search", {"query": "zirconium"}), 60)
        return tools, payload(result)["hits"]


def test_the_documented_desktop_configuration_starts_the_server(database_url: str, data_dir: Path,
                                                                tmp_path: Path) -> None:
    entry, postgres_env = documented_config()
    command, args = str(entry["command"]), [str(a) for a in entry["args"]]  # type: ignore[union-attr]
    if shutil.which(command) is None:
        pytest.skip(f"the documented command {command!r} is not on PATH (pip install -e . puts it there)")
    assert "--data" in args, "the documented args no longer give the data folder"
    args[args.index("--data") + 1] = str(data_dir)  # the only change: a test database instead of the user's
    env = {str(k): str(v) for k, v in dict(entry.get("env") or {}).items()}  # type: ignore[call-overload]
    if not database_url.startswith("sqlite"):
        documented = json.loads(postgres_env)["env"]
        assert list(documented) == ["PAGEMILL_DATABASE_URL"]
        env["PAGEMILL_DATABASE_URL"] = database_url
    ids = fill(database_url)
    # this checkout's code, wherever the command was installed from (in CI the same checkout)
    env["PYTHONPATH"] = str(ROOT)
    params = StdioServerParameters(command=command, args=args, env=env, cwd=str(tmp_path))
    tools, hits = asyncio.run(list_and_search(params))
    assert {"search", "list_documents", "get_document", "get_page", "get_chunks", "get_fields"} <= tools
    assert "submit" not in tools  # read-only, as configured
    assert [(h["document_id"], h["filename"], h["page"]) for h in hits] == [(ids["invoice"], "invoice-2024.pdf", 1)]
