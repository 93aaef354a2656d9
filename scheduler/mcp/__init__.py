"""`pagemill mcp`: a Model Context Protocol server over the archive, on the official `mcp` SDK.

- `tools.py`: the answers (search, documents, pages, chunks, fields; submit and extract when writes are allowed)
  as plain functions over the database, bounded in size and paginated.
- `page_image.py`: a page rendered from its original for `get_page(image=true)`, bounded in pixels and bytes.
- `download.py`: `submit` of an http(s) URL: safe targets, size and time limits, the type sniffed.
- `server.py`: the MCP server (tools and resources) over stdio or streamable HTTP, the loopback/token rule.
"""
