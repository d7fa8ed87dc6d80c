"""The official MCP Python SDK's `Client` against the built postgres_server, in its
default mode (2026-07-28, stateless requests) or its legacy mode, over stdio or HTTP.

Usage:
    postgres_modern_e2e.py stdio SERVER_BINARY DATABASE_URL MODE
    postgres_modern_e2e.py http URL - MODE

Lists tools, lists tables, reads rows, reads the table resource, then starts a long
`queryDatabase` and gives up on it after a second (the SDK cancels: over HTTP it closes
the response stream, over stdio it sends notifications/cancelled). It prints
"cancelled", then waits for a line on standard input — the Rust test that launched it
checks meanwhile, from its own connection, that PostgreSQL stopped the statement — and
finally checks that the server still answers.
"""

import os
import sys

import anyio
from mcp import Client, StdioServerParameters

LONG_SQL = "SELECT count(*) AS sluice_cancel_probe FROM generate_series(1, 100000000000) AS g"


def structured(result) -> dict:
    return getattr(result, "structured_content", None) or {}


async def main(transport: str, target: str, database_url: str, mode: str) -> None:
    if transport == "stdio":
        env = dict(os.environ, DATABASE_URL=database_url, SLUICE_USER="tester",
                   SLUICE_STATEMENT_TIMEOUT="300", RUST_LOG="warn")
        server = StdioServerParameters(command=target, args=[], env=env)
    else:
        server = target
    async with Client(server, mode=mode) as client:
        expected = "2026-07-28" if mode == "auto" else "2025-11-25"
        assert client.protocol_version == expected, client.protocol_version
        names = sorted(tool.name for tool in (await client.list_tools()).tools)
        assert "queryDatabase" in names and "listTables" in names, names
        listed = await client.call_tool("listTables", {})
        assert "public.notes" in listed.content[0].text, listed
        rows = await client.call_tool("queryDatabase", {"sql": "SELECT id, body FROM notes ORDER BY id"})
        assert structured(rows)["rowCount"] == 2, rows
        resource = await client.read_resource("postgres://table/public/notes")
        assert "body" in resource.contents[0].text, resource

        with anyio.move_on_after(1.5):
            await client.call_tool("queryDatabase", {"sql": LONG_SQL})
            raise SystemExit("the long statement finished: it should have run for minutes")
        print("cancelled", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)

        again = await client.call_tool("queryDatabase", {"sql": "SELECT 6 * 7 AS answer"})
        assert structured(again)["rows"] == [[42]], again
    print(f"python postgres modern e2e ({transport}, {mode}): 6 passed, 0 failed", flush=True)


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:5])
