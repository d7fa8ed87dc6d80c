"""Drives the built postgres_server example over stdio with the official MCP Python SDK.

Usage: postgres_server_e2e.py SERVER_BINARY DATABASE_URL

The database must hold the table `notes(id serial primary key, body text)` with three
rows. As a reader and as a writer, this checks what each sees and may do; the Rust test
that launches it then confirms with its own connection what changed in the database.
"""

import asyncio
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def server(binary: str, url: str, user: str) -> StdioServerParameters:
    env = dict(os.environ, DATABASE_URL=url, SLUICE_USER=user, SLUICE_WRITERS="alice", RUST_LOG="warn")
    return StdioServerParameters(command=binary, args=[], env=env)


def is_error(result) -> bool:
    # The SDK's 2.x models use snake_case; 1.x used the wire names.
    return bool(getattr(result, "is_error", getattr(result, "isError", False)))


def structured(result) -> dict:
    return getattr(result, "structured_content", None) or getattr(result, "structuredContent", None) or {}


def text_of(result) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


async def as_reader(binary: str, url: str) -> None:
    async with stdio_client(server(binary, url, "bob")) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            names = sorted(tool.name for tool in (await session.list_tools()).tools)
            assert names == ["describeTable", "explainQuery", "listTables", "queryDatabase"], names

            listed = await session.call_tool("listTables", {})
            assert "public.notes (table" in text_of(listed), text_of(listed)

            rows = await session.call_tool("queryDatabase", {"sql": "SELECT id, body FROM notes ORDER BY id"})
            assert not is_error(rows), text_of(rows)
            assert structured(rows)["rowCount"] == 3, structured(rows)
            assert structured(rows)["rows"][0] == [1, "first"], structured(rows)

            described = await session.call_tool("describeTable", {"schema": "public", "table": "notes"})
            assert not is_error(described), text_of(described)
            assert structured(described)["primaryKey"]["columns"] == ["id"], structured(described)
            assert "[data " in text_of(described), text_of(described)

            plan = await session.call_tool("explainQuery", {"sql": "SELECT body FROM notes WHERE id = $1", "params": [2], "analyze": True})
            assert not is_error(plan), text_of(plan)
            assert structured(plan)["summary"]["actualRows"] == 1, structured(plan)
            assert text_of(plan).startswith("Total cost"), text_of(plan)
            not_a_read = await session.call_tool("explainQuery", {"sql": "DELETE FROM notes", "analyze": True})
            assert is_error(not_a_read), text_of(not_a_read)

            bound = await session.call_tool("queryDatabase", {"sql": "SELECT body FROM notes WHERE id = $1", "params": [3]})
            assert structured(bound)["rows"] == [["third"]], structured(bound)

            refused = await session.call_tool("queryDatabase", {"sql": "DELETE FROM notes"})
            assert is_error(refused) and text_of(refused).startswith("refused:"), text_of(refused)

            sneaky = await session.call_tool("queryDatabase", {"sql": "WITH d AS (DELETE FROM notes RETURNING *) SELECT * FROM d"})
            assert is_error(sneaky), text_of(sneaky)

            try:
                hidden = await session.call_tool("executeDatabase", {"sql": "DELETE FROM notes"})
            except Exception:  # the SDK raises for a JSON-RPC error
                pass
            else:
                assert is_error(hidden), "a reader must not be able to call executeDatabase"


async def as_writer(binary: str, url: str) -> None:
    async with stdio_client(server(binary, url, "alice")) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            names = sorted(tool.name for tool in (await session.list_tools()).tools)
            assert names == ["describeTable", "executeDatabase", "explainQuery", "listTables", "queryDatabase"], names
            inserted = await session.call_tool("executeDatabase", {"sql": "INSERT INTO notes (body) VALUES ('from python') RETURNING id"})
            assert not is_error(inserted), text_of(inserted)
            assert structured(inserted)["rows"] == [[4]], structured(inserted)
            refused = await session.call_tool("executeDatabase", {"sql": "DROP TABLE notes"})
            assert is_error(refused) and "not allowed" in text_of(refused), text_of(refused)


async def main() -> None:
    binary, url = sys.argv[1], sys.argv[2]
    await as_reader(binary, url)
    await as_writer(binary, url)
    print("python e2e: 2 passed, 0 failed")


if __name__ == "__main__":
    asyncio.run(main())
