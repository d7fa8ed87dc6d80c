"""Drives the built custom_server example (the inventory server of docs/guide.md) with the
official MCP Python SDK: over stdio as a reader and as a writer, and over Streamable HTTP
with bearer tokens.

Usage: custom_server_e2e.py SERVER_BINARY DATABASE_URL HTTP_PORT

The database must hold `items(sku, name, quantity, price)` with the rows the Rust test
inserts. The Rust test then checks from its own connection what changed.
"""

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time

import httpx2
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

READER_TOKEN, WRITER_TOKEN = "reader-secret-1", "writer-secret-2"


def is_error(result) -> bool:
    return bool(getattr(result, "is_error", getattr(result, "isError", False)))


def structured(result) -> dict:
    return getattr(result, "structured_content", None) or getattr(result, "structuredContent", None) or {}


def text_of(result) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


def env(url: str, **extra: str) -> dict:
    return dict(os.environ, DATABASE_URL=url, RUST_LOG="warn", **extra)


async def names_of(session) -> tuple[list, list, list]:
    tools = sorted(t.name for t in (await session.list_tools()).tools)
    resources = sorted(str(r.uri) for r in (await session.list_resources()).resources)
    prompts = sorted(p.name for p in (await session.list_prompts()).prompts)
    return tools, resources, prompts


async def reader_checks(session) -> None:
    tools, resources, prompts = await names_of(session)
    assert tools == ["findItems", "listTables", "queryDatabase"], tools
    assert resources == ["inventory://summary"], resources
    assert prompts == ["reorderReport"], prompts
    found = await session.call_tool("findItems", {"name_contains": "widget", "max_price": 5})
    assert not is_error(found), text_of(found)
    assert [row[0] for row in structured(found)["rows"]] == ["W-1"], structured(found)
    # The caller's words are a value, not SQL.
    sneaky = await session.call_tool("findItems", {"name_contains": "' OR '1'='1"})
    assert structured(sneaky)["rowCount"] == 0, structured(sneaky)
    queried = await session.call_tool(
        "queryDatabase", {"sql": "SELECT sku FROM items WHERE quantity <= $1 ORDER BY sku", "params": [3]}
    )
    assert structured(queried)["rows"] == [["G-2"]], structured(queried)
    summary = await session.read_resource("inventory://summary")
    assert json.loads(summary.contents[0].text) == {"items": 3, "units": 17}, summary
    prompt = await session.get_prompt("reorderReport", {"threshold": "3"})
    assert "quantity <= $1" in prompt.messages[0].content.text, prompt
    try:
        hidden = await session.call_tool("restock", {"sku": "W-1", "quantity": 5})
    except Exception:
        pass
    else:
        assert is_error(hidden), "a reader must not restock"


def writer_checks(expected_quantity: int):
    async def checks(session) -> None:
        tools, _, _ = await names_of(session)
        assert tools == ["findItems", "listTables", "queryDatabase", "restock"], tools
        restocked = await session.call_tool("restock", {"sku": "G-2", "quantity": 10})
        assert not is_error(restocked), text_of(restocked)
        assert f"now has {expected_quantity}" in text_of(restocked), text_of(restocked)
        unknown = await session.call_tool("restock", {"sku": "nope", "quantity": 1})
        assert is_error(unknown), text_of(unknown)
        too_many = await session.call_tool("restock", {"sku": "G-2", "quantity": 99999})
        assert is_error(too_many), text_of(too_many)

    return checks


async def over_stdio(binary: str, url: str, user: str, checks) -> None:
    params = StdioServerParameters(command=binary, args=["--user", user, "--writers", "alice"], env=env(url))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            await checks(session)


async def over_http(endpoint: str, token: str, checks) -> None:
    headers = {"authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with streamable_http_client(endpoint, http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                await checks(session)


def hashed(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


async def wait_for(endpoint: str) -> None:
    async with httpx2.AsyncClient(timeout=10) as probe:
        for _ in range(100):
            try:
                answer = await probe.post(endpoint, content=b"{}")
            except httpx2.TransportError:
                time.sleep(0.1)
                continue
            assert answer.status_code == 401, answer.status_code  # no token: refused
            return
    raise SystemExit("the HTTP server did not start")


async def main() -> None:
    binary, url, port = sys.argv[1], sys.argv[2], sys.argv[3]
    tokens = f"bob={hashed(READER_TOKEN)},alice={hashed(WRITER_TOKEN)}"
    server = subprocess.Popen(
        [binary, "--transport", "http", "--bind", f"127.0.0.1:{port}", "--writers", "alice"],
        env=env(url, INVENTORY_TOKENS=tokens),
    )
    endpoint = f"http://127.0.0.1:{port}/mcp"
    try:
        await wait_for(endpoint)
        # Readers first (the data as the test made it), then the writers restock G-2 twice.
        await over_stdio(binary, url, "bob", reader_checks)
        await over_http(endpoint, READER_TOKEN, reader_checks)
        await over_stdio(binary, url, "alice", writer_checks(12))
        await over_http(endpoint, WRITER_TOKEN, writer_checks(22))
    finally:
        server.terminate()
        server.wait(10)
    print("python custom server e2e: 4 passed, 0 failed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
