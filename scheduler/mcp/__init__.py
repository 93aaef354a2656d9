"""`pagemill mcp`: a Model Context Protocol server over the archive, on the official `mcp` SDK.

- `tools.py`: the answers (search, documents, pages, chunks, fields; submit and extract when writes are allowed)
  as plain functions over the database, bounded in size and paginated.
- `server.py`: the MCP server (tools and resources) over stdio or streamable HTTP, the loopback/token rule.
"""
