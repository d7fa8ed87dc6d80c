"""The official MCP Python SDK's `Client` through a load balancer in front of several
`postgres_server --transport http` replicas, signed in with its OAuth client
(`OAuthClientProvider`, headless, as in oauth_http_e2e.py): lists tools, then many reads
and writes, in the SDK's default mode (2026-07-28, stateless requests) or its legacy mode
(2025-11-25, one session).

Usage: load_balanced.py MCP_URL MODE CALLS FIRST_KEY

Each write inserts the key FIRST_KEY + i into `notes` unless it is there already; the
Rust test that launches it counts the rows afterwards.
"""

import os
import sys

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oauth_http_e2e import Browser, Memory, is_error, provider, text_of  # noqa: E402


async def main(mcp_url: str, mode: str, calls: str, first_key: str) -> None:
    auth = provider(mcp_url, Memory(), Browser())
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
        transport = streamable_http_client(mcp_url, http_client=http)
        async with Client(transport, mode=mode) as client:
            expected = "2026-07-28" if mode == "auto" else "2025-11-25"
            assert client.protocol_version == expected, client.protocol_version
            names = sorted(tool.name for tool in (await client.list_tools()).tools)
            assert "executeDatabase" in names, names
            for i in range(int(calls)):
                read = await client.call_tool("queryDatabase", {"sql": f"SELECT {i} AS n"})
                assert not is_error(read), text_of(read)
                key = int(first_key) + i
                written = await client.call_tool(
                    "executeDatabase",
                    {"sql": f"INSERT INTO notes (k, body) SELECT {key}, 'python {mode}' "
                            f"WHERE NOT EXISTS (SELECT 1 FROM notes WHERE k = {key})"},
                )
                assert not is_error(written), text_of(written)
    print(f"python load balanced ({mode}): {calls} reads and writes passed, 0 failed", flush=True)


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:5])
